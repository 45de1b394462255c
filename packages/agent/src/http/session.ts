/**
 * /v1/session — Consul's session_endpoint.go (HTTP) and consul/session_endpoint.go (RPC):
 * create, destroy, renew, info, node, list.
 *
 * Create follows Consul's order: the body is decoded over Consul's defaults (this agent's node,
 * the `serfHealth` node check, 15 s lock-delay, `release`), the legacy `Checks` field is
 * reconciled with `NodeChecks` (fixupEmptySessionChecks), then — where Consul's Session.Apply
 * RPC would run — the datacenter, `Node`, `Behavior` and `TTL` are checked with Consul's texts
 * (500: they are RPC errors there), the session ID is generated here and the command goes
 * through Raft. Missing nodes and checks are the state store's refusals (500, Consul's texts).
 */
import { randomUUID } from 'node:crypto';
import { MessageType, type ServiceCheck, type Session } from '@trellis/state';
import { json, setMeta, type Answer, type Ctx } from './context.js';
import { parseGoDuration } from './duration.js';
import { AGENT_NODE_HEADER } from '../client-rpc.js';
import { NODE_NAME_RE } from '../config/schema.js';
import type { Endpoint } from './endpoints.js';
import { HttpError, badRequest } from './errors.js';
import { blockingRead, checkDatacenter, parseQueryOptions, readBody } from './request.js';

/**
 * Largest session-create body read (bytes). Consul decodes the body unbounded; a session is a
 * few hundred bytes of JSON, so 64 KiB leaves room for long check lists while bounding memory.
 */
export const SESSION_MAX_BODY_BYTES = 64 * 1024;

/** Consul's SerfCheckID: the default node check of a session. */
export const SERF_CHECK_ID = 'serfHealth';

/** Consul's session-create default lock-delay (15 s), in nanoseconds. */
const DEFAULT_LOCK_DELAY_NS = 15_000_000_000;

/**
 * Consul's lockDelayMinThreshold: a numeric (or string) lock-delay below 1000 ns is taken as
 * seconds, since clients send `5` meaning five seconds.
 */
const LOCK_DELAY_MIN_THRESHOLD_NS = 1000;

/** Consul's session_ttl_min default (10 s) and structs.SessionTTLMax (24 h), in ms. */
const SESSION_TTL_MIN_MS = 10_000;
const SESSION_TTL_MAX_MS = 86_400_000;
/** How Go's %v prints those bounds in Consul's TTL error text. */
const SESSION_TTL_RANGE_TEXT = '[10s=24h0m0s]';

// ---------------------------------------------------------------- Go JSON/duration texts

/** The JSON kind Go's UnmarshalTypeError names ("string", "number", "bool", "array", "object"). */
export function jsonKind(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return 'string';
    case 'number':
      return 'number';
    case 'boolean':
      return 'bool';
    default:
      return 'object';
  }
}

/** Go's UnmarshalTypeError text for a struct field (`struct` is Go's type name, maybe ""). */
export function goFieldTypeError(v: unknown, struct: string, path: string, goType: string): string {
  // Go names the literal of a number that does not fit an integer type.
  const value = typeof v === 'number' && /int/.test(goType) ? `number ${v}` : jsonKind(v);
  return `json: cannot unmarshal ${value} into Go struct field ${struct}.${path} of type ${goType}`;
}

/** Go's uint64: a non-negative integer (bounded to JS-safe integers here). */
export function isGoUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

const GO_UNITS = new Set(['ns', 'us', 'µs', 'μs', 'ms', 's', 'm', 'h']);

/** The error text of Go's time.ParseDuration for text it refuses. */
export function goDurationError(text: string): string {
  const q = JSON.stringify(text);
  const invalid = `time: invalid duration ${q}`;
  let s = text.replace(/^[-+]/, '');
  if (s === '') return invalid;
  while (s !== '') {
    const num = /^([0-9]*)(\.[0-9]*)?/.exec(s)?.[0] ?? '';
    if (num === '' || num === '.') return invalid;
    s = s.slice(num.length);
    const unit = /^[^0-9.]*/.exec(s)?.[0] ?? '';
    if (unit === '') return `time: missing unit in duration ${q}`;
    if (!GO_UNITS.has(unit)) return `time: unknown unit ${JSON.stringify(unit)} in duration ${q}`;
    s = s.slice(unit.length);
  }
  return invalid;
}

// ---------------------------------------------------------------- JSON

/**
 * Consul's structs.Session JSON, in its field order: `Checks` (deprecated) only when set
 * (`omitempty`); `ServiceChecks` is Go's nil (`null`) when empty, as sessions created without
 * service checks show it; `LockDelay` is a number of nanoseconds (time.Duration).
 */
export function sessionJson(s: Session): Record<string, unknown> {
  const out: Record<string, unknown> = {
    ID: s.ID,
    Name: s.Name,
    Node: s.Node,
    LockDelay: s.LockDelay,
    Behavior: s.Behavior,
    TTL: s.TTL,
    NodeChecks: s.NodeChecks,
    ServiceChecks:
      s.ServiceChecks.length === 0
        ? null
        : s.ServiceChecks.map((c) => ({ ID: c.ID, Namespace: c.Namespace })),
  };
  if (s.Checks.length > 0) out.Checks = s.Checks;
  out.CreateIndex = s.CreateIndex;
  out.ModifyIndex = s.ModifyIndex;
  return out;
}

// ---------------------------------------------------------------- create

/** The session a create request asks for, before Session.Apply's checks. */
interface SessionSpec {
  Name: string;
  Node: string;
  LockDelay: number;
  Behavior: string;
  TTL: string;
  Checks: string[] | null;
  NodeChecks: string[] | null;
  ServiceChecks: ServiceCheck[] | null;
}

const decodeFailed = (why: string): HttpError => badRequest(`Request decode failed: ${why}`);

/** Go's name for the anonymous struct Session.UnmarshalJSON decodes into. */
const SESSION_GO_VALUE = 'struct { LockDelay interface {}; *structs.Alias }';

function stringField(v: unknown, name: string, goType = 'string'): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v !== 'string') throw decodeFailed(goFieldTypeError(v, '', name, goType));
  return v;
}

function stringList(v: unknown, name: string, elemType: string): string[] | null | undefined {
  if (v === undefined) return undefined;
  if (v === null) return null;
  if (!Array.isArray(v)) throw decodeFailed(goFieldTypeError(v, '', name, `[]${elemType}`));
  return v.map((x: unknown) => {
    // A null element is Go's zero value ("").
    if (x === null) return '';
    if (typeof x !== 'string') throw decodeFailed(goFieldTypeError(x, '', name, elemType));
    return x;
  });
}

function serviceChecks(v: unknown): ServiceCheck[] | null | undefined {
  if (v === undefined) return undefined;
  if (v === null) return null;
  const type = 'structs.ServiceCheck';
  if (!Array.isArray(v)) throw decodeFailed(goFieldTypeError(v, '', 'ServiceChecks', `[]${type}`));
  return v.map((x: unknown): ServiceCheck => {
    if (x === null) return { ID: '', Namespace: '' };
    if (typeof x !== 'object' || Array.isArray(x)) {
      throw decodeFailed(goFieldTypeError(x, '', 'ServiceChecks', type));
    }
    const out = { ID: '', Namespace: '' };
    for (const [k, fv] of Object.entries(x as Record<string, unknown>)) {
      const name =
        k.toLowerCase() === 'id' ? 'ID' : k.toLowerCase() === 'namespace' ? 'Namespace' : '';
      if (name === '') continue; // json.Unmarshal (inside UnmarshalJSON) ignores unknown fields.
      if (fv === null) continue;
      if (typeof fv !== 'string') {
        throw decodeFailed(goFieldTypeError(fv, 'ServiceCheck', `ServiceChecks.${name}`, 'string'));
      }
      out[name] = fv;
    }
    return out;
  });
}

/** Consul's Session.UnmarshalJSON lock-delay rules; returns nanoseconds. */
function lockDelay(v: unknown): number {
  let ns: number;
  if (typeof v === 'string') {
    const ms = parseGoDuration(v);
    if (ms === undefined) throw decodeFailed(goDurationError(v));
    ns = Math.round(ms * 1e6);
  } else if (typeof v === 'number') {
    ns = Math.trunc(v); // Go's time.Duration(float64) truncates toward zero.
  } else {
    ns = 0; // Any other JSON type leaves Go's zero duration.
  }
  if (ns < LOCK_DELAY_MIN_THRESHOLD_NS) ns *= 1e9;
  // A negative delay never blocks anything (Consul stores it as is); a delay beyond JS-safe
  // nanoseconds (104 days) is capped at use to Consul's 60 s anyway.
  return Math.min(Math.max(0, ns), Number.MAX_SAFE_INTEGER);
}

/** Known structs.Session fields (lower case → canonical); others are ignored, as in Consul. */
const SESSION_FIELDS = new Map(
  [
    'ID',
    'Name',
    'Node',
    'LockDelay',
    'Behavior',
    'TTL',
    'NodeChecks',
    'ServiceChecks',
    'Checks',
    'CreateIndex',
    'ModifyIndex',
  ].map((f) => [f.toLowerCase(), f]),
);

/** Decodes the create body over Consul's defaults (the body's fields override them). */
function decodeSession(body: Buffer, nodeName: string): SessionSpec {
  const spec: SessionSpec = {
    Name: '',
    Node: nodeName,
    LockDelay: DEFAULT_LOCK_DELAY_NS,
    Behavior: 'release',
    TTL: '',
    Checks: [SERF_CHECK_ID],
    NodeChecks: [SERF_CHECK_ID],
    ServiceChecks: null,
  };
  if (body.length === 0) return spec;
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw decodeFailed(e instanceof Error ? e.message : String(e));
  }
  if (raw === null) return spec;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw decodeFailed(
      `json: cannot unmarshal ${jsonKind(raw)} into Go value of type ${SESSION_GO_VALUE}`,
    );
  }
  for (const [key, v] of Object.entries(raw as Record<string, unknown>)) {
    const name = SESSION_FIELDS.get(key.toLowerCase());
    switch (name) {
      case 'ID':
        stringField(v, name); // Type-checked; Session.Apply generates the ID.
        break;
      case 'Name':
      case 'Node':
      case 'Behavior':
      case 'TTL':
        spec[name] = stringField(v, name) ?? spec[name];
        break;
      case 'LockDelay':
        if (v !== null) spec.LockDelay = lockDelay(v);
        break;
      case 'NodeChecks': {
        const list = stringList(v, name, 'string');
        if (list !== undefined) spec.NodeChecks = list;
        break;
      }
      case 'Checks': {
        const list = stringList(v, name, 'types.CheckID');
        if (list !== undefined) spec.Checks = list;
        break;
      }
      case 'ServiceChecks': {
        const list = serviceChecks(v);
        if (list !== undefined) spec.ServiceChecks = list;
        break;
      }
      case 'CreateIndex':
      case 'ModifyIndex':
        if (v !== null && !isGoUint(v)) {
          throw decodeFailed(goFieldTypeError(v, '', name, 'uint64'));
        }
        break;
      default:
        break;
    }
  }
  return spec;
}

/**
 * Consul's fixupEmptySessionChecks (pre-1.7 clients empty the default check with `Checks: []`;
 * newer ones use `NodeChecks`).
 */
function fixupChecks(spec: SessionSpec): void {
  const checks = spec.Checks ?? [];
  if (checks.length === 0) {
    spec.NodeChecks = [];
    return;
  }
  if (checks.length === 1 && checks[0] === SERF_CHECK_ID) {
    spec.Checks = null;
    return;
  }
  if ((spec.NodeChecks ?? []).length === 0) spec.Checks = null;
}

/** Session.Apply's TTL check: a Go duration, 0 or within [10s, 24h]; Consul's texts (500). */
function checkTtl(ttl: string): void {
  if (ttl === '') return;
  const ms = parseGoDuration(ttl);
  if (ms === undefined) {
    throw new HttpError(500, `Session TTL '${ttl}' invalid: ${goDurationError(ttl)}`);
  }
  if (ms !== 0 && (ms < SESSION_TTL_MIN_MS || ms > SESSION_TTL_MAX_MS)) {
    const ns = Math.round(ms * 1e6);
    throw new HttpError(
      500,
      `Invalid Session TTL '${ns}', must be between ${SESSION_TTL_RANGE_TEXT}`,
    );
  }
}

async function sessionCreate(ctx: Ctx): Promise<Answer> {
  const body = await readBody(ctx.request.raw, SESSION_MAX_BODY_BYTES);
  // Through a client agent, "this agent" is the client (Consul's agent fills in its node).
  const via = ctx.request.headers[AGENT_NODE_HEADER];
  const node = typeof via === 'string' && NODE_NAME_RE.test(via) ? via : ctx.backend.nodeName;
  const spec = decodeSession(body, node);
  fixupChecks(spec);
  // What follows is Consul's Session.Apply RPC: forwarded first, then validated.
  checkDatacenter(ctx.query, ctx.backend);
  if (spec.Node === '') throw new HttpError(500, 'Must provide Node');
  if (spec.Behavior === '') spec.Behavior = 'release';
  if (spec.Behavior !== 'release' && spec.Behavior !== 'delete') {
    throw new HttpError(500, `Invalid Behavior setting '${spec.Behavior}'`);
  }
  checkTtl(spec.TTL);
  // Consul's Session.Apply generates the ID before the log entry (applying must be
  // deterministic) and retries on the (astronomically unlikely) clash with a live session.
  let id = randomUUID();
  while (ctx.backend.store.session(id).value !== undefined) id = randomUUID();
  await ctx.backend.apply(
    {
      type: MessageType.Session,
      now: Date.now(),
      body: {
        Op: 'create',
        Session: {
          ID: id,
          Name: spec.Name,
          Node: spec.Node,
          Checks: spec.Checks ?? [],
          NodeChecks: spec.NodeChecks ?? [],
          ServiceChecks: spec.ServiceChecks ?? [],
          LockDelay: spec.LockDelay,
          Behavior: spec.Behavior,
          TTL: spec.TTL,
        },
      },
    },
    ctx.signal,
  );
  return json({ ID: id });
}

// ---------------------------------------------------------------- destroy / renew / reads

const DESTROY_PREFIX = '/v1/session/destroy/';
const RENEW_PREFIX = '/v1/session/renew/';
const INFO_PREFIX = '/v1/session/info/';
const NODE_PREFIX = '/v1/session/node/';

async function sessionDestroy(ctx: Ctx): Promise<Answer> {
  const id = ctx.path.slice(DESTROY_PREFIX.length);
  if (id === '') throw badRequest('Missing session');
  checkDatacenter(ctx.query, ctx.backend);
  // Destroying a session that does not exist is a no-op, as in Consul's state store.
  await ctx.backend.apply(
    { type: MessageType.Session, now: Date.now(), body: { Op: 'destroy', Session: { ID: id } } },
    ctx.signal,
  );
  return json(true);
}

async function sessionRenew(ctx: Ctx): Promise<Answer> {
  // Consul parses the full query options here (their errors are 400s) but sets no meta.
  parseQueryOptions(ctx.query, ctx.limits);
  const id = ctx.path.slice(RENEW_PREFIX.length);
  if (id === '') throw badRequest('Missing session');
  checkDatacenter(ctx.query, ctx.backend);
  const s = await ctx.backend.renewSession(id);
  if (s === undefined) throw new HttpError(404, `Session id '${id}' not found`);
  return json([sessionJson(s)]);
}

async function sessionInfo(ctx: Ctx): Promise<Answer> {
  const opts = parseQueryOptions(ctx.query, ctx.limits);
  const id = ctx.path.slice(INFO_PREFIX.length);
  if (id === '') throw badRequest('Missing session');
  checkDatacenter(ctx.query, ctx.backend);
  const { result, meta } = await blockingRead(ctx.backend, opts, ctx.signal, (store, ws) =>
    store.session(id, ws),
  );
  setMeta(ctx, result.index, meta, opts.mode);
  // A missing session is an empty list (200), not a 404.
  return json(result.value === undefined ? [] : [sessionJson(result.value)]);
}

async function sessionNode(ctx: Ctx): Promise<Answer> {
  const opts = parseQueryOptions(ctx.query, ctx.limits);
  const node = ctx.path.slice(NODE_PREFIX.length);
  if (node === '') throw badRequest('Missing node name');
  checkDatacenter(ctx.query, ctx.backend);
  const { result, meta } = await blockingRead(ctx.backend, opts, ctx.signal, (store, ws) =>
    store.nodeSessions(node, ws),
  );
  setMeta(ctx, result.index, meta, opts.mode);
  return json(result.value.map(sessionJson));
}

async function sessionList(ctx: Ctx): Promise<Answer> {
  const opts = parseQueryOptions(ctx.query, ctx.limits);
  checkDatacenter(ctx.query, ctx.backend);
  const { result, meta } = await blockingRead(ctx.backend, opts, ctx.signal, (store, ws) =>
    store.sessions(ws),
  );
  setMeta(ctx, result.index, meta, opts.mode);
  return json(result.value.map(sessionJson));
}

/** Consul's agent/http_register.go entries for /v1/session. */
export const SESSION_ENDPOINTS: readonly Endpoint[] = [
  { path: '/v1/session/create', methods: ['PUT'], readsBody: true, handler: sessionCreate },
  { path: DESTROY_PREFIX, methods: ['PUT'], prefix: true, handler: sessionDestroy },
  { path: RENEW_PREFIX, methods: ['PUT'], prefix: true, handler: sessionRenew },
  { path: INFO_PREFIX, methods: ['GET'], prefix: true, handler: sessionInfo },
  { path: NODE_PREFIX, methods: ['GET'], prefix: true, handler: sessionNode },
  { path: '/v1/session/list', methods: ['GET'], handler: sessionList },
];
