// Reading an RPC request's flat parameters (`TargetDeviceName.1`, `Tag.2.Key`, …) with the
// platform's refusals: MissingParameter, or InvalidParameter naming the parameter and its form.
import { invalidParameter, missingParameter } from './api-error.js';

export class RpcParamReader {
  readonly #params: Readonly<Record<string, string>>;

  constructor(params: Readonly<Record<string, string>>) {
    this.#params = params;
  }

  has(name: string): boolean {
    const v = this.#params[name];
    return v !== undefined && v !== '';
  }

  optString(name: string, rule: { pattern?: RegExp; minLen?: number; maxLen?: number; describe?: string } = {}): string | undefined {
    const v = this.#params[name];
    if (v === undefined || v === '') return undefined;
    const minLen = rule.minLen ?? 1;
    const maxLen = rule.maxLen ?? 1024;
    const describe = rule.describe ?? `${minLen}–${maxLen} characters`;
    if (v.length < minLen || v.length > maxLen || (rule.pattern && !rule.pattern.test(v))) {
      throw invalidParameter(name, describe, v);
    }
    return v;
  }

  string(name: string, rule: { pattern?: RegExp; minLen?: number; maxLen?: number; describe?: string } = {}): string {
    const v = this.optString(name, rule);
    if (v === undefined) throw missingParameter(name);
    return v;
  }

  optInt(name: string, min: number, max: number): number | undefined {
    const v = this.#params[name];
    if (v === undefined || v === '') return undefined;
    if (!/^-?\d{1,15}$/.test(v) || Number(v) < min || Number(v) > max) {
      throw invalidParameter(name, `a whole number from ${min} to ${max}`, v);
    }
    return Number(v);
  }

  int(name: string, min: number, max: number): number {
    const v = this.optInt(name, min, max);
    if (v === undefined) throw missingParameter(name);
    return v;
  }

  optBool(name: string): boolean | undefined {
    const v = this.#params[name];
    if (v === undefined || v === '') return undefined;
    if (v === 'true' || v === 'false') return v === 'true';
    throw invalidParameter(name, 'true or false', v);
  }

  /** `Name.1` … `Name.N`: indexes must run 1..N without gaps, as the platform expands lists. */
  list(name: string, maxItems: number): string[] {
    const found = new Map<number, string>();
    const re = new RegExp(`^${escapeRe(name)}\\.(\\d+)$`);
    for (const [key, value] of Object.entries(this.#params)) {
      const m = re.exec(key);
      if (m) found.set(Number(m[1]), value);
    }
    return this.#ordered(name, found, maxItems);
  }

  /** `Name.N.Field` groups, e.g. Tag.1.Key / Tag.1.Value. */
  groups(name: string, maxItems: number): Record<string, string>[] {
    const found = new Map<number, Record<string, string>>();
    // Field names may hold digits (MultiFiles.N.FileMd5).
    const re = new RegExp(`^${escapeRe(name)}\\.(\\d+)\\.([A-Za-z][A-Za-z0-9]*)$`);
    for (const [key, value] of Object.entries(this.#params)) {
      const m = re.exec(key);
      if (!m) continue;
      const i = Number(m[1]);
      const group = found.get(i) ?? {};
      group[m[2] as string] = value;
      found.set(i, group);
    }
    return this.#ordered(name, found, maxItems);
  }

  #ordered<T>(name: string, found: Map<number, T>, maxItems: number): T[] {
    if (found.size > maxItems) throw invalidParameter(`${name}.N`, `at most ${maxItems} items`, `${found.size} items`);
    const out: T[] = [];
    for (let i = 1; i <= found.size; i++) {
      const v = found.get(i);
      if (v === undefined) throw invalidParameter(`${name}.${i}`, `items numbered 1 to ${found.size} without gaps`, 'a gap');
      out.push(v);
    }
    return out;
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
