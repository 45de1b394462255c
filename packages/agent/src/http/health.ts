/**
 * /v1/health — Consul's health_endpoint.go (HTTP) over Health.* (RPC): node/:node,
 * checks/:service, state/:state, service/:service and connect/:service. Shapes, order, filters
 * and the blocking-read plumbing are shared with catalog.ts.
 */
import {
  CHECK_STATUSES,
  type CheckServiceNode,
  type CheckStatus,
  type HealthCheck,
} from '@trellis/state';
import type { Answer, Ctx } from './context.js';
import { badRequest } from './errors.js';
import type { Endpoint } from './endpoints.js';
import { checkDatacenter, parseQueryOptions } from './request.js';
import {
  CHECK_SERVICE_NODE_SCHEMA,
  HEALTH_CHECK_SCHEMA,
  applyFilter,
  byNodeThenCheck,
  byNodeThenServiceId,
  catalogRead,
  checkJson,
  compileQueryFilter,
  goAnswer,
  nodeJson,
  nodeServiceJson,
  parseNodeMeta,
  parseTags,
  pathArg,
  satisfiesMeta,
  watchNothing,
} from './catalog.js';
import type { Query } from './wire.js';

const NODE_PREFIX = '/v1/health/node/';
const CHECKS_PREFIX = '/v1/health/checks/';
const STATE_PREFIX = '/v1/health/state/';
const SERVICE_PREFIX = '/v1/health/service/';
const CONNECT_PREFIX = '/v1/health/connect/';

/** A check list in Consul's order, Go-shaped, with `?filter` applied to each HealthCheck. */
function checkList(
  checks: readonly HealthCheck[],
  filter: ((v: unknown) => boolean) | undefined,
): unknown[] {
  const shaped = [...checks].sort(byNodeThenCheck).map(checkJson);
  return applyFilter(shaped, filter, (x) => x);
}

async function nodeChecks(ctx: Ctx): Promise<Answer> {
  const opts = parseQueryOptions(ctx.query, ctx.limits);
  const node = pathArg(ctx, NODE_PREFIX, 'Missing node name');
  checkDatacenter(ctx.query, ctx.backend);
  const filter = compileQueryFilter(ctx.query, HEALTH_CHECK_SCHEMA);
  const list = await catalogRead(ctx, opts, (store, ws) => {
    const r = store.nodeChecks(node, ws);
    return { index: r.index, value: checkList(r.value, filter) };
  });
  return goAnswer(ctx, list);
}

async function serviceChecks(ctx: Ctx): Promise<Answer> {
  const meta = parseNodeMeta(ctx.query);
  const opts = parseQueryOptions(ctx.query, ctx.limits);
  const name = pathArg(ctx, CHECKS_PREFIX, 'Missing service name');
  checkDatacenter(ctx.query, ctx.backend);
  const filter = compileQueryFilter(ctx.query, HEALTH_CHECK_SCHEMA);
  const list = await catalogRead(ctx, opts, (store, ws) => {
    const r = store.serviceChecks(name, ws);
    let rows = r.value;
    // Consul's ServiceChecksByNodeMeta: each check's node is read (and watched).
    if (meta !== undefined) {
      rows = rows.filter((c) => {
        const n = store.node(c.Node, ws).value;
        return n !== undefined && satisfiesMeta(n.Meta, meta);
      });
    }
    return { index: r.index, value: checkList(rows, filter) };
  });
  return goAnswer(ctx, list);
}

async function checksInState(ctx: Ctx): Promise<Answer> {
  const meta = parseNodeMeta(ctx.query);
  const opts = parseQueryOptions(ctx.query, ctx.limits);
  const state = pathArg(ctx, STATE_PREFIX, 'Missing check state');
  checkDatacenter(ctx.query, ctx.backend);
  const filter = compileQueryFilter(ctx.query, HEALTH_CHECK_SCHEMA);
  const known = state === 'any' || (CHECK_STATUSES as readonly string[]).includes(state);
  const list = await catalogRead(ctx, opts, (store, ws) => {
    // Consul does not validate the state: it looks it up in the checks' status index, so an
    // unknown state lists nothing (200) with the checks index, and blocks until the wait ends.
    if (!known) {
      watchNothing(ws, `checks.status.${state}`);
      return { index: store.maxIndex('checks'), value: [] as unknown[] };
    }
    const r = store.checksInState(state as CheckStatus | 'any', ws);
    let rows = r.value;
    if (meta !== undefined) {
      rows = rows.filter((c) => {
        const n = store.node(c.Node, ws).value;
        return n !== undefined && satisfiesMeta(n.Meta, meta);
      });
    }
    return { index: r.index, value: checkList(rows, filter) };
  });
  return goAnswer(ctx, list);
}

/** Go's strconv.ParseBool. */
function parseGoBool(s: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  return undefined;
}

/** `?passing` (Consul's getBoolQueryParam): present and empty means true. */
function parsePassing(q: Query): boolean {
  const v = q.get('passing');
  if (v === undefined) return false;
  const first = v[0] ?? '';
  if (first === '') return true;
  const b = parseGoBool(first);
  if (b === undefined) throw badRequest('Invalid value for ?passing');
  return b;
}

/** structs.CheckServiceNode: the node, the instance, its node checks then its own checks. */
function checkServiceNodeJson(x: CheckServiceNode): Record<string, unknown> {
  const checks = [...x.Checks].sort(
    (a, b) => Number(a.ServiceID !== '') - Number(b.ServiceID !== '') || byNodeThenCheck(a, b),
  );
  return {
    Node: nodeJson(x.Node),
    Service: nodeServiceJson(x.Service),
    Checks: checks.map(checkJson),
  };
}

/**
 * Consul's filterNonPassing, order effects included: a failing entry is swapped with the last
 * kept one, so the survivors are not always in their original order.
 */
function filterNonPassing<T extends { readonly Checks: readonly HealthCheck[] }>(nodes: T[]): T[] {
  const out = [...nodes];
  let n = out.length;
  for (let i = 0; i < n; i++) {
    const node = out[i];
    if (node === undefined || node.Checks.every((c) => c.Status === 'passing')) continue;
    out[i] = out[n - 1] as T;
    n--;
    i--;
  }
  return out.slice(0, n);
}

async function serviceNodes(ctx: Ctx, connect: boolean): Promise<Answer> {
  const meta = parseNodeMeta(ctx.query);
  const opts = parseQueryOptions(ctx.query, ctx.limits);
  // A connect lookup ignores ?tag (Consul's Health.ServiceNodes takes the Connect branch first).
  const tags = connect ? undefined : parseTags(ctx.query);
  const name = pathArg(ctx, connect ? CONNECT_PREFIX : SERVICE_PREFIX, 'Missing service name');
  // Consul parses ?passing after the read (a bad value is a 400 after blocking); parsing it
  // first answers the same 400 without making the caller wait.
  const passing = parsePassing(ctx.query);
  checkDatacenter(ctx.query, ctx.backend);
  const filter = compileQueryFilter(ctx.query, CHECK_SERVICE_NODE_SCHEMA);
  const list = await catalogRead(ctx, opts, (store, ws) => {
    const r = store.checkServiceNodes(
      name,
      connect ? { connect: true } : tags === undefined ? {} : { tags },
      ws,
    );
    let rows = [...r.value].sort((a, b) => byNodeThenServiceId(a.Service, b.Service));
    if (meta !== undefined) rows = rows.filter((x) => satisfiesMeta(x.Node.Meta, meta));
    let shaped = rows.map((x) => ({ row: x, json: checkServiceNodeJson(x) }));
    if (filter !== undefined) shaped = shaped.filter((x) => filter(x.json));
    if (passing) {
      shaped = filterNonPassing(shaped.map((x) => ({ ...x, Checks: x.row.Checks })));
    }
    return { index: r.index, value: shaped.map((x) => x.json) };
  });
  return goAnswer(ctx, list);
}

/** Consul's agent/http_register.go entries for /v1/health. */
export const HEALTH_ENDPOINTS: readonly Endpoint[] = [
  { path: NODE_PREFIX, methods: ['GET'], prefix: true, handler: nodeChecks },
  { path: CHECKS_PREFIX, methods: ['GET'], prefix: true, handler: serviceChecks },
  { path: STATE_PREFIX, methods: ['GET'], prefix: true, handler: checksInState },
  {
    path: SERVICE_PREFIX,
    methods: ['GET'],
    prefix: true,
    handler: (ctx) => serviceNodes(ctx, false),
  },
  {
    path: CONNECT_PREFIX,
    methods: ['GET'],
    prefix: true,
    handler: (ctx) => serviceNodes(ctx, true),
  },
];
