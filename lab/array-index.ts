// A lookup map over one of the state's arrays, so that finding a device, a job or a device's tasks
// costs the same with 5 records or 5,000 (the fleet benchmark's profile showed the linear scans per
// MQTT message and per API call as the lab's largest cost of its own). The lab only appends to these
// arrays; new tail entries are indexed on the next lookup. An array replaced, shrunk or reordered (as
// a test may do) is noticed and the map rebuilt, and every hit is checked against the array itself,
// so an answer is never stale. (An entry overwritten in place under a new key is not seen as new:
// nothing does that to the state.)
export class ArrayIndex<T> {
  readonly #keysOf: (item: T) => readonly string[];
  readonly #positions = new Map<string, number[]>();
  #array: readonly T[] | undefined;
  #indexed = 0;
  #last: T | undefined;

  /** `keysOf` gives every key an item is found under (most have one). */
  constructor(keysOf: (item: T) => readonly string[]) {
    this.#keysOf = keysOf;
  }

  /** Every item of `array` under `key`, in array order. */
  all(array: readonly T[], key: string): T[] {
    this.#sync(array);
    let found = this.#lookup(array, key);
    if (found === undefined) {
      this.#rebuild(array);
      found = this.#lookup(array, key) ?? [];
    }
    return found;
  }

  /** The first item of `array` under `key`. */
  first(array: readonly T[], key: string): T | undefined {
    return this.all(array, key)[0];
  }

  /** The items at the key's positions, or undefined when one no longer carries the key. */
  #lookup(array: readonly T[], key: string): T[] | undefined {
    const at = this.#positions.get(key);
    if (!at) return [];
    const items: T[] = [];
    for (const i of at) {
      const item = array[i];
      if (item === undefined || !this.#keysOf(item).includes(key)) return undefined;
      items.push(item);
    }
    return items;
  }

  #sync(array: readonly T[]): void {
    const unchangedHead = this.#indexed === 0 || array[this.#indexed - 1] === this.#last;
    if (array !== this.#array || array.length < this.#indexed || !unchangedHead) this.#rebuild(array);
    for (let i = this.#indexed; i < array.length; i++) this.#add(array[i] as T, i);
    this.#indexed = array.length;
    this.#last = array[array.length - 1];
  }

  #rebuild(array: readonly T[]): void {
    this.#array = array;
    this.#positions.clear();
    array.forEach((item, i) => this.#add(item, i));
    this.#indexed = array.length;
    this.#last = array[array.length - 1];
  }

  #add(item: T, i: number): void {
    for (const key of new Set(this.#keysOf(item))) {
      const at = this.#positions.get(key);
      if (at) at.push(i);
      else this.#positions.set(key, [i]);
    }
  }
}
