// Builds the upgrade notice's `data` the way the platform sends it, in any of the spellings the
// platform's sources disagree on, so the agent can be tested against each (docs/platform.md, § Upgrade notice).
import type { Firmware } from './model.js';

export interface NoticeStyle {
  /** How signMethod is spelled: the platform sends `Md5` and `SHA256`. */
  md5Spelling: 'Md5' | 'MD5' | 'md5';
  sha256Spelling: 'SHA256' | 'Sha256' | 'sha256';
  /** The notice's `id`: a number in new docs, a string in old ones. */
  idType: 'number' | 'string';
  /** `omit-default` leaves `module` out for the default module, as the platform does. */
  module: 'omit-default' | 'always';
  /** `always` sends even a single-file firmware as `files[]` with no top-level url. */
  files: 'auto' | 'always';
}

export const DEFAULT_NOTICE_STYLE: Readonly<NoticeStyle> = Object.freeze({
  md5Spelling: 'Md5',
  sha256Spelling: 'SHA256',
  idType: 'number',
  module: 'omit-default',
  files: 'auto',
});

/** Signs a download URL for one file of a firmware; the lab's own objects get fresh expiring URLs. */
export type UrlSigner = (firmware: Firmware, fileUrl: string) => string;

export function buildNoticeData(firmware: Firmware, style: NoticeStyle, signUrl: UrlSigner, extData: Record<string, unknown>): Record<string, unknown> {
  const signMethod = firmware.signMethod === 'MD5' ? style.md5Spelling : style.sha256Spelling;
  const data: Record<string, unknown> = {
    size: firmware.firmwareSize,
    version: firmware.destVersion,
    signMethod,
    sign: firmware.firmwareSign,
  };
  if (firmware.signMethod === 'MD5') data.md5 = firmware.firmwareSign;
  if (firmware.type === 1) data.isDiff = 1;
  if (style.module === 'always' || firmware.moduleName !== 'default') data.module = firmware.moduleName;
  const multi = firmware.multiFiles.length > 0;
  if (multi || style.files === 'always') {
    const files = multi
      ? firmware.multiFiles
      : [{ name: firmware.firmwareName, size: firmware.firmwareSize, url: firmware.firmwareUrl, signValue: firmware.firmwareSign, fileMd5: firmware.signMethod === 'MD5' ? firmware.firmwareSign : undefined }];
    data.files = files.map((f) => ({
      fileName: f.name,
      fileUrl: signUrl(firmware, f.url),
      fileSize: f.size,
      fileSign: f.signValue,
      ...(f.fileMd5 ? { fileMd5: f.fileMd5 } : {}),
    }));
  } else {
    data.url = signUrl(firmware, firmware.firmwareUrl);
  }
  const ext: Record<string, unknown> = { ...extData };
  if (firmware.udi) ext._package_udi = firmware.udi;
  if (Object.keys(ext).length > 0) data.extData = ext;
  return data;
}

export function noticeId(style: NoticeStyle, n: number): number | string {
  return style.idType === 'number' ? n : String(n);
}
