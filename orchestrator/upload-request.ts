// The local checks of `--file` / `ota-verify upload`, before any API call (exit 2 on failure): a
// readable regular file of 1 byte to 1,000 MB, a valid version, module and firmware name, and for a
// delta package a source version.
import { basename, extname } from 'node:path';
import { OtaError, quote } from '../shared/errors.js';
import { checkUserFile } from '../shared/user-file.js';
import { DEFAULT_MODULE, LIMITS, MODULE_NAME_RULE, PRODUCT_KEY_RULE, VERSION_RULE } from '../shared/platform-rules.js';

/** What the user gave: the flags of `verify --file` and of `upload`. */
export interface UploadArgs {
  file: string;
  version?: string;
  module?: string;
  signMethod?: string;
  srcVersion?: string;
  firmwareName?: string;
  desc?: string;
  udi?: string;
}

export interface UploadRequest {
  file: string;
  fileName: string;
  sizeBytes: number;
  /** The object's suffix for GenerateOTAUploadURL (`bin` for fw.bin), when the name has a plain one. */
  fileSuffix?: string;
  productKey: string;
  version: string;
  moduleName: string;
  signMethod: 'MD5' | 'SHA256';
  srcVersion?: string;
  firmwareName: string;
  desc?: string;
  udi?: string;
  iotInstanceId?: string;
}

/** CreateOTAFirmware: FirmwareDesc at most 100 characters, Udi at most 4096. */
const DESC_MAX_CHARS = 100;
const UDI_MAX_CHARS = 4096;

function usage(message: string, expected: string): OtaError {
  return new OtaError('USAGE', message, { expected });
}

export async function checkUploadRequest(a: UploadArgs & { productKey?: string; iotInstanceId?: string }): Promise<UploadRequest> {
  if (!a.productKey) throw usage('no product key', '--product-key PK (or --lab lab.json)');
  if (!PRODUCT_KEY_RULE.pattern.test(a.productKey)) throw usage(`product key ${quote(a.productKey)} is not valid`, PRODUCT_KEY_RULE.describe);
  if (!a.version) throw usage('no version for the firmware file', '--version V, the version the benches report after installing it');
  if (!VERSION_RULE.pattern.test(a.version)) throw usage(`version ${quote(a.version)} is not valid`, VERSION_RULE.describe);
  const moduleName = a.module ?? DEFAULT_MODULE;
  if (!MODULE_NAME_RULE.pattern.test(moduleName)) throw usage(`module ${quote(moduleName)} is not valid`, MODULE_NAME_RULE.describe);
  const method = (a.signMethod ?? 'SHA256').toUpperCase();
  if (method !== 'MD5' && method !== 'SHA256') throw usage(`sign method ${quote(a.signMethod)} is not valid`, 'MD5 or SHA256');
  if (a.srcVersion !== undefined) {
    if (!VERSION_RULE.pattern.test(a.srcVersion)) throw usage(`source version ${quote(a.srcVersion)} is not valid`, VERSION_RULE.describe);
    if (a.srcVersion === a.version) throw usage(`--src-version and --version are both ${a.version}`, 'a delta package from one version to another');
  }
  if (a.desc !== undefined && a.desc.length > DESC_MAX_CHARS) throw usage(`--desc has ${a.desc.length} characters`, `at most ${DESC_MAX_CHARS}`);
  if (a.udi !== undefined && (a.udi.length < 1 || a.udi.length > UDI_MAX_CHARS)) throw usage(`--udi has ${a.udi.length} characters`, `1 to ${UDI_MAX_CHARS}`);
  const fileName = basename(a.file);
  const firmwareName = a.firmwareName ?? defaultFirmwareName(fileName, a.version);
  if (firmwareName.length < 1 || firmwareName.length > LIMITS.firmwareNameMaxChars) {
    throw usage(`firmware name ${quote(firmwareName)} has ${firmwareName.length} characters`, `1 to ${LIMITS.firmwareNameMaxChars} characters (--firmware-name)`);
  }
  // GenerateOTAUploadURL's policy: content-length-range 0 to 1,000 MB; CreateOTAFirmware: size at least 1.
  const size = await checkUserFile(a.file, { what: 'firmware file', code: 'USAGE', expected: 'a readable firmware file of 1 byte to 1,000 MB', maxBytes: Number.MAX_SAFE_INTEGER });
  if (size > LIMITS.firmwareSizeMaxBytes) throw usage(`${a.file} is ${mib(size)}; the platform takes firmware files up to 1,000 MB (${LIMITS.firmwareSizeMaxBytes} bytes)`, 'a firmware file of at most 1,000 MB');
  const suffix = extname(fileName).slice(1);
  return {
    file: a.file, fileName, sizeBytes: size, ...(/^[A-Za-z0-9]{1,10}$/.test(suffix) ? { fileSuffix: suffix } : {}),
    productKey: a.productKey, version: a.version, moduleName, signMethod: method, firmwareName,
    ...(a.srcVersion !== undefined ? { srcVersion: a.srcVersion } : {}), ...(a.desc !== undefined ? { desc: a.desc } : {}),
    ...(a.udi !== undefined ? { udi: a.udi } : {}), ...(a.iotInstanceId ? { iotInstanceId: a.iotInstanceId } : {}),
  };
}

/** `fw.bin` + `2.1.0` → `fw-2.1.0`: the file's stem (cut so the version fits in 40 characters), the
 *  version, and nothing a firmware name may not hold. */
export function defaultFirmwareName(fileName: string, version: string): string {
  const stem = basename(fileName, extname(fileName)).replace(/[^A-Za-z0-9_.()-]+/g, '-').replace(/^[-_.]+/, '') || 'firmware';
  const room = LIMITS.firmwareNameMaxChars - version.length - 1;
  return room >= 1 ? `${stem.slice(0, room)}-${version}` : version.slice(0, LIMITS.firmwareNameMaxChars);
}

export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
