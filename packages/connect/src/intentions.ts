/**
 * Intentions: the legacy `/v1/connect/intentions` view of service-intentions config entries,
 * its ordering and matching, and the pure conversions behind the write endpoints.
 *
 * Since Consul 1.9 intentions are stored only as service-intentions config entries (one per
 * destination, one source per intention). Sources read (hashicorp/consul):
 * agent/structs/intention.go (Intention, SetHash, Validate, UpdatePrecedence, String,
 * IntentionPrecedenceSorter, ToSourceIntention), config_entry_intentions.go (ToIntention,
 * UpsertSourceByName, DeleteSourceByLegacyID, UpdateOver), agent/consul/intention_endpoint.go
 * (Apply: computeApplyChangesLegacyCreate/LegacyUpdate/Upsert/LegacyDelete/Delete),
 * agent/consul/state/intention.go (IntentionMutation, checkLegacyIntentionApplyAllowed,
 * intentionMatchGetParams), agent/intentions_endpoint.go (IntentionPutExact).
 *
 * What Consul does and Trellis keeps:
 * - An intention written through the legacy API (`POST /v1/connect/intentions`) keeps its
 *   UUID as the source's LegacyID and carries it as `ID`; its Meta, CreatedAt and UpdatedAt
 *   live in LegacyMeta/LegacyCreateTime/LegacyUpdateTime, and `Hash` is BLAKE2b-256 of its
 *   fields (for pre-1.9 replication). Intentions written as config entries or through
 *   `PUT /v1/connect/intentions/exact` have no ID (the field is omitted, as in Consul) and
 *   are addressed by source and destination.
 * - The legacy ID API refuses to edit a destination whose entry has any source without a
 *   LegacyID; a config-entry write (or an exact upsert/delete) drops every LegacyID of the entry.
 * - The ID is random in Consul; here the caller passes it (and the clock) in.
 */
import { createHash } from 'node:crypto';
import {
  buildIntentionsEntry,
  decodePermissions,
  WILDCARD,
  type IntentionAction,
  type IntentionPermission,
  type IntentionSourceType,
  type RaftIndex,
  type ServiceIntentionsEntry,
  type SourceDraft,
  type SourceIntention,
} from './config-entries.js';
import { Reader, readStruct, type StructSpec } from './decode.js';
import { ConnectError, ConnectErrorCode, goQuote } from './errors.js';

/** The only namespace Trellis has. */
export const DEFAULT_NAMESPACE = 'default';

/**
 * One intention as the `/v1/connect/intentions` endpoints answer it: Consul's JSON field order
 * and omitempty rules (CreatedAt/UpdatedAt only for legacy intentions, which Consul's
 * MarshalJSON puts first).
 */
export interface Intention {
  readonly CreatedAt?: string;
  readonly UpdatedAt?: string;
  /** The LegacyID; absent for intentions not created through the legacy API. */
  readonly ID?: string;
  readonly Description?: string;
  readonly SourceNS: string;
  readonly SourceName: string;
  readonly DestinationNS: string;
  readonly DestinationName: string;
  readonly SourceType: IntentionSourceType;
  /** Absent for an L7 intention (one with Permissions). */
  readonly Action?: IntentionAction;
  readonly Permissions?: readonly IntentionPermission[];
  readonly Meta?: Readonly<Record<string, string>>;
  readonly Precedence: number;
  /** Base64 BLAKE2b-256, legacy intentions only. */
  readonly Hash?: string;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
}

/** A stored service-intentions entry with its Raft indexes. */
export interface StoredIntentions extends RaftIndex {
  readonly entry: ServiceIntentionsEntry;
}

/** The part of an intention that decides (what `authorize` and `compileIntentions` read). */
export interface IntentionRule {
  readonly ID?: string;
  readonly SourceName: string;
  readonly DestinationName: string;
  readonly Action?: IntentionAction;
  readonly Permissions?: readonly IntentionPermission[];
  readonly Precedence: number;
}

/** Consul's ServiceIntentionsConfigEntry.ToIntention for one source. */
export function toIntention(
  entry: ServiceIntentionsEntry,
  src: SourceIntention,
  index: RaftIndex,
): Intention {
  const legacy = src.LegacyID !== undefined && src.LegacyID !== '';
  const meta = legacy ? (src.LegacyMeta ?? {}) : (entry.Meta ?? {});
  const base = {
    ...(src.LegacyCreateTime !== undefined ? { CreatedAt: src.LegacyCreateTime } : {}),
    ...(src.LegacyUpdateTime !== undefined ? { UpdatedAt: src.LegacyUpdateTime } : {}),
    ...(legacy ? { ID: src.LegacyID } : {}),
    ...(src.Description !== undefined ? { Description: src.Description } : {}),
    SourceNS: DEFAULT_NAMESPACE,
    SourceName: src.Name,
    DestinationNS: DEFAULT_NAMESPACE,
    DestinationName: entry.Name,
    SourceType: src.Type,
    ...(src.Action !== undefined ? { Action: src.Action } : {}),
    ...(src.Permissions !== undefined ? { Permissions: src.Permissions } : {}),
    ...(Object.keys(meta).length > 0 ? { Meta: meta } : {}),
    Precedence: src.Precedence,
  };
  return {
    ...base,
    ...(legacy ? { Hash: legacyIntentionHash(base, meta) } : {}),
    CreateIndex: index.createIndex,
    ModifyIndex: index.modifyIndex,
  };
}

/** All intentions of one entry, in the entry's (precedence) order. */
export function intentionsOf(stored: StoredIntentions): Intention[] {
  return stored.entry.Sources.map((s) => toIntention(stored.entry, s, stored));
}

/** `GET /v1/connect/intentions`: every intention, in Consul's precedence order. */
export function listIntentions(stored: readonly StoredIntentions[]): Intention[] {
  return sortIntentions(stored.flatMap(intentionsOf));
}

/** The fields Consul's IntentionPrecedenceSorter reads. */
export interface IntentionOrderKey {
  readonly Precedence: number;
  readonly SourceNS?: string;
  readonly SourceName: string;
  readonly DestinationNS?: string;
  readonly DestinationName: string;
}

/**
 * Consul's IntentionPrecedenceSorter: precedence descending, then source namespace, source
 * name, destination namespace and destination name ascending (Go byte order). Returns a copy.
 */
export function sortIntentions<T extends IntentionOrderKey>(list: readonly T[]): T[] {
  return [...list].sort(compareIntentions);
}

export function compareIntentions(a: IntentionOrderKey, b: IntentionOrderKey): number {
  if (a.Precedence !== b.Precedence) return b.Precedence - a.Precedence;
  return (
    compareGo(a.SourceNS ?? DEFAULT_NAMESPACE, b.SourceNS ?? DEFAULT_NAMESPACE) ||
    compareGo(a.SourceName, b.SourceName) ||
    compareGo(a.DestinationNS ?? DEFAULT_NAMESPACE, b.DestinationNS ?? DEFAULT_NAMESPACE) ||
    compareGo(a.DestinationName, b.DestinationName)
  );
}

/** Go's string comparison (UTF-8 byte order, which is code point order). */
export function compareGo(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.codePointAt(i) as number;
    const cb = b.codePointAt(i) as number;
    if (ca !== cb) return ca < cb ? -1 : 1;
    if (ca > 0xffff) i++;
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

/** Consul's Intention.String(): `default/web => default/db (ID: …, Precedence: 9, Action: ALLOW)`. */
export function intentionString(ixn: IntentionRule): string {
  return describeIntention(
    ixn.ID ?? '',
    ixn.SourceName,
    ixn.DestinationName,
    ixn.Precedence,
    ixn.Permissions?.length ?? 0,
    ixn.Action ?? '',
  );
}

/** {@link intentionString} from its parts (shared with the compiled authorizer). */
export function describeIntention(
  id: string,
  source: string,
  destination: string,
  precedence: number,
  permissions: number,
  action: string,
): string {
  const idPart = id !== '' ? `ID: ${id}, ` : '';
  const detail =
    permissions > 0 ? `Permissions: ${permissions}` : `Action: ${action.toUpperCase()}`;
  return `${DEFAULT_NAMESPACE}/${source} => ${DEFAULT_NAMESPACE}/${destination} (${idPart}Precedence: ${precedence}, ${detail})`;
}

/** `GET /v1/connect/intentions/:id`: the legacy intention with that ID. */
export function findIntentionById(
  stored: readonly StoredIntentions[],
  id: string,
): Intention | undefined {
  if (id === '') return undefined;
  for (const s of stored) {
    const src = s.entry.Sources.find((x) => x.LegacyID === id);
    if (src !== undefined) return toIntention(s.entry, src, s);
  }
  return undefined;
}

/**
 * `GET /v1/connect/intentions/exact?source=&destination=`. The entry is looked up by name
 * case-insensitively (as the config-entry table is); the source by exact name.
 */
export function findIntentionExact(
  stored: readonly StoredIntentions[],
  source: string,
  destination: string,
): Intention | undefined {
  const s = stored.find((x) => x.entry.Name.toLowerCase() === destination.toLowerCase());
  const src = s?.entry.Sources.find((x) => x.Name === source);
  return s === undefined || src === undefined ? undefined : toIntention(s.entry, src, s);
}

export type IntentionMatchType = 'source' | 'destination';

/**
 * `GET /v1/connect/intentions/match?by=source|destination&name=…` (repeatable): for each name,
 * the intentions whose source (or destination) is that name or `*`, in precedence order. The
 * name `*` matches only wildcard intentions (Consul's intentionMatchGetParams). Names compare
 * case-insensitively (Consul's lower-cased indexes).
 */
export function matchIntentions(
  stored: readonly StoredIntentions[],
  query: { readonly by: IntentionMatchType; readonly names: readonly string[] },
): Record<string, Intention[]> {
  const all = stored.flatMap(intentionsOf);
  return Object.fromEntries(
    query.names.map((name): [string, Intention[]] => {
      const lower = name.toLowerCase();
      const hit = (candidate: string): boolean =>
        candidate === WILDCARD || (name !== WILDCARD && candidate.toLowerCase() === lower);
      const matched = all.filter((i) =>
        hit(query.by === 'source' ? i.SourceName : i.DestinationName),
      );
      return [name, sortIntentions(matched)];
    }),
  );
}

/**
 * Intention rules from config entries without Raft indexes (what a proxy snapshot compiles):
 * one per source, as {@link toIntention} would give them.
 */
export function intentionRules(entries: readonly ServiceIntentionsEntry[]): IntentionRule[] {
  return entries.flatMap((e) =>
    e.Sources.map((s): IntentionRule => ({
      ...(s.LegacyID !== undefined && s.LegacyID !== '' ? { ID: s.LegacyID } : {}),
      SourceName: s.Name,
      DestinationName: e.Name,
      ...(s.Action !== undefined ? { Action: s.Action } : {}),
      ...(s.Permissions !== undefined ? { Permissions: s.Permissions } : {}),
      Precedence: s.Precedence,
    })),
  );
}

// ------------------------------------------------------------------------- legacy hash

/**
 * Consul's Intention.SetHash fields, hashed with SHA-256 instead of Consul's BLAKE2b-256
 * (node:crypto has no 256-bit BLAKE2b; the hash is opaque to clients, which only compare it):
 * over ID, Description, SourceNS, SourceName,
 * DestinationNS, DestinationName, SourceType, Action, the precedence as a little-endian
 * uint64, then each Meta key and value in sorted key order; base64 in JSON ([]byte).
 */
function legacyIntentionHash(
  ixn: {
    readonly ID?: string;
    readonly Description?: string;
    readonly SourceNS: string;
    readonly SourceName: string;
    readonly DestinationNS: string;
    readonly DestinationName: string;
    readonly SourceType: string;
    readonly Action?: string;
    readonly Precedence: number;
  },
  meta: Readonly<Record<string, string>>,
): string {
  const parts: Buffer[] = [
    ixn.ID ?? '',
    ixn.Description ?? '',
    ixn.SourceNS,
    ixn.SourceName,
    ixn.DestinationNS,
    ixn.DestinationName,
    ixn.SourceType,
    ixn.Action ?? '',
  ].map((s) => Buffer.from(s, 'utf8'));
  const prec = Buffer.alloc(8);
  prec.writeBigUInt64LE(BigInt.asUintN(64, BigInt(ixn.Precedence)));
  parts.push(prec);
  for (const k of Object.keys(meta).sort(compareGo)) {
    parts.push(Buffer.from(k, 'utf8'), Buffer.from(meta[k] ?? '', 'utf8'));
  }
  return createHash('sha256').update(Buffer.concat(parts)).digest('base64');
}

// ------------------------------------------------------------------------- legacy writes

const R: Reader = new Reader(ConnectErrorCode.InvalidIntention);

/** A decoded legacy intention body (Go's zero values for what was not sent). */
export interface IntentionBody {
  readonly ID: string;
  readonly Description: string;
  readonly SourceNS: string;
  readonly SourceName: string;
  readonly DestinationNS: string;
  readonly DestinationName: string;
  readonly SourceType: string;
  readonly Action: string;
  readonly Permissions: readonly IntentionPermission[];
  readonly Meta: Readonly<Record<string, string>>;
}

const INTENTION_SPEC: StructSpec = {
  fields: [
    'ID',
    'Description',
    'SourceNS',
    'SourceName',
    'DestinationNS',
    'DestinationName',
    'SourcePartition',
    'DestinationPartition',
    'SourcePeer',
    'SourceSamenessGroup',
    'SourceType',
    'Action',
    'Permissions',
    'Meta',
  ],
  // Go's encoding/json ignores what it does not know: a client may send back what it read
  // (CreatedAt, Precedence, Hash, CreateIndex, …).
  lenient: true,
};

/**
 * Decodes an intention body (`POST /v1/connect/intentions`, `PUT …/:id`, `PUT …/exact`).
 * Types are checked; unknown and read-only fields are ignored, as Go's JSON decoder does.
 */
export function decodeIntentionBody(body: unknown): IntentionBody {
  if (body !== null && body !== undefined && (typeof body !== 'object' || Array.isArray(body))) {
    R.fail('', 'Request decode failed: intention must be a JSON object');
  }
  const f = readStruct(R, body ?? {}, '', INTENTION_SPEC);
  const s = (k: string, max = 4096): string => R.optStr(f.get(k), k, max);
  if (s('SourcePeer') !== '') {
    R.fail(
      'SourcePeer',
      'SourcePeer field is not supported on this endpoint. Use config entries instead',
    );
  }
  if (s('SourceSamenessGroup') !== '') {
    R.fail(
      'SourceSamenessGroup',
      'SourceSamenessGroup field is not supported on this endpoint. Use config entries instead',
    );
  }
  for (const [k, what] of [
    ['SourcePartition', 'source partition'],
    ['DestinationPartition', 'destination partition'],
  ] as const) {
    const v = s(k);
    if (v !== '' && v.toLowerCase() !== 'default') {
      R.fail(k, `Invalid ${what} ${goQuote(v)}: Partitions is a Consul Enterprise feature`);
    }
  }
  for (const [k, what] of [
    ['SourceNS', 'source namespace'],
    ['DestinationNS', 'destination namespace'],
  ] as const) {
    const v = s(k);
    if (v !== '' && v.toLowerCase() !== DEFAULT_NAMESPACE) {
      R.fail(k, `Invalid ${what} ${goQuote(v)}: Namespaces is a Consul Enterprise feature`);
    }
  }
  return {
    ID: s('ID', 256),
    Description: s('Description'),
    SourceNS: DEFAULT_NAMESPACE,
    SourceName: s('SourceName'),
    DestinationNS: DEFAULT_NAMESPACE,
    DestinationName: s('DestinationName'),
    SourceType: s('SourceType', 64),
    Action: s('Action', 64),
    Permissions: decodePermissions(f.get('Permissions'), 'Permissions'),
    Meta: R.optStrMap(f.get('Meta'), 'Meta'),
  };
}

/** Consul's (deprecated) Intention.Validate for the legacy API, one error at a time. */
function validateLegacyBody(b: IntentionBody): void {
  if (b.SourceName === '') R.fail('SourceName', 'SourceName must be set');
  if (b.DestinationName === '') R.fail('DestinationName', 'DestinationName must be set');
  for (const k of ['SourceName', 'DestinationName'] as const) {
    if (b[k] !== WILDCARD && b[k].includes(WILDCARD)) {
      R.fail(k, `${k}: wildcard character '*' cannot be used with partial values`);
    }
  }
  if (Buffer.byteLength(b.Description) > 512) {
    R.fail('Description', 'Description exceeds maximum length 512');
  }
  const keys = Object.keys(b.Meta);
  if (keys.length > 64) R.fail('Meta', 'Meta exceeds maximum element count 64');
  for (const k of keys) {
    if (Buffer.byteLength(k) > 128)
      R.fail('Meta', `Meta key ${goQuote(k)} exceeds maximum length 128`);
    if (Buffer.byteLength(b.Meta[k] ?? '') > 512) {
      R.fail('Meta', `Meta value for key ${goQuote(k)} exceeds maximum length 512`);
    }
  }
  if (b.Action !== 'allow' && b.Action !== 'deny') {
    R.fail('Action', "Action must be set to 'allow' or 'deny'");
  }
  if (b.Permissions.length > 0) {
    R.fail('Permissions', 'Permissions must not be set when using the legacy APIs');
  }
  if ((b.SourceType || 'consul') !== 'consul') {
    R.fail('SourceType', "SourceType must be set to 'consul'");
  }
}

/** What a write does to the service-intentions entry of its destination. */
export type IntentionMutation =
  | { readonly op: 'none' }
  | { readonly op: 'upsert'; readonly entry: ServiceIntentionsEntry }
  | { readonly op: 'delete'; readonly name: string };

function checkLegacyAllowed(prev: ServiceIntentionsEntry | undefined): void {
  if (prev === undefined) return;
  if (prev.Sources.every((s) => s.LegacyID !== undefined && s.LegacyID !== '')) return;
  throw new ConnectError(
    ConnectErrorCode.LegacyIntentionConflict,
    `cannot use legacy intention API to edit intentions with a destination of ${goQuote(prev.Name)} after editing them via a service-intentions config entry`,
  );
}

function sameDestination(entry: ServiceIntentionsEntry, name: string): boolean {
  return entry.Name.toLowerCase() === name.toLowerCase();
}

/**
 * `POST /v1/connect/intentions` (Consul's computeApplyChangesLegacyCreate +
 * intentionMutationLegacyCreate): appends a legacy source to the destination's entry.
 * `existing` is the destination's current entry, if any; `id` the new intention's UUID and
 * `now` the time (RFC 3339), both chosen by the caller.
 */
export function legacyCreateIntention(
  existing: ServiceIntentionsEntry | undefined,
  body: unknown,
  options: { readonly id: string; readonly now: string },
): IntentionMutation & { readonly op: 'upsert' } {
  const b = decodeIntentionBody(body);
  if (b.ID !== '') R.fail('ID', 'ID must be empty when creating a new intention');
  if (options.id === '') R.fail('ID', 'ID must not be empty');
  validateLegacyBody(b);
  if (existing !== undefined && !sameDestination(existing, b.DestinationName)) {
    R.fail('DestinationName', 'the existing entry is for another destination');
  }
  checkLegacyAllowed(existing);
  const draft = legacyDraft(b, options.id, options.now, options.now);
  const entry = buildIntentionsEntry(
    existing?.Name ?? b.DestinationName,
    [...(existing?.Sources ?? []), draft],
    {},
    true,
  );
  return { op: 'upsert', entry };
}

function legacyDraft(b: IntentionBody, id: string, created: string, updated: string): SourceDraft {
  return {
    name: b.SourceName,
    action: b.Action,
    legacyID: id,
    type: b.SourceType || 'consul',
    description: b.Description,
    legacyMeta: b.Meta,
    legacyCreateTime: created,
    legacyUpdateTime: updated,
  };
}

function findLegacy(
  entries: readonly ServiceIntentionsEntry[],
  id: string,
): { entry: ServiceIntentionsEntry; index: number } | undefined {
  if (id === '') return undefined;
  for (const entry of entries) {
    const index = entry.Sources.findIndex((s) => s.LegacyID === id);
    if (index >= 0) return { entry, index };
  }
  return undefined;
}

/**
 * `PUT /v1/connect/intentions/:id` (computeApplyChangesLegacyUpdate +
 * intentionMutationLegacyUpdate): replaces the legacy source with that ID. The destination may
 * not change; the creation time is kept (UpdateOver) and the update time set to `now`.
 */
export function legacyUpdateIntention(
  entries: readonly ServiceIntentionsEntry[],
  id: string,
  body: unknown,
  options: { readonly now: string },
): IntentionMutation & { readonly op: 'upsert' } {
  const found = findLegacy(entries, id);
  if (found === undefined) {
    throw new ConnectError(
      ConnectErrorCode.IntentionNotFound,
      `Cannot modify non-existent intention: '${id}'`,
    );
  }
  checkLegacyAllowed(found.entry);
  const b = { ...decodeIntentionBody(body), ID: id };
  if (found.entry.Name !== b.DestinationName) {
    R.fail(
      'DestinationName',
      'Cannot modify Destination partition/namespace/name for an intention once it exists.',
    );
  }
  validateLegacyBody(b);
  const prev = found.entry.Sources[found.index] as SourceIntention;
  const draft = legacyDraft(b, id, prev.LegacyCreateTime ?? options.now, options.now);
  const sources: (SourceIntention | SourceDraft)[] = [...found.entry.Sources];
  sources[found.index] = draft;
  return { op: 'upsert', entry: buildIntentionsEntry(found.entry.Name, sources, {}, true) };
}

/** `DELETE /v1/connect/intentions/:id` (intentionMutationLegacyDelete). */
export function legacyDeleteIntention(
  entries: readonly ServiceIntentionsEntry[],
  id: string,
): IntentionMutation & { readonly op: 'upsert' | 'delete' } {
  const found = findLegacy(entries, id);
  if (found === undefined) {
    throw new ConnectError(
      ConnectErrorCode.IntentionNotFound,
      `Cannot delete non-existent intention: '${id}'`,
    );
  }
  checkLegacyAllowed(found.entry);
  const rest = found.entry.Sources.filter((_, i) => i !== found.index);
  if (rest.length === 0) return { op: 'delete', name: found.entry.Name };
  return { op: 'upsert', entry: buildIntentionsEntry(found.entry.Name, rest, {}, true) };
}

function requireQuery(source: string, destination: string): void {
  if (source === '') R.fail('source', "required query parameter 'source' not set");
  if (destination === '') R.fail('destination', "required query parameter 'destination' not set");
}

/**
 * `PUT /v1/connect/intentions/exact?source=&destination=` (IntentionPutExact +
 * computeApplyChangesUpsert + intentionMutationUpsert): upserts the source by name, taking the
 * names from the query and ignoring any ID in the body. Meta may only repeat the entry's own.
 * The entry is then normalized as a config-entry write, which drops every LegacyID in it.
 */
export function upsertIntentionExact(
  existing: ServiceIntentionsEntry | undefined,
  source: string,
  destination: string,
  body: unknown,
): IntentionMutation & { readonly op: 'upsert' } {
  requireQuery(source, destination);
  const b = decodeIntentionBody(body);
  if (existing !== undefined && !sameDestination(existing, destination)) {
    R.fail('destination', 'the existing entry is for another destination');
  }
  if (Object.keys(b.Meta).length > 0) {
    if (existing === undefined) R.fail('Meta', 'Meta must not be specified');
    if (!sameStringMap(existing.Meta ?? {}, b.Meta)) {
      R.fail('Meta', 'Meta must not be specified, or should be unchanged during an update.');
    }
  }
  const draft: SourceDraft = {
    name: source,
    action: b.Action,
    permissions: b.Permissions,
    legacyID: '',
    type: b.SourceType,
    description: b.Description,
    legacyMeta: {},
    legacyCreateTime: '',
    legacyUpdateTime: '',
  };
  const sources: (SourceIntention | SourceDraft)[] = [...(existing?.Sources ?? [])];
  const at = sources.findIndex((s) => ('Precedence' in s ? s.Name : s.name) === source);
  if (at >= 0) sources[at] = draft;
  else sources.push(draft);
  const entry = buildIntentionsEntry(
    existing?.Name ?? destination,
    sources,
    existing?.Meta ?? {},
    false,
  );
  return { op: 'upsert', entry };
}

/**
 * `DELETE /v1/connect/intentions/exact?source=&destination=` (intentionMutationDelete):
 * removes the source; deleting what is not there is a no-op; an entry left without sources is
 * deleted.
 */
export function deleteIntentionExact(
  existing: ServiceIntentionsEntry | undefined,
  source: string,
  destination: string,
): IntentionMutation {
  requireQuery(source, destination);
  if (existing === undefined) return { op: 'none' };
  const rest = existing.Sources.filter((s) => s.Name !== source);
  if (rest.length === existing.Sources.length) return { op: 'none' };
  if (rest.length === 0) return { op: 'delete', name: existing.Name };
  return {
    op: 'upsert',
    entry: buildIntentionsEntry(existing.Name, rest, existing.Meta ?? {}, false),
  };
}

function sameStringMap(
  a: Readonly<Record<string, string>>,
  b: Readonly<Record<string, string>>,
): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}
