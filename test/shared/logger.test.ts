import { describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/logger.js';

function capture() {
  const lines: string[] = [];
  return { lines, destination: { write: (l: string) => { lines.push(l); } } };
}

describe('logger redaction', () => {
  it('removes secret fields, URL signatures and registered secret values', () => {
    const out = capture();
    const log = createLogger({ name: 't', destination: out.destination, secrets: ['hunter2-device-secret'] });
    log.info({ deviceSecret: 'abc123', nested: { accessKeySecret: 'xyz789' } }, 'connect');
    log.info({ url: 'https://oss.invalid/fw.bin?Expires=1&OSSAccessKeyId=LTAIxx&Signature=abc%2Bdef&security-token=tok' }, 'download');
    log.warn(`failed with hunter2-device-secret inside`);
    const text = out.lines.join('');
    for (const secret of ['abc123', 'xyz789', 'LTAIxx', 'abc%2Bdef', '=tok', 'hunter2-device-secret']) expect(text).not.toContain(secret);
    expect(text).toContain('Expires=1');
    expect(out.lines).toHaveLength(3);
  });
});
