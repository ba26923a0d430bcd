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

describe('logger formats', () => {
  it('pretty: one human line (time, level, message, key fields) with secrets still redacted', () => {
    const out = capture();
    const log = createLogger({ name: 't', destination: out.destination, format: 'pretty', secrets: ['hunter2-device-secret'] });
    log.warn({ deviceSecret: 'abc123', module: 'MCU', url: 'https://oss.invalid/f?Signature=sig999', note: 'has hunter2-device-secret' }, 'download cut');
    expect(out.lines).toHaveLength(1);
    expect(out.lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} WARN {2}download cut deviceSecret=\[redacted\] module=MCU url="https:\/\/oss\.invalid\/f\?Signature=\[redacted\]" note="has \[redacted\]"\n$/);
    for (const secret of ['abc123', 'sig999', 'hunter2-device-secret']) expect(out.lines[0]).not.toContain(secret);
  });

  it('by default pretty on a terminal and JSON otherwise; an explicit json wins on a terminal', () => {
    const tty = { ...capture(), isTTY: true };
    createLogger({ name: 't', destination: { isTTY: true, write: tty.destination.write } }).info('hello');
    expect(tty.lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}hello\n$/);
    const pipe = capture();
    createLogger({ name: 't', destination: pipe.destination }).info('hello');
    expect(JSON.parse(pipe.lines[0] ?? '')).toMatchObject({ level: 30, msg: 'hello', name: 't' });
    const forced = capture();
    createLogger({ name: 't', destination: { isTTY: true, write: forced.destination.write }, format: 'json' }).info('hello');
    expect(JSON.parse(forced.lines[0] ?? '')).toMatchObject({ msg: 'hello' });
  });
});
