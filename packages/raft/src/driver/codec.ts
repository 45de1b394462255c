/**
 * Strict validation of Raft messages arriving from the network. The transport decodes
 * msgpack into plain values; nothing reaches the core until it has exactly the shape of a
 * {@link Message}. Anything else is an ERR_BAD_MESSAGE the transport counts and drops.
 */
import { RaftError } from '../errors.js';
import {
  EntryType,
  MessageType,
  type ConfState,
  type Entry,
  type Message,
  type SnapshotChunk,
  type SnapshotMetadata,
} from '../types.js';

/** Longest ReadIndex context accepted (contexts are short request ids). */
export const MAX_CONTEXT_LENGTH = 256;
/** Most entries accepted in one message (the leader's maxSizePerMsg keeps batches far smaller). */
export const MAX_ENTRIES_PER_MESSAGE = 100_000;
/** Most members in a snapshot's configuration. */
const MAX_MEMBERS = 1000;

const MESSAGE_TYPES = new Set<number>(
  Object.values(MessageType).filter((v): v is number => typeof v === 'number'),
);
const ENTRY_TYPES = new Set<number>(
  Object.values(EntryType).filter((v): v is number => typeof v === 'number'),
);

function bad(why: string): never {
  throw new RaftError('ERR_BAD_MESSAGE', why);
}

function uint(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    bad(`${what} must be a non-negative integer`);
  return v;
}

function bytes(v: unknown, what: string): Uint8Array {
  if (!(v instanceof Uint8Array)) bad(`${what} must be bytes`);
  return v;
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) bad(`${what} must be a map`);
  return v as Record<string, unknown>;
}

function ids(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || v.length > MAX_MEMBERS)
    bad(`${what} must be a list of at most ${MAX_MEMBERS} ids`);
  return v.map((x, i) => uint(x, `${what}[${i}]`));
}

function entry(v: unknown, i: number): Entry {
  const o = obj(v, `entries[${i}]`);
  const type = uint(o['type'], `entries[${i}].type`);
  if (!ENTRY_TYPES.has(type)) bad(`entries[${i}].type ${type} is unknown`);
  return {
    term: uint(o['term'], `entries[${i}].term`),
    index: uint(o['index'], `entries[${i}].index`),
    type: type,
    data: bytes(o['data'], `entries[${i}].data`),
  };
}

function snapshotMeta(v: unknown): SnapshotMetadata {
  const o = obj(v, 'snapshot');
  const cs = obj(o['confState'], 'snapshot.confState');
  const confState: ConfState = {
    voters: ids(cs['voters'], 'voters'),
    learners: ids(cs['learners'], 'learners'),
  };
  return {
    index: uint(o['index'], 'snapshot.index'),
    term: uint(o['term'], 'snapshot.term'),
    confState,
  };
}

function chunk(v: unknown): SnapshotChunk {
  const o = obj(v, 'chunk');
  if (typeof o['done'] !== 'boolean') bad('chunk.done must be a boolean');
  return {
    offset: uint(o['offset'], 'chunk.offset'),
    data: bytes(o['data'], 'chunk.data'),
    done: o['done'],
    totalSize: uint(o['totalSize'], 'chunk.totalSize'),
  };
}

/** Validates a decoded message addressed to `self`. Throws RaftError ERR_BAD_MESSAGE. */
export function validateMessage(v: unknown, self: number): Message {
  const o = obj(v, 'message');
  const type = uint(o['type'], 'type');
  if (!MESSAGE_TYPES.has(type)) bad(`message type ${type} is unknown`);
  const from = uint(o['from'], 'from');
  const to = uint(o['to'], 'to');
  if (from === 0) bad('from must be a node id');
  if (to !== self) bad(`message for node ${to} delivered to node ${self}`);
  const rawEntries = o['entries'] ?? [];
  if (!Array.isArray(rawEntries) || rawEntries.length > MAX_ENTRIES_PER_MESSAGE)
    bad('entries must be a bounded list');
  const context = o['context'] ?? '';
  if (typeof context !== 'string' || context.length > MAX_CONTEXT_LENGTH)
    bad('context must be a short string');
  const m: Message = {
    type: type,
    from,
    to,
    term: uint(o['term'] ?? 0, 'term'),
    logTerm: uint(o['logTerm'] ?? 0, 'logTerm'),
    index: uint(o['index'] ?? 0, 'index'),
    entries: rawEntries.map(entry),
    commit: uint(o['commit'] ?? 0, 'commit'),
    reject: o['reject'] === true,
    rejectHint: uint(o['rejectHint'] ?? 0, 'rejectHint'),
    round: uint(o['round'] ?? 0, 'round'),
    context,
    transfer: o['transfer'] === true,
    ...(o['snapshot'] === undefined ? {} : { snapshot: snapshotMeta(o['snapshot']) }),
    ...(o['chunk'] === undefined ? {} : { chunk: chunk(o['chunk']) }),
  };
  return m;
}
