// CreateOTAFirmware, QueryOTAFirmware, ListOTAFirmware.
import { utc, type Firmware, type FirmwareFile } from '../model.js';
import { apiError, invalidParameter, missingParameter } from '../api-error.js';
import { DEFAULT_MODULE, LIMITS, MODULE_NAME_RULE, PRODUCT_KEY_RULE, VERSION_RULE } from '../../shared/platform-rules.js';
import { findFirmware, page, productName, requireProduct, type ActionContext, type ActionHandler } from './context.js';

const HEX32 = /^[0-9a-fA-F]{32}$/;
const HEX64 = /^[0-9a-fA-F]{64}$/;

export const createOtaFirmware: ActionHandler = (ctx) => {
  const p = ctx.params;
  const productKey = p.string('ProductKey', PRODUCT_KEY_RULE);
  requireProduct(ctx, productKey);
  const firmwareName = p.string('FirmwareName', { maxLen: LIMITS.firmwareNameMaxChars, describe: `1–${LIMITS.firmwareNameMaxChars} characters` });
  const destVersion = p.string('DestVersion', VERSION_RULE);
  const signMethodRaw = p.optString('SignMethod') ?? 'MD5';
  const signMethod = signMethodRaw.toUpperCase();
  if (signMethod !== 'MD5' && signMethod !== 'SHA256') throw invalidParameter('SignMethod', 'MD5 or SHA256', signMethodRaw);
  const digest = signMethod === 'MD5' ? HEX32 : HEX64;
  const digestRule = { pattern: digest, describe: signMethod === 'MD5' ? '32 hex characters (MD5)' : '64 hex characters (SHA256)' };
  const type = (p.optInt('Type', 0, 1) ?? 0) as 0 | 1;
  const srcVersion = p.optString('SrcVersion', VERSION_RULE);
  if (type === 1 && !srcVersion) throw missingParameter('SrcVersion');
  const moduleName = p.optString('ModuleName', MODULE_NAME_RULE) ?? DEFAULT_MODULE;
  const multiFiles: FirmwareFile[] = p.groups('MultiFiles', LIMITS.multiFilesMax).map((g, i) => {
    const at = (f: string) => `MultiFiles.${i + 1}.${f}`;
    if (!g.Name) throw missingParameter(at('Name'));
    if (!g.Url) throw missingParameter(at('Url'));
    if (!g.Size || !/^\d{1,12}$/.test(g.Size) || Number(g.Size) < 1) throw invalidParameter(at('Size'), 'a positive whole number of bytes', g.Size);
    if (!g.SignValue || !digest.test(g.SignValue)) throw invalidParameter(at('SignValue'), digestRule.describe, g.SignValue);
    if (g.FileMd5 && !HEX32.test(g.FileMd5)) throw invalidParameter(at('FileMd5'), '32 hex characters', g.FileMd5);
    if (/[/\\]/.test(g.Name)) throw invalidParameter(at('Name'), 'a file name without a path', g.Name);
    return { name: g.Name, size: Number(g.Size), url: g.Url, signValue: g.SignValue.toLowerCase(), ...(g.FileMd5 ? { fileMd5: g.FileMd5.toLowerCase() } : {}) };
  });
  const single = multiFiles.length === 0;
  const firmwareUrl = single ? p.string('FirmwareUrl', { pattern: /^https?:\/\/\S+$/, maxLen: 2048, describe: 'an http(s) URL' }) : p.optString('FirmwareUrl') ?? '';
  const firmwareSign = single ? p.string('FirmwareSign', digestRule).toLowerCase() : multiFiles[0]?.signValue ?? '';
  const firmwareSize = single ? p.int('FirmwareSize', 1, 2 ** 40) : multiFiles.reduce((n, f) => n + f.size, 0);
  if (ctx.store.state.firmware.some((f) => f.productKey === productKey && f.firmwareName === firmwareName)) {
    throw apiError('iot.ota.FirmwareNameExisted', `A firmware named ${JSON.stringify(firmwareName)} already exists in product ${productKey}.`);
  }
  const udi = p.optString('Udi', { maxLen: 4096 });
  const firmwareDesc = p.optString('FirmwareDesc', { maxLen: 100 });
  const now = utc(ctx.clock.now());
  const fw: Firmware = {
    firmwareId: ctx.store.newId('fw'), firmwareName, productKey, moduleName, destVersion, ...(srcVersion ? { srcVersion } : {}), type,
    signMethod, firmwareSign, firmwareSize, firmwareUrl, multiFiles,
    ...(udi ? { udi } : {}), ...(firmwareDesc ? { firmwareDesc } : {}),
    status: (p.optBool('NeedToVerify') ?? true) ? 0 : -1, verifyProgress: 0, utcCreate: now, utcModified: now,
  };
  ctx.store.state.firmware.push(fw);
  ctx.store.changed();
  return { Data: { FirmwareId: fw.firmwareId, UtcCreate: now } };
};

/** A ListOTAFirmware row: exactly the fields of the platform's SimpleFirmwareInfo (no URL, no files). */
function firmwareRow(ctx: ActionContext, fw: Firmware): Record<string, unknown> {
  return {
    FirmwareId: fw.firmwareId, FirmwareName: fw.firmwareName, FirmwareDesc: fw.firmwareDesc ?? '', ProductKey: fw.productKey,
    ProductName: productName(ctx, fw.productKey), ModuleName: fw.moduleName, DestVersion: fw.destVersion, SrcVersion: fw.srcVersion ?? '',
    Type: fw.type, SignMethod: fw.signMethod, FirmwareSign: fw.firmwareSign, FirmwareSize: fw.firmwareSize, Status: fw.status,
    UtcCreate: fw.utcCreate, UtcModified: fw.utcModified,
  };
}

/** QueryOTAFirmware's FirmwareInfo: the row plus the URL, files, UDI and verification progress. */
function firmwareInfo(ctx: ActionContext, fw: Firmware): Record<string, unknown> {
  return {
    ...firmwareRow(ctx, fw), FirmwareUrl: fw.firmwareUrl, VerifyProgress: fw.verifyProgress, Udi: fw.udi ?? '',
    MultiFiles: fw.multiFiles.map((f) => ({ Name: f.name, Size: f.size, Url: f.url, SignValue: f.signValue, FileMd5: f.fileMd5 ?? '' })),
  };
}

export const queryOtaFirmware: ActionHandler = (ctx) => {
  const fw = findFirmware(ctx, ctx.params.string('FirmwareId', { maxLen: 64 }));
  return { FirmwareInfo: firmwareInfo(ctx, fw) };
};

export const listOtaFirmware: ActionHandler = (ctx) => {
  const productKey = ctx.params.optString('ProductKey', PRODUCT_KEY_RULE);
  const destVersion = ctx.params.optString('DestVersion', VERSION_RULE);
  const matching = ctx.store.state.firmware.filter((f) => (productKey === undefined || f.productKey === productKey)
    && (destVersion === undefined || f.destVersion === destVersion));
  const { rows, paging } = page(ctx, matching, 100);
  return { ...paging, FirmwareInfo: { SimpleFirmwareInfo: rows.map((fw) => firmwareRow(ctx, fw)) } };
};
