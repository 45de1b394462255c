/**
 * The intentions API (Consul's intentions_endpoint.go), over `service-intentions` config
 * entries as Consul ≥ 1.9 stores them:
 * - `GET /v1/connect/intentions` (list), `POST` (legacy create → `{"ID": …}`);
 * - `GET|PUT|DELETE /v1/connect/intentions/exact?source=&destination=`;
 * - `GET|PUT|DELETE /v1/connect/intentions/:id` (legacy IDs);
 * - `GET /v1/connect/intentions/match?by=source|destination&name=…`;
 * - `GET /v1/connect/intentions/check?source=&destination=` → `{"Allowed": …}`.
 * Every write is a check-and-set on the destination's entry (retried a few times when a
 * concurrent write came first), so two edits of one destination never lose each other.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  SERVICE_INTENTIONS,
  checkIntention,
  decodeIntentionBody,
  deleteIntentionExact,
  findIntentionById,
  findIntentionExact,
  intentionRules,
  legacyCreateIntention,
  legacyDeleteIntention,
  legacyUpdateIntention,
  listIntentions,
  matchIntentions,
  upsertIntentionExact,
  validateIntentionsProtocol,
  type IntentionMutation,
  type ServiceIntentionsEntry,
} from '@trellis/connect';
import { MessageType, type PlainMap } from '@trellis/state';
import type { Backend } from './backend.js';
import { json, setMeta, type Answer, type Ctx } from './context.js';
import type { Endpoint } from './endpoints.js';
import { HttpError, badRequest, methodNotAllowed } from './errors.js';
import { blockingRead, checkDatacenter, parseQueryOptions, readBody } from './request.js';
import { connectHttpError, entryOf, protocolResolver, storedIntentions } from './config.js';
import { parseJsonObject, qget } from './wire.js';

const PREFIX = '/v1/connect/intentions/';
/** Largest intention body (L7 permissions included). */
export const INTENTION_MAX_BODY_BYTES = 256 * 1024;
const CAS_ATTEMPTS = 5;
/** The first retry's jitter window after a lost CAS (doubling with each attempt). */
const CAS_RETRY_MS = 20;

function entriesNow(ctx: Ctx): ServiceIntentionsEntry[] {
  return ctx.backend.store
    .configEntries(SERVICE_INTENTIONS)
    .value.map((r) => entryOf(r) as ServiceIntentionsEntry);
}

/**
 * Applies `mutate` to the current entries and writes the result as a CAS on the entry it
 * touches; a lost CAS re-reads and tries again.
 */
async function mutate(
  ctx: Ctx,
  fn: (entries: ServiceIntentionsEntry[]) => IntentionMutation,
): Promise<IntentionMutation> {
  return serialized(ctx.backend, () => mutateNow(ctx, fn));
}

/**
 * The intention writes made through one agent, one after another: concurrent writes to one
 * destination would otherwise all read the same entry, and all but one lose the CAS at each
 * round, so a burst of N writes needs N rounds (more than CAS_ATTEMPTS). The CAS stays for
 * writes made through other agents at the same time.
 */
const writeQueues = new WeakMap<Backend, Promise<unknown>>();

function serialized<T>(backend: Backend, fn: () => Promise<T>): Promise<T> {
  const run = (writeQueues.get(backend) ?? Promise.resolve()).then(fn, fn);
  writeQueues.set(
    backend,
    run.catch(() => undefined),
  );
  return run;
}

async function mutateNow(
  ctx: Ctx,
  fn: (entries: ServiceIntentionsEntry[]) => IntentionMutation,
): Promise<IntentionMutation> {
  for (let attempt = 0; ; attempt++) {
    await ctx.backend.readBarrier('default', ctx.signal);
    const store = ctx.backend.store;
    let m: IntentionMutation;
    try {
      m = fn(entriesNow(ctx));
      if (m.op === 'upsert') validateIntentionsProtocol(m.entry, protocolResolver(store));
    } catch (e) {
      throw connectHttpError(e);
    }
    if (m.op === 'none') return m;
    const name = m.op === 'upsert' ? m.entry.Name : m.name;
    const index = store.configEntry(SERVICE_INTENTIONS, name).value?.ModifyIndex ?? 0;
    const out = await ctx.backend.apply({
      type: MessageType.ConfigEntry,
      now: Date.now(),
      body:
        m.op === 'upsert'
          ? {
              Op: 'upsert-cas',
              Kind: SERVICE_INTENTIONS,
              Name: name,
              Entry: m.entry as unknown as PlainMap,
              Index: index,
            }
          : { Op: 'delete-cas', Kind: SERVICE_INTENTIONS, Name: name, Index: index },
    });
    if (out.value === true) return m;
    if (attempt + 1 >= CAS_ATTEMPTS) {
      throw new HttpError(
        500,
        `intentions for ${JSON.stringify(name)} changed concurrently; retry`,
      );
    }
    // Lost to a write through another agent: let it settle (jittered, so two agents that
    // collided do not collide again in lockstep).
    await sleep(Math.random() * CAS_RETRY_MS * 2 ** attempt, undefined, { signal: ctx.signal });
  }
}

async function body(ctx: Ctx): Promise<Readonly<Record<string, unknown>>> {
  return parseJsonObject(await readBody(ctx.request.raw, INTENTION_MAX_BODY_BYTES));
}

async function intentions(ctx: Ctx): Promise<Answer> {
  if (ctx.method === 'GET') {
    const opts = parseQueryOptions(ctx.query, ctx.limits);
    checkDatacenter(ctx.query, ctx.backend);
    const { result, meta } = await blockingRead(ctx.backend, opts, ctx.signal, (store, ws) =>
      store.configEntries(SERVICE_INTENTIONS, ws),
    );
    setMeta(ctx, result.index, meta, opts.mode);
    return json(listIntentions(storedIntentions(result.value)));
  }
  if (ctx.method !== 'POST') throw methodNotAllowed(ctx.method, ['GET', 'POST']);
  const raw = await body(ctx);
  checkDatacenter(ctx.query, ctx.backend);
  const id = randomUUID();
  const now = new Date().toISOString();
  await mutate(ctx, (entries) => {
    const dest = decodeIntentionBody(raw).DestinationName.toLowerCase();
    return legacyCreateIntention(
      entries.find((e) => e.Name.toLowerCase() === dest),
      raw,
      { id, now },
    );
  });
  return json({ ID: id });
}

function exactNames(ctx: Ctx): { source: string; destination: string } {
  const source = qget(ctx.query, 'source');
  const destination = qget(ctx.query, 'destination');
  if (source === '') throw badRequest("required query parameter 'source' not set");
  if (destination === '') throw badRequest("required query parameter 'destination' not set");
  return { source, destination };
}

async function exact(ctx: Ctx): Promise<Answer> {
  switch (ctx.method) {
    case 'GET': {
      const opts = parseQueryOptions(ctx.query, ctx.limits);
      checkDatacenter(ctx.query, ctx.backend);
      const { source, destination } = exactNames(ctx);
      const { result, meta } = await blockingRead(ctx.backend, opts, ctx.signal, (store, ws) =>
        store.configEntries(SERVICE_INTENTIONS, ws),
      );
      setMeta(ctx, result.index, meta, opts.mode);
      const found = findIntentionExact(storedIntentions(result.value), source, destination);
      if (found === undefined) throw new HttpError(404, 'Intention not found');
      return json(found);
    }
    case 'PUT': {
      const raw = await body(ctx);
      checkDatacenter(ctx.query, ctx.backend);
      const { source, destination } = exactNames(ctx);
      await mutate(ctx, (entries) =>
        upsertIntentionExact(
          entries.find((e) => e.Name.toLowerCase() === destination.toLowerCase()),
          source,
          destination,
          raw,
        ),
      );
      return json(true);
    }
    case 'DELETE': {
      checkDatacenter(ctx.query, ctx.backend);
      const { source, destination } = exactNames(ctx);
      await mutate(ctx, (entries) =>
        deleteIntentionExact(
          entries.find((e) => e.Name.toLowerCase() === destination.toLowerCase()),
          source,
          destination,
        ),
      );
      return json(true);
    }
    default:
      throw methodNotAllowed(ctx.method, ['GET', 'PUT', 'DELETE']);
  }
}

async function match(ctx: Ctx): Promise<Answer> {
  const opts = parseQueryOptions(ctx.query, ctx.limits);
  checkDatacenter(ctx.query, ctx.backend);
  const by = qget(ctx.query, 'by');
  if (by === '') throw badRequest("required query parameter 'by' not set");
  if (by !== 'source' && by !== 'destination') {
    throw badRequest(`'by' parameter must be one of 'source' or 'destination'`);
  }
  const names = ctx.query.get('name') ?? [];
  if (names.length === 0) throw badRequest("required query parameter 'name' not set");
  if (names.length > 64) throw badRequest('at most 64 names may be matched at once');
  const { result, meta } = await blockingRead(ctx.backend, opts, ctx.signal, (store, ws) =>
    store.configEntries(SERVICE_INTENTIONS, ws),
  );
  setMeta(ctx, result.index, meta, opts.mode);
  try {
    return json(matchIntentions(storedIntentions(result.value), { by, names }));
  } catch (e) {
    throw connectHttpError(e);
  }
}

async function check(ctx: Ctx): Promise<Answer> {
  const opts = parseQueryOptions(ctx.query, ctx.limits);
  checkDatacenter(ctx.query, ctx.backend);
  const source = qget(ctx.query, 'source');
  const destination = qget(ctx.query, 'destination');
  if (source === '') throw badRequest("required query parameter 'source' not set");
  if (destination === '') throw badRequest("required query parameter 'destination' not set");
  const sourceType = qget(ctx.query, 'source-type');
  if (sourceType !== '' && sourceType !== 'consul') {
    throw badRequest(`unsupported SourceType: ${JSON.stringify(sourceType)}`);
  }
  const { result, meta } = await blockingRead(ctx.backend, opts, ctx.signal, (store, ws) =>
    store.configEntries(SERVICE_INTENTIONS, ws),
  );
  setMeta(ctx, result.index, meta, opts.mode);
  const rules = intentionRules(result.value.map((r) => entryOf(r) as ServiceIntentionsEntry));
  return json(
    checkIntention({
      intentions: rules,
      source,
      destination,
      defaultAllow: ctx.aclDefaultPolicy !== 'deny',
    }),
  );
}

async function byId(ctx: Ctx): Promise<Answer> {
  const id = ctx.path.slice(PREFIX.length);
  if (id === '' || id.includes('/')) throw badRequest('Missing intention ID');
  switch (ctx.method) {
    case 'GET': {
      const opts = parseQueryOptions(ctx.query, ctx.limits);
      checkDatacenter(ctx.query, ctx.backend);
      const { result, meta } = await blockingRead(ctx.backend, opts, ctx.signal, (store, ws) =>
        store.configEntries(SERVICE_INTENTIONS, ws),
      );
      setMeta(ctx, result.index, meta, opts.mode);
      const found = findIntentionById(storedIntentions(result.value), id);
      if (found === undefined) throw new HttpError(404, 'Intention not found');
      return json(found);
    }
    case 'PUT': {
      const raw = await body(ctx);
      checkDatacenter(ctx.query, ctx.backend);
      const now = new Date().toISOString();
      await mutate(ctx, (entries) => legacyUpdateIntention(entries, id, raw, { now }));
      return json(true);
    }
    case 'DELETE': {
      checkDatacenter(ctx.query, ctx.backend);
      await mutate(ctx, (entries) => legacyDeleteIntention(entries, id));
      return json(true);
    }
    default:
      throw methodNotAllowed(ctx.method, ['GET', 'PUT', 'DELETE']);
  }
}

/** `/v1/connect/intentions/…`: the named sub-endpoints first, then an ID. */
async function sub(ctx: Ctx): Promise<Answer> {
  const rest = ctx.path.slice(PREFIX.length);
  switch (rest) {
    case 'exact':
      return exact(ctx);
    case 'match':
      if (ctx.method !== 'GET') throw methodNotAllowed(ctx.method, ['GET']);
      return match(ctx);
    case 'check':
      if (ctx.method !== 'GET') throw methodNotAllowed(ctx.method, ['GET']);
      return check(ctx);
    default:
      return byId(ctx);
  }
}

export const INTENTION_ENDPOINTS: readonly Endpoint[] = [
  {
    path: '/v1/connect/intentions',
    methods: ['GET', 'POST'],
    readsBody: true,
    handler: intentions,
  },
  {
    path: PREFIX,
    methods: ['GET', 'PUT', 'DELETE'],
    prefix: true,
    readsBody: true,
    handler: sub,
  },
];
