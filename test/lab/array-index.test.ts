// The lookup maps beside the lab's state arrays: appends are found, and an array changed behind the
// map's back (replaced, shrunk, reordered, as tests do to the state) never yields a stale answer.
import { describe, expect, it } from 'vitest';
import { ArrayIndex } from '../../lab/array-index.js';

interface Rec { id: string; group: string }
const byId = () => new ArrayIndex<Rec>((r) => [r.id]);
const byGroup = () => new ArrayIndex<Rec>((r) => [r.group]);

describe('ArrayIndex', () => {
  it('finds entries appended after the first lookup, in array order', () => {
    const arr: Rec[] = [{ id: 'a', group: 'x' }];
    const g = byGroup();
    expect(g.all(arr, 'x').map((r) => r.id)).toEqual(['a']);
    arr.push({ id: 'b', group: 'y' }, { id: 'c', group: 'x' });
    expect(g.all(arr, 'x').map((r) => r.id)).toEqual(['a', 'c']);
    expect(g.all(arr, 'y').map((r) => r.id)).toEqual(['b']);
    expect(g.all(arr, 'z')).toEqual([]);
  });

  it('answers from the array after a reorder, a shrink or a new array', () => {
    const arr: Rec[] = [{ id: 'a', group: 'x' }];
    const i = byId();
    expect(i.first(arr, 'a')?.id).toBe('a');
    // What a test does to the firmware list: take everything out, put others first, ours last.
    const ours = arr.splice(0);
    arr.push({ id: 'o1', group: 'x' }, { id: 'o2', group: 'x' }, ...ours);
    expect(i.first(arr, 'o1')?.id).toBe('o1');
    expect(i.first(arr, 'a')).toBe(arr[2]);
    arr.length = 1;
    expect(i.first(arr, 'a')).toBeUndefined();
    expect(i.first(arr, 'o1')).toBe(arr[0]);
    const other: Rec[] = [{ id: 'n', group: 'x' }];
    expect(i.first(other, 'n')).toBe(other[0]);
    expect(i.first(other, 'o1')).toBeUndefined();
  });

  it('gives the entry now at a position when it was swapped for one with the same key, and re-reads a moved key', () => {
    const arr: Rec[] = [{ id: 'a', group: 'x' }, { id: 'b', group: 'x' }, { id: 'c', group: 'x' }];
    const i = byId();
    expect(i.first(arr, 'b')?.id).toBe('b');
    const fresh = { id: 'b', group: 'y' };
    arr[1] = fresh;
    expect(i.first(arr, 'b')).toBe(fresh);
    // Two entries trade places, the last one untouched: each is found where it now is.
    [arr[0], arr[1]] = [arr[1], arr[0] as Rec];
    expect(i.first(arr, 'a')).toBe(arr[1]);
    expect(i.first(arr, 'b')).toBe(arr[0]);
  });

  it('finds an entry under each of its keys', () => {
    const multi = new ArrayIndex<{ keys: string[] }>((r) => r.keys);
    const arr = [{ keys: ['k1', 'k2'] }, { keys: ['k2'] }];
    expect(multi.first(arr, 'k1')).toBe(arr[0]);
    expect(multi.all(arr, 'k2')).toEqual([arr[0], arr[1]]);
  });
});
