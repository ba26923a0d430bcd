// Each download's read-ahead shrinks as more run at once, so a fleet downloading together holds a
// bounded amount in the lab, and grows back as they end.
import { describe, expect, it } from 'vitest';
import { ReadAhead } from '../../lab/object-serving.js';

describe('ReadAhead', () => {
  it('gives 1 MiB to the first 64 downloads, 64 KiB from 1,024 on, and returns to 1 MiB when they end', () => {
    const r = new ReadAhead();
    const sizes = Array.from({ length: 2000 }, () => r.start());
    expect(sizes[0]).toBe(1024 * 1024);
    expect(sizes[63]).toBe(1024 * 1024);
    expect(sizes[64]).toBeLessThan(1024 * 1024);
    expect(sizes[127]).toBe(512 * 1024);
    expect(sizes[1023]).toBe(64 * 1024);
    expect(sizes[1999]).toBe(64 * 1024);
    for (let i = 0; i < 2000; i++) r.end();
    expect(r.start()).toBe(1024 * 1024);
  });
});
