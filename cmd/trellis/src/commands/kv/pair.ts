/** KV entries as /v1/kv returns them, checked and decoded. */
import { escapePath } from '../../api/index.js';
import { tabulate } from '../shared/output.js';

export interface KVPair {
  readonly Key: string;
  readonly Flags: number;
  readonly Value: Buffer;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
  readonly LockIndex: number;
  /** "" when no session holds the key. */
  readonly Session: string;
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** Decodes a /v1/kv answer (a JSON array of entries). Throws on a shape that is not one. */
export function parsePairs(v: unknown): KVPair[] {
  if (!Array.isArray(v)) throw new Error('unexpected response: not a list of KV entries');
  return v.map((raw: unknown) => {
    if (
      typeof raw !== 'object' ||
      raw === null ||
      typeof (raw as { Key?: unknown }).Key !== 'string'
    ) {
      throw new Error('unexpected response: KV entry without a Key');
    }
    const r = raw as Record<string, unknown>;
    const value = r['Value'];
    if (value !== null && value !== undefined && typeof value !== 'string') {
      throw new Error(`unexpected response: Value of ${r['Key'] as string} is not base64 text`);
    }
    return {
      Key: r['Key'] as string,
      Flags: num(r['Flags']),
      Value: typeof value === 'string' ? Buffer.from(value, 'base64') : Buffer.alloc(0),
      CreateIndex: num(r['CreateIndex']),
      ModifyIndex: num(r['ModifyIndex']),
      LockIndex: num(r['LockIndex']),
      Session: typeof r['Session'] === 'string' ? r['Session'] : '',
    };
  });
}

/** The path of a key under /v1/kv/. */
export function kvPath(key: string): string {
  return `/v1/kv/${escapePath(key)}`;
}

/** Consul strips one leading "/" from keys and prefixes given to get, delete and export. */
export function stripLeadingSlash(key: string): string {
  return key.startsWith('/') ? key.slice(1) : key;
}

/**
 * `kv get -detailed`: Consul's tabwriter block. The value is raw bytes or base64; with
 * `keysOnly` (-keys -recurse -detailed) the Value row is left out and, as in Consul, the
 * block keeps its final newline.
 */
export function detailedPair(pair: KVPair, base64: boolean, keysOnly = false): Buffer {
  const rows: Array<[string, string]> = [
    ['CreateIndex', String(pair.CreateIndex)],
    ['Flags', String(pair.Flags)],
    ['Key', pair.Key],
    ['LockIndex', String(pair.LockIndex)],
    ['ModifyIndex', String(pair.ModifyIndex)],
    ['Session', pair.Session === '' ? '-' : pair.Session],
  ];
  if (keysOnly) return Buffer.from(tabulate(rows) + '\n', 'utf8');
  const head = tabulate([...rows, ['Value', '']]);
  const value = base64 ? Buffer.from(pair.Value.toString('base64')) : pair.Value;
  return Buffer.concat([Buffer.from(head, 'utf8'), value]);
}
