/**
 * /v1/kv/<key> — Consul's kvs_endpoint.go: GET (single, ?recurse, ?keys with ?separator, ?raw),
 * PUT (value = the raw body; ?flags, ?cas, ?acquire, ?release) and DELETE (?recurse, ?cas).
 */
import { MessageType, type DirEntry, type DirEntryInput, type KVOp } from '@trellis/state';
import { KV_MAX_VALUE_SIZE_DOC } from './constants.js';
import { empty, json, setMeta, type Answer, type Ctx } from './context.js';
import { badRequest, bodyTooLarge, methodNotAllowed } from './errors.js';
import { blockingRead, checkDatacenter, parseQueryOptions, readBody } from './request.js';
import { encodeQuery, goJson, parseUint, parseUintError, qget, qhas, type Query } from './wire.js';

export const KV_METHODS = ['GET', 'PUT', 'DELETE'] as const;
export const KV_PREFIX = '/v1/kv/';

/**
 * Key validation as Consul ≥ 1.21.6 / 1.22 does it by default (the CVE-2025-11392 fix as
 * reworked in hashicorp/consul#22850): any character is allowed (non-printable ones were
 * already refused for the whole path), but not leading/trailing whitespace nor path-traversal
 * sequences, plain or percent-encoded. A `//` or `..` segment never gets here: the path was
 * cleaned (with a 301) first, as Go's ServeMux does.
 */
export function validateKey(key: string): string | undefined {
  if (key.trim() !== key) return 'key must not have leading or trailing whitespace';
  if (/(^|[\\/])\.\.([\\/]|$)/.test(key)) return 'key contains path traversal sequence';
  if (/%2e%2e(%2f|%5c|\/|\\)|\.\.%(2f|5c)|%252e%252e%252f/i.test(key)) {
    return 'key contains encoded path traversal sequence';
  }
  return undefined;
}

/** Consul's structs.DirEntry JSON, in its field order; Value is base64 (Go []byte) or null. */
export function dirEntryJson(e: DirEntry): Record<string, unknown> {
  const out: Record<string, unknown> = {
    LockIndex: e.LockIndex,
    Key: e.Key,
    Flags: e.Flags,
    Value: e.Value === null ? null : Buffer.from(e.Value).toString('base64'),
  };
  if (e.Session !== undefined && e.Session !== '') out.Session = e.Session;
  out.CreateIndex = e.CreateIndex;
  out.ModifyIndex = e.ModifyIndex;
  return out;
}

export async function kvEndpoint(ctx: Ctx): Promise<Answer> {
  const q = ctx.query;
  const opts = parseQueryOptions(q, ctx.limits);
  const key = ctx.path.slice(KV_PREFIX.length);
  if (key !== '') {
    const bad = validateKey(key);
    if (bad !== undefined) throw badRequest(bad);
  }
  switch (ctx.method) {
    case 'GET':
      return qhas(q, 'keys') ? kvKeys(ctx, key, opts) : kvGet(ctx, key, opts);
    case 'PUT':
      return kvPut(ctx, key);
    case 'DELETE':
      return kvDelete(ctx, key);
    default:
      throw methodNotAllowed(ctx.method, KV_METHODS);
  }
}

type Opts = ReturnType<typeof parseQueryOptions>;

async function kvGet(ctx: Ctx, key: string, opts: Opts): Promise<Answer> {
  const recurse = qhas(ctx.query, 'recurse');
  if (!recurse && key === '') throw badRequest('Missing key name');
  checkDatacenter(ctx.query, ctx.backend);
  if (recurse) {
    const { result, meta } = await blockingRead(ctx.backend, opts, ctx.signal, (store, ws) =>
      store.kvList(key, ws),
    );
    setMeta(ctx, result.index, meta, opts.mode);
    if (result.value.length === 0) return empty(404);
    return json(result.value.map(dirEntryJson));
  }
  const { result, meta } = await blockingRead(ctx.backend, opts, ctx.signal, (store, ws) =>
    store.kvGet(key, ws),
  );
  setMeta(ctx, result.index, meta, opts.mode);
  const entry = result.value;
  if (entry === undefined) return empty(404);
  if (qhas(ctx.query, 'raw')) {
    // Consul hardens raw values against being rendered as active content.
    ctx.reply.header('X-Content-Type-Options', 'nosniff');
    ctx.reply.header('Content-Security-Policy', 'sandbox');
    return { kind: 'bytes', body: entry.Value ?? new Uint8Array(0), contentType: 'text/plain' };
  }
  return entryAnswer(entry, qhas(ctx.query, 'pretty'));
}

/**
 * The last single-key answer, encoded. One change wakes every read parked on a key and they
 * all answer the same entry: it is encoded once, not once per read. Keyed by the entry object
 * (rows are immutable; a write stores a new one) and ?pretty. One slot: it holds at most one
 * value's encoding.
 */
let lastEntryAnswer: { entry: DirEntry; pretty: boolean; answer: Answer } | undefined;

/** What `json([dirEntryJson(entry)])` answers, as the bytes server.ts would encode it to. */
function entryAnswer(entry: DirEntry, pretty: boolean): Answer {
  const last = lastEntryAnswer;
  if (last !== undefined && last.entry === entry && last.pretty === pretty) return last.answer;
  const body = Buffer.from(goJson([dirEntryJson(entry)], pretty), 'utf8');
  const answer: Answer = { kind: 'bytes', body, contentType: 'application/json' };
  lastEntryAnswer = { entry, pretty, answer };
  return answer;
}

async function kvKeys(ctx: Ctx, prefix: string, opts: Opts): Promise<Answer> {
  // Consul still honours its historic misspelling; the correct spelling wins when both are set.
  let sep = '';
  if (qhas(ctx.query, 'seperator')) sep = qget(ctx.query, 'seperator');
  if (qhas(ctx.query, 'separator')) sep = qget(ctx.query, 'separator');
  checkDatacenter(ctx.query, ctx.backend);
  const { result, meta } = await blockingRead(ctx.backend, opts, ctx.signal, (store, ws) =>
    store.kvKeys(prefix, sep, ws),
  );
  setMeta(ctx, result.index, meta, opts.mode);
  // No 404 for the root: an empty store lists as [].
  if (result.value.length === 0 && prefix !== '') return empty(404);
  return json(result.value);
}

/** Consul's conflictingFlags: at most one of the flags; the text echoes the encoded query. */
function conflictingFlags(q: Query, ...flags: string[]): void {
  if (flags.filter((f) => qhas(q, f)).length > 1) {
    throw badRequest(`Conflicting flags: ${encodeQuery(q)}\n`);
  }
}

/** `?flags=` / `?cas=`: a uint64 (bounded to JS-safe integers); Go's strconv text otherwise. */
function uintParam(q: Query, name: string): number | undefined {
  if (!qhas(q, name)) return undefined;
  const raw = qget(q, name);
  const n = parseUint(raw);
  if (n === undefined) throw badRequest(parseUintError(raw));
  return n;
}

async function kvPut(ctx: Ctx, key: string): Promise<Answer> {
  const q = ctx.query;
  if (key === '') throw badRequest('Missing key name');
  conflictingFlags(q, 'cas', 'acquire', 'release');
  let op: KVOp = 'set';
  const dirEnt: { -readonly [K in keyof DirEntryInput]: DirEntryInput[K] } = { Key: key, Flags: 0 };
  const flags = uintParam(q, 'flags');
  if (flags !== undefined) dirEnt.Flags = flags;
  const cas = uintParam(q, 'cas');
  if (cas !== undefined) {
    dirEnt.ModifyIndex = cas;
    op = 'cas';
  }
  if (qhas(q, 'acquire')) {
    dirEnt.Session = qget(q, 'acquire');
    op = 'lock';
  }
  if (qhas(q, 'release')) {
    dirEnt.Session = qget(q, 'release');
    op = 'unlock';
  }
  const max = ctx.limits.kvMaxValueSize;
  const body = await readBody(ctx.request.raw, max, (n) =>
    bodyTooLarge(n, max, KV_MAX_VALUE_SIZE_DOC),
  );
  // An empty body stores no value (Go's nil slice: "Value": null), as Consul does.
  dirEnt.Value = body.length === 0 ? null : body;
  checkDatacenter(q, ctx.backend);
  const out = await ctx.backend.apply(
    { type: MessageType.KVS, now: Date.now(), body: { Op: op, DirEnt: dirEnt } },
    ctx.signal,
  );
  // A plain set always answers true; cas/lock/unlock answer whether they took effect.
  return json(op === 'set' ? true : out.value === true);
}

async function kvDelete(ctx: Ctx, key: string): Promise<Answer> {
  const q = ctx.query;
  conflictingFlags(q, 'recurse', 'cas');
  let op: KVOp = 'delete';
  const dirEnt: { -readonly [K in keyof DirEntryInput]: DirEntryInput[K] } = { Key: key };
  if (qhas(q, 'recurse')) op = 'delete-tree';
  else if (key === '') throw badRequest('Missing key name');
  const cas = uintParam(q, 'cas');
  if (cas !== undefined) {
    dirEnt.ModifyIndex = cas;
    op = 'delete-cas';
  }
  checkDatacenter(q, ctx.backend);
  const out = await ctx.backend.apply(
    { type: MessageType.KVS, now: Date.now(), body: { Op: op, DirEnt: dirEnt } },
    ctx.signal,
  );
  return json(op === 'delete-cas' ? out.value === true : true);
}
