// `ota-lab demo --size`: binary and decimal units both work, and the bound is what the demo can make.
import { describe, expect, it } from 'vitest';
import { parseSize } from '../../lab/commands/demo-command.js';

describe('demo --size', () => {
  it.each([
    ['64MiB', 64 * 1024 ** 2], ['64M', 64 * 1024 ** 2], ['64mib', 64 * 1024 ** 2], ['64MB', 64_000_000], ['512KiB', 512 * 1024],
    ['512kb', 512_000], ['1000MiB', 1000 * 1024 ** 2], ['1.5 MiB', 1.5 * 1024 ** 2], ['100', 100],
  ])('%s is %d bytes', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it('refuses what the demo cannot make (2 GiB passed the check, then failed in Node) and says the limit', () => {
    expect(() => parseSize('2GiB')).toThrow('--size 2GiB is out of range: expected 1 byte to 1000MiB (the platform\'s upload limit)');
    expect(() => parseSize('1.1GB')).toThrow(/out of range/);
    expect(() => parseSize('0')).toThrow(/out of range/);
    expect(() => parseSize('64 parsecs')).toThrow('--size 64 parsecs is not a size: expected a number with an optional unit, e.g. 512KiB, 64MiB, 64MB, 1GiB');
  });
});
