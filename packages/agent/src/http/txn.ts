/**
 * PUT /v1/txn — Consul's txn_endpoint.go (HTTP) and consul/txn_endpoint.go (RPC): up to 64 KV
 * operations applied all-or-nothing.
 *
 * Order and texts are Consul's: the body limit (413), the JSON decode ("Failed to parse body:
 * …", 400, unknown fields refused as Go's DisallowUnknownFields does), the operation count
 * (413), each value's size (413); then Txn.Apply's pre-checks ("Must provide key", lock-delay),
 * which fail the transaction with 409 without touching the log, and the Raft apply, whose
 * failed operations are also a 409 with `Errors` (and `Results: null`).
 *
 * Read-only transactions (only get, get-tree, check-* and verbs Consul does not count as
 * writes) take Consul's Txn.Read fast path: no Raft entry, evaluated on this agent's replica of
 * the state store after the read barrier of the request's consistency mode (default: the
 * leader's lease; `?consistent`: a ReadIndex round; `?stale`: none), answered with Consul's
 * TxnReadResponse (its QueryMeta fields in the body, X-Consul-KnownLeader and
 * X-Consul-LastContact headers, no X-Consul-Index) — and never blocking.
 */
import {
  KV_OPS,
  MessageType,
  TXN_KV_VERBS,
  type DirEntry,
  type DirEntryInput,
  type StateStore,
  type TxnError,
  type TxnKVVerb,
  type TxnOp,
  type TxnResponse,
} from '@trellis/state';
import type { ReadMeta } from './backend.js';
import { json, type Answer, type Ctx } from './context.js';
import type { Endpoint } from './endpoints.js';
import { HttpError, badRequest } from './errors.js';
import { dirEntryJson } from './kv.js';
import { checkDatacenter, parseQueryOptions, readBody } from './request.js';
import { goFieldTypeError, isGoUint, jsonKind } from './session.js';

/** Consul's maxTxnOps. */
export const MAX_TXN_OPS = 64;

/**
 * Consul's txn_max_req_len default: Raft's suggested maximum entry size, 512 KiB. As in Consul,
 * a larger kv_max_value_size raises it (so one value that fits the KV endpoint fits a txn).
 */
export const DEFAULT_TXN_MAX_REQ_LEN = 512 * 1024;

/** The verbs that write: exactly the KV endpoint's operations. */
const WRITE_VERBS: ReadonlySet<string> = new Set(KV_OPS);

/** One decoded KV operation, in the API's shape (Consul's api.KVTxnOp). */
interface KVTxnOp {
  Verb: string;
  Key: string;
  Value: Buffer | null;
  Flags: number;
  Index: number;
  Session: string;
}

const parseFailed = (why: string): HttpError => badRequest(`Failed to parse body: ${why}`);

/** Known fields of api.TxnOp and api.KVTxnOp (lower case → canonical). */
const OP_FIELDS = new Map(['KV', 'Node', 'Service', 'Check'].map((f) => [f.toLowerCase(), f]));
const KV_FIELDS = new Map(
  ['Verb', 'Key', 'Value', 'Flags', 'Index', 'Session', 'Namespace', 'Partition'].map((f) => [
    f.toLowerCase(),
    f,
  ]),
);

/**
 * Go's []byte JSON decoding: strict standard base64 with padding (CR and LF skipped), failing
 * with base64.CorruptInputError's text.
 */
function decodeBase64(s: string): Buffer {
  const clean: string[] = [];
  const at: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c === '\r' || c === '\n') continue;
    clean.push(c);
    at.push(i);
  }
  const corrupt = (i: number): HttpError =>
    parseFailed(`illegal base64 data at input byte ${at[i] ?? s.length}`);
  const n = clean.length;
  let pad = 0;
  for (let i = 0; i < n; i++) {
    const c = clean[i] as string;
    if (c === '=') {
      // Padding only in the last two places of the final quantum.
      if (i < n - 2 || n % 4 !== 0) throw corrupt(i);
      pad++;
      continue;
    }
    if (pad > 0 || !/[A-Za-z0-9+/]/.test(c)) throw corrupt(i);
  }
  if (n % 4 !== 0) throw corrupt(n - (n % 4));
  return Buffer.from(clean.join(''), 'base64');
}

function kvString(v: unknown, name: string, goType = 'string'): string {
  if (v === null) return '';
  if (typeof v !== 'string')
    throw parseFailed(goFieldTypeError(v, 'KVTxnOp', `KV.${name}`, goType));
  return v;
}

function kvUint(v: unknown, name: string): number {
  if (v === null) return 0;
  if (!isGoUint(v)) {
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) {
      // A uint64 past 2^53 cannot be held exactly; Consul would take it.
      throw parseFailed(`KV.${name} ${v} is larger than this server supports (2^53 - 1)`);
    }
    throw parseFailed(goFieldTypeError(v, 'KVTxnOp', `KV.${name}`, 'uint64'));
  }
  return v;
}

function decodeKV(raw: unknown): KVTxnOp {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw parseFailed(goFieldTypeError(raw, 'TxnOp', 'KV', 'api.KVTxnOp'));
  }
  const op: KVTxnOp = { Verb: '', Key: '', Value: null, Flags: 0, Index: 0, Session: '' };
  for (const [key, v] of Object.entries(raw as Record<string, unknown>)) {
    const name = KV_FIELDS.get(key.toLowerCase());
    switch (name) {
      case 'Verb':
        op.Verb = kvString(v, name, 'api.KVOp');
        break;
      case 'Key':
      case 'Session':
        op[name] = kvString(v, name);
        break;
      case 'Namespace':
      case 'Partition':
        kvString(v, name); // Enterprise fields: accepted and ignored, as Consul CE does.
        break;
      case 'Value':
        if (v === null) op.Value = null;
        else if (typeof v === 'string') op.Value = decodeBase64(v);
        else throw parseFailed(goFieldTypeError(v, 'KVTxnOp', 'KV.Value', '[]uint8'));
        break;
      case 'Flags':
      case 'Index':
        op[name] = kvUint(v, name);
        break;
      default:
        throw parseFailed(`json: unknown field ${JSON.stringify(key)}`);
    }
  }
  return op;
}

/**
 * Decodes the body as Consul's decodeBody into api.TxnOps. Operations with no KV part are
 * dropped as Consul's convertOps drops them; Node, Service and Check operations are refused:
 * this state store keeps transactions to KV (a 400 naming the operation, not Consul's answer).
 */
function decodeOps(body: Buffer): KVTxnOp[] {
  if (body.length === 0) throw parseFailed('EOF');
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw parseFailed(e instanceof Error ? e.message : String(e));
  }
  if (raw === null) return [];
  if (!Array.isArray(raw)) {
    throw parseFailed(`json: cannot unmarshal ${jsonKind(raw)} into Go value of type api.TxnOps`);
  }
  const ops: KVTxnOp[] = [];
  let unsupported: string | undefined;
  raw.forEach((item: unknown, i) => {
    if (item === null) return;
    if (typeof item !== 'object' || Array.isArray(item)) {
      throw parseFailed(`json: cannot unmarshal ${jsonKind(item)} into Go value of type api.TxnOp`);
    }
    let kv: KVTxnOp | undefined;
    let other: string | undefined;
    for (const [key, v] of Object.entries(item as Record<string, unknown>)) {
      const name = OP_FIELDS.get(key.toLowerCase());
      if (name === undefined) throw parseFailed(`json: unknown field ${JSON.stringify(key)}`);
      if (v === null) continue;
      if (name === 'KV') kv = decodeKV(v);
      else other ??= name;
    }
    // Consul's convertOps takes the KV part first and ignores the others.
    if (kv !== undefined) ops.push(kv);
    else if (other !== undefined) {
      unsupported ??= `Transaction operation ${i}: ${other} operations are not supported; only KV operations are`;
    }
  });
  // Consul counts the decoded operations, empty ones included.
  if (raw.length > MAX_TXN_OPS) {
    throw new HttpError(
      413,
      `Transaction contains too many operations (${raw.length} > ${MAX_TXN_OPS})`,
    );
  }
  if (unsupported !== undefined) throw badRequest(unsupported);
  return ops;
}

// ---------------------------------------------------------------- answers

const resultsJson = (entries: readonly DirEntry[]): Array<{ KV: Record<string, unknown> }> =>
  entries.map((e) => ({ KV: dirEntryJson(e) }));

/** Consul's TxnResponse: Results `[]` and Errors `null` on success, the reverse on failure. */
function txnBody(res: { Results: readonly DirEntry[]; Errors: readonly TxnError[] }): {
  Results: unknown;
  Errors: unknown;
} {
  return res.Errors.length > 0
    ? { Results: null, Errors: res.Errors.map((e) => ({ OpIndex: e.OpIndex, What: e.What })) }
    : { Results: resultsJson(res.Results), Errors: null };
}

/** Txn.Apply's pre-checks (kvsPreApply): a key for all but delete-tree; lock-delay for locks. */
function preCheck(store: StateStore, ops: readonly KVTxnOp[], now: number): TxnError[] {
  const errors: TxnError[] = [];
  ops.forEach((op, i) => {
    if (op.Key === '' && op.Verb !== 'delete-tree') {
      errors.push({ OpIndex: i, What: 'Must provide key' });
    } else if (op.Verb === 'lock' && store.lockDelay(op.Key) > now) {
      // Lock-delay runs on wall time, so Consul enforces it here, before the log.
      errors.push({
        OpIndex: i,
        What: `failed to lock key ${JSON.stringify(op.Key)} due to lock delay`,
      });
    }
  });
  return errors;
}

/** Consul's state.TxnRO over the local replica: the store's txn semantics, read verbs only. */
function readTxn(
  store: StateStore,
  ops: readonly KVTxnOp[],
): { Results: DirEntry[]; Errors: TxnError[] } {
  const results: DirEntry[] = [];
  const errors: TxnError[] = [];
  const blank = (e: DirEntry): DirEntry => ({ ...e, Value: null });
  ops.forEach((op, i) => {
    const key = JSON.stringify(op.Key);
    const fail = (What: string): void => void errors.push({ OpIndex: i, What });
    const entry = (): DirEntry | undefined => store.kvGet(op.Key).value;
    switch (op.Verb) {
      case 'get': {
        const e = entry();
        if (e === undefined) fail(`key ${key} doesn't exist`);
        else results.push(e);
        break;
      }
      case 'get-tree':
        results.push(...store.kvList(op.Key).value);
        break;
      case 'check-index': {
        const e = entry();
        if (e === undefined) fail(`key ${key} doesn't exist`);
        else if (e.ModifyIndex !== op.Index) {
          fail(
            `failed index check for key ${key}, current modify index ${e.ModifyIndex} != ${op.Index}`,
          );
        } else results.push(blank(e));
        break;
      }
      case 'check-session': {
        const e = entry();
        if (e === undefined) fail(`key ${key} doesn't exist`);
        else if ((e.Session ?? '') !== op.Session) {
          fail(
            `failed session check for key ${key}, current session ${JSON.stringify(e.Session ?? '')} != ${JSON.stringify(op.Session)}`,
          );
        } else results.push(blank(e));
        break;
      }
      case 'check-not-exists':
        if (entry() !== undefined) fail(`key ${key} exists`);
        break;
      default:
        fail(`unknown KV verb ${JSON.stringify(op.Verb)}`);
    }
  });
  return { Results: results, Errors: errors };
}

/** Consul's structs.QueryMeta, serialised in a read-only transaction's body. */
function queryMetaJson(meta: ReadMeta): Record<string, unknown> {
  return {
    Index: 0,
    LastContact: Math.max(0, Math.floor(meta.lastContactMs)) * 1e6,
    KnownLeader: meta.knownLeader,
    ConsistencyLevel: '',
    NotModified: false,
    Backend: 0,
    ResultsFilteredByACLs: false,
  };
}

async function txn(ctx: Ctx): Promise<Answer> {
  const max = Math.max(DEFAULT_TXN_MAX_REQ_LEN, ctx.limits.kvMaxValueSize);
  const body = await readBody(
    ctx.request.raw,
    max,
    () => new HttpError(413, `Request body too large, max size: ${max} bytes`),
  );
  const ops = decodeOps(body);
  const valueMax = ctx.limits.kvMaxValueSize;
  for (const op of ops) {
    const size = op.Value?.length ?? 0;
    if (size > valueMax) {
      throw new HttpError(
        413,
        `Value for key ${JSON.stringify(op.Key)} is too large (${size} > ${valueMax} bytes)`,
      );
    }
  }
  const writes = ops.some((op) => WRITE_VERBS.has(op.Verb));
  return writes ? applyTxn(ctx, ops) : readOnlyTxn(ctx, ops);
}

async function readOnlyTxn(ctx: Ctx, ops: readonly KVTxnOp[]): Promise<Answer> {
  const opts = parseQueryOptions(ctx.query, ctx.limits);
  checkDatacenter(ctx.query, ctx.backend);
  const meta = await ctx.backend.readBarrier(opts.mode, ctx.signal);
  ctx.reply.header('X-Consul-LastContact', String(Math.max(0, Math.floor(meta.lastContactMs))));
  ctx.reply.header('X-Consul-KnownLeader', meta.knownLeader ? 'true' : 'false');
  const store = ctx.backend.store;
  const pre = preCheck(store, ops, Date.now());
  const res = pre.length > 0 ? { Results: [], Errors: pre } : readTxn(store, ops);
  return json({ ...txnBody(res), ...queryMetaJson(meta) }, res.Errors.length > 0 ? 409 : 200);
}

async function applyTxn(ctx: Ctx, ops: readonly KVTxnOp[]): Promise<Answer> {
  checkDatacenter(ctx.query, ctx.backend);
  const now = Date.now();
  const errors = preCheck(ctx.backend.store, ops, now);
  // A verb the store does not know fails its operation, as Consul's txnKVS does (the store's
  // command validator would refuse the whole command instead).
  ops.forEach((op, i) => {
    if (!(TXN_KV_VERBS as readonly string[]).includes(op.Verb)) {
      errors.push({ OpIndex: i, What: `unknown KV verb ${JSON.stringify(op.Verb)}` });
    }
  });
  if (errors.length > 0) {
    errors.sort((a, b) => a.OpIndex - b.OpIndex);
    return json(txnBody({ Results: [], Errors: errors }), 409);
  }
  const txnOps: TxnOp[] = ops.map((op) => {
    const dirEnt: { -readonly [K in keyof DirEntryInput]: DirEntryInput[K] } = {
      Key: op.Key,
      Flags: op.Flags,
      Value: op.Value === null ? null : new Uint8Array(op.Value),
      ModifyIndex: op.Index,
    };
    if (op.Session !== '') dirEnt.Session = op.Session;
    return { KV: { Verb: op.Verb as TxnKVVerb, DirEnt: dirEnt } };
  });
  const out = await ctx.backend.apply(
    { type: MessageType.Txn, now, body: { Ops: txnOps } },
    ctx.signal,
  );
  const res = out.value as TxnResponse;
  return json(
    txnBody({ Results: res.Results.map((r) => r.KV), Errors: res.Errors }),
    res.Errors.length > 0 ? 409 : 200,
  );
}

/** Consul's agent/http_register.go entry for /v1/txn. */
export const TXN_ENDPOINTS: readonly Endpoint[] = [
  { path: '/v1/txn', methods: ['PUT'], readsBody: true, handler: txn },
];
