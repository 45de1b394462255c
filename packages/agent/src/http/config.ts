/**
 * Config entries (Consul's config_endpoint.go): `PUT /v1/config` (`?cas=`),
 * `GET /v1/config/:kind`, `GET|DELETE /v1/config/:kind/:name` (`?cas=` on delete). Entries are
 * decoded and validated by @trellis/connect, checked against the entries they depend on
 * (L7 intentions need an HTTP-like destination, ingress listeners their services' protocol),
 * and stored through Raft as the canonical body.
 */
import {
  CONFIG_ENTRY_KINDS,
  ConnectError,
  ConnectErrorCode,
  INGRESS_GATEWAY,
  PROXY_CONFIG_GLOBAL,
  PROXY_DEFAULTS,
  SERVICE_DEFAULTS,
  SERVICE_INTENTIONS,
  decodeConfigEntry,
  effectiveProtocol,
  encodeConfigEntry,
  validateIngressProtocols,
  validateIntentionsProtocol,
  type ConfigEntry,
  type IngressGatewayEntry,
  type ProxyDefaultsEntry,
  type ServiceDefaultsEntry,
  type ServiceIntentionsEntry,
  type StoredIntentions,
} from '@trellis/connect';
import {
  MAX_CONFIG_ENTRY_BYTES,
  MessageType,
  type ConfigEntryRow,
  type PlainMap,
  type StateStore,
} from '@trellis/state';
import { json, setMeta, type Answer, type Ctx } from './context.js';
import type { Endpoint } from './endpoints.js';
import { HttpError, badRequest, methodNotAllowed } from './errors.js';
import { blockingRead, checkDatacenter, parseQueryOptions, readBody } from './request.js';
import { parseJsonObject, parseUint, qget, qhas } from './wire.js';

const PREFIX = '/v1/config/';

/** A ConnectError → the HTTP error Consul answers with (400, or 404 for a missing intention). */
export function connectHttpError(e: unknown): unknown {
  if (e instanceof ConnectError) {
    return new HttpError(e.code === ConnectErrorCode.IntentionNotFound ? 404 : 400, e.message);
  }
  return e;
}

export function entryOf(row: ConfigEntryRow): ConfigEntry {
  return row.Entry as unknown as ConfigEntry;
}

export function entryJson(row: ConfigEntryRow): Record<string, unknown> {
  return encodeConfigEntry(entryOf(row), {
    createIndex: row.CreateIndex,
    modifyIndex: row.ModifyIndex,
  });
}

/** The service-intentions entries as @trellis/connect reads them. */
export function storedIntentions(rows: readonly ConfigEntryRow[]): StoredIntentions[] {
  return rows.map((r) => ({
    entry: entryOf(r) as ServiceIntentionsEntry,
    createIndex: r.CreateIndex,
    modifyIndex: r.ModifyIndex,
  }));
}

/** A proposed change of the config entries: an entry written, or one deleted. */
export type ProposedChange = ConfigEntry | { readonly deleted: { kind: string; name: string } };

/**
 * Each service's protocol as the store would have it after `proposed` (an entry written, or
 * one deleted): what L7 intentions and ingress listeners are checked against.
 */
export function protocolResolver(
  store: StateStore,
  proposed?: ProposedChange,
): (service: string) => string {
  const written = proposed !== undefined && 'Kind' in proposed ? proposed : undefined;
  const deleted = proposed !== undefined && 'deleted' in proposed ? proposed.deleted : undefined;
  const isDeleted = (kind: string, name: string): boolean =>
    deleted?.kind === kind && deleted.name.toLowerCase() === name.toLowerCase();
  const pd = isDeleted(PROXY_DEFAULTS, PROXY_CONFIG_GLOBAL)
    ? undefined
    : store.configEntry(PROXY_DEFAULTS, PROXY_CONFIG_GLOBAL).value;
  const proxyDefaults =
    written?.Kind === PROXY_DEFAULTS
      ? written
      : pd === undefined
        ? undefined
        : (entryOf(pd) as ProxyDefaultsEntry);
  return (service) => {
    let sd: ServiceDefaultsEntry | undefined;
    if (
      written?.Kind === SERVICE_DEFAULTS &&
      written.Name.toLowerCase() === service.toLowerCase()
    ) {
      sd = written;
    } else if (!isDeleted(SERVICE_DEFAULTS, service)) {
      const row = store.configEntry(SERVICE_DEFAULTS, service).value;
      sd = row === undefined ? undefined : (entryOf(row) as ServiceDefaultsEntry);
    }
    return effectiveProtocol(service, sd, proxyDefaults);
  };
}

/**
 * Consul's validateProposedConfigEntryInGraph: the proposed change must agree with the other
 * entries. A protocol change (service-defaults, proxy-defaults, written or deleted) is checked
 * against every L7 intention and every ingress listener; intentions and ingress entries
 * against the protocols. Deleting an intention or an ingress gateway breaks nothing.
 */
export function validateInGraph(store: StateStore, change: ProposedChange): void {
  const protocolOf = protocolResolver(store, change);
  const kind = 'Kind' in change ? change.Kind : change.deleted.kind;
  if ('Kind' in change && change.Kind === SERVICE_INTENTIONS) {
    validateIntentionsProtocol(change, protocolOf);
    return;
  }
  if ('Kind' in change && change.Kind === INGRESS_GATEWAY) {
    validateIngressProtocols(change, protocolOf, { strict: true });
    return;
  }
  if (kind !== SERVICE_DEFAULTS && kind !== PROXY_DEFAULTS) return;
  for (const row of store.configEntries(SERVICE_INTENTIONS).value) {
    validateIntentionsProtocol(entryOf(row) as ServiceIntentionsEntry, protocolOf);
  }
  for (const row of store.configEntries(INGRESS_GATEWAY).value) {
    validateIngressProtocols(entryOf(row) as IngressGatewayEntry, protocolOf, {
      strict: false,
    });
  }
}

function knownKind(kind: string): void {
  if (!(CONFIG_ENTRY_KINDS as readonly string[]).includes(kind)) {
    throw badRequest(`invalid config entry kind: ${kind}`);
  }
}

function casParam(ctx: Ctx): number | undefined {
  if (!qhas(ctx.query, 'cas')) return undefined;
  const v = parseUint(qget(ctx.query, 'cas'));
  if (v === undefined) throw badRequest('Failed to parse cas parameter');
  return v;
}

async function configApply(ctx: Ctx): Promise<Answer> {
  const raw = parseJsonObject(await readBody(ctx.request.raw, MAX_CONFIG_ENTRY_BYTES));
  checkDatacenter(ctx.query, ctx.backend);
  const cas = casParam(ctx);
  let entry: ConfigEntry;
  try {
    entry = decodeConfigEntry(raw);
  } catch (e) {
    throw connectHttpError(e);
  }
  // The entries it is checked against are the leader's, not a lagging replica's.
  await ctx.backend.readBarrier('default', ctx.signal);
  try {
    validateInGraph(ctx.backend.store, entry);
  } catch (e) {
    throw connectHttpError(e);
  }
  const out = await ctx.backend.apply({
    type: MessageType.ConfigEntry,
    now: Date.now(),
    body: {
      Op: cas === undefined ? 'upsert' : 'upsert-cas',
      Kind: entry.Kind,
      Name: entry.Name,
      Entry: entry as unknown as PlainMap,
      ...(cas === undefined ? {} : { Index: cas }),
    },
  });
  return json(out.value === true);
}

async function configGet(ctx: Ctx): Promise<Answer> {
  const rest = ctx.path.slice(PREFIX.length);
  const parts = rest.split('/');
  const kind = parts[0] ?? '';
  if (kind === '') throw badRequest('Must provide either a kind or both kind and name');
  if (parts.length > 2) throw badRequest('Must provide either a kind or both kind and name');
  const name = parts[1] ?? '';
  if (ctx.method === 'DELETE') {
    if (parts.length !== 2 || name === '') throw badRequest('Must provide both kind and name');
    checkDatacenter(ctx.query, ctx.backend);
    knownKind(kind);
    const cas = casParam(ctx);
    // Consul validates a delete in the graph too: L7 intentions and ingress listeners may
    // depend on the protocol a service-defaults or proxy-defaults entry sets.
    await ctx.backend.readBarrier('default', ctx.signal);
    try {
      if (ctx.backend.store.configEntry(kind, name).value !== undefined) {
        validateInGraph(ctx.backend.store, { deleted: { kind, name } });
      }
    } catch (e) {
      throw connectHttpError(e);
    }
    const out = await ctx.backend.apply({
      type: MessageType.ConfigEntry,
      now: Date.now(),
      body: {
        Op: cas === undefined ? 'delete' : 'delete-cas',
        Kind: kind,
        Name: name,
        ...(cas === undefined ? {} : { Index: cas }),
      },
    });
    // Consul answers the CAS form with the bool and the plain form with {}.
    return cas === undefined ? json({}) : json(out.value === true);
  }
  if (ctx.method !== 'GET') throw methodNotAllowed(ctx.method, ['GET', 'DELETE']);
  const opts = parseQueryOptions(ctx.query, ctx.limits);
  checkDatacenter(ctx.query, ctx.backend);
  knownKind(kind);
  if (parts.length === 2 && name !== '') {
    const { result, meta } = await blockingRead(ctx.backend, opts, ctx.signal, (store, ws) =>
      store.configEntry(kind, name, ws),
    );
    setMeta(ctx, result.index, meta, opts.mode);
    if (result.value === undefined) {
      throw new HttpError(404, `Config entry not found for "${kind}" / "${name}"`);
    }
    return json(entryJson(result.value));
  }
  const { result, meta } = await blockingRead(ctx.backend, opts, ctx.signal, (store, ws) =>
    store.configEntries(kind, ws),
  );
  setMeta(ctx, result.index, meta, opts.mode);
  return json(result.value.map(entryJson));
}

async function config(ctx: Ctx): Promise<Answer> {
  if (ctx.method !== 'PUT') throw methodNotAllowed(ctx.method, ['PUT']);
  return configApply(ctx);
}

export const CONFIG_ENDPOINTS: readonly Endpoint[] = [
  { path: '/v1/config', methods: ['PUT'], readsBody: true, handler: config },
  { path: PREFIX, methods: ['GET', 'DELETE'], prefix: true, handler: configGet },
];
