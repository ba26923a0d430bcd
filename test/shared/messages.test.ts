// Documented payloads as literal JSON (docs/platform.md § Inform to § Firmware get), never round-trips through our own encoder.
import { describe, expect, it } from 'vitest';
import {
  firmwareGetReplySchema, firmwareGetSchema, informSchema, parseMessage, progressSchema, upgradeNoticeSchema,
} from '../../shared/messages.js';
import { OtaError } from '../../shared/errors.js';

const DOC_NOTICE = `{"code":"1000","message":"success","id":1626969597470,
 "data":{"size":432945,"version":"2.0.0","isDiff":1,
   "url":"https://example.invalid/fw.bin?Expires=1502955804&OSSAccessKeyId=x&Signature=y",
   "md5":"93230c3bde425a9d7984a594ac55ea1e","sign":"93230c3bde425a9d7984a594ac55ea1e",
   "signMethod":"Md5","module":"MCU","digestsign":"abc",
   "extData":{"key1":"value1","_package_udi":"{\\"ota_notice\\":\\"x\\"}"}}}`;

function fails(fn: () => unknown): OtaError {
  try { fn(); } catch (err) { if (err instanceof OtaError) return err; throw err; }
  throw new Error('expected a failure');
}

describe('message schemas', () => {
  it('reads the documented upgrade notice', () => {
    const n = parseMessage(upgradeNoticeSchema, DOC_NOTICE, 'notice');
    expect(n.data).toMatchObject({ size: 432945, version: '2.0.0', signMethod: 'MD5', module: 'MCU', isDiff: 1 });
    expect(n.data.extData?._package_udi).toBe('{"ota_notice":"x"}');
  });

  it.each(['Md5', 'MD5', 'md5'])('takes signMethod %s as MD5', (m) => {
    const n = parseMessage(upgradeNoticeSchema, DOC_NOTICE.replace('"Md5"', `"${m}"`), 'notice');
    expect(n.data.signMethod).toBe('MD5');
  });

  it.each(['SHA256', 'Sha256', 'sha256'])('takes signMethod %s as SHA256', (m) => {
    const sign = 'a'.repeat(64);
    const n = parseMessage(upgradeNoticeSchema, `{"id":"7","data":{"size":1,"version":"1","url":"https://x.invalid/f","sign":"${sign}","signMethod":"${m}"}}`, 'notice');
    expect(n.data.signMethod).toBe('SHA256');
    expect(n.id).toBe('7');
    expect(n.data.module).toBeUndefined();
  });

  it('reads a multi-file notice', () => {
    const n = parseMessage(upgradeNoticeSchema, `{"id":1,"data":{"size":20,"version":"3","signMethod":"SHA256","files":[
      {"fileName":"a.bin","fileUrl":"https://x.invalid/a","fileSize":10,"fileSign":"${'b'.repeat(64)}"},
      {"fileName":"b.bin","fileUrl":"https://x.invalid/b","fileSize":10,"fileSign":"${'c'.repeat(64)}","fileMd5":"${'d'.repeat(32)}"}]}}`, 'notice');
    expect(n.data.files?.map((f) => f.fileName)).toEqual(['a.bin', 'b.bin']);
    expect(n.data.url).toBeUndefined();
  });

  it('names the bad field', () => {
    expect(fails(() => parseMessage(upgradeNoticeSchema, DOC_NOTICE.replace('"Md5"', '"crc32"'), 'notice')).details.field).toBe('data.signMethod');
    expect(fails(() => parseMessage(upgradeNoticeSchema, DOC_NOTICE.replace('"size":432945', '"size":-1'), 'notice')).details.field).toBe('data.size');
    expect(fails(() => parseMessage(upgradeNoticeSchema, DOC_NOTICE.replace(/"sign":"[0-9a-f]+"/, '"sign":"abc"'), 'notice')).details.field).toBe('data.sign');
    expect(fails(() => parseMessage(informSchema, '{"id":"1x","params":{"version":"1"}}', 'inform')).details.field).toBe('id');
    expect(fails(() => parseMessage(informSchema, 'not json', 'inform')).message).toContain('not JSON');
    expect(fails(() => parseMessage(informSchema, `{"id":1,"params":{"version":"${'x'.repeat(300 * 1024)}"}}`, 'inform')).message).toContain('limit');
  });

  it('reads inform, progress and firmware/get as documented and as the C SDK sends them', () => {
    expect(parseMessage(informSchema, '{"id":"123","params":{"version":"1.0.1","module":"MCU"}}', 'inform').params).toEqual({ version: '1.0.1', module: 'MCU' });
    expect(parseMessage(informSchema, '{"id":1, "params":{"version":"1.0.0"}}', 'inform').params.module).toBeUndefined();
    expect(parseMessage(progressSchema, '{"id":"123","params":{"step":"42","desc":"downloading","module":"MCU"}}', 'progress').params.step).toBe(42);
    expect(parseMessage(progressSchema, '{"id":17, "params":{"step":"-3","desc":""}}', 'progress').params.step).toBe(-3);
    expect(fails(() => parseMessage(progressSchema, '{"id":1,"params":{"step":"101"}}', 'progress')).details.field).toBe('params.step');
    expect(parseMessage(firmwareGetSchema, '{"id":"123","version":"1.0","params":{"module":"MCU"},"method":"thing.ota.firmware.get"}', 'get').params?.module).toBe('MCU');
    expect(parseMessage(firmwareGetReplySchema, '{"id":"123","code":200,"data":{}}', 'reply').data).toEqual({});
  });
});
