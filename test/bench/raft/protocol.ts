/**
 * What the Raft benchmark's load generator (`../raft.ts`) and its member processes
 * (`member.ts`) share: the client-facing RPC methods, the command layout and the status
 * shape.
 *
 * A command is 264 raw bytes: an 8-byte key then a 256-byte value. The value starts with a
 * 16-byte header (magic, level, proposer, slot, sequence number) and is filled with bytes
 * derived from the header, so a read-back can tell a lost or torn write from a stale one.
 */

export const METHOD = {
  /** body: Uint8Array(264). Answers `{ index }` once applied on the leader; on a follower
   * fails with ERR_NOT_LEADER and `meta.leader` (0 when unknown). */
  propose: 'Bench.Propose',
  /** body: none. Answers a {@link MemberStatus}. */
  status: 'Bench.Status',
  /** body: `{ keys: Uint8Array[] }`. Answers `{ index, values: (Uint8Array | null)[] }` after a
   * ReadIndex barrier (linearizable). */
  get: 'Bench.Get',
  /** body: none. Answers `{ applied, count, digest }` of the state machine, in one turn. */
  digest: 'Bench.Digest',
} as const;

export const KEY_BYTES = 8;
export const VALUE_BYTES = 256;
export const COMMAND_BYTES = KEY_BYTES + VALUE_BYTES;
const VALUE_MAGIC = 0x7472; // "tr"
const VALUE_HEADER = 16;

export interface WriteId {
  /** Which phase wrote it: a load level's index, or 255 for failover probes. */
  level: number;
  proposer: number;
  /** Keys per proposer cycle through a fixed number of slots (bounded state). */
  slot: number;
  /** The proposer's write counter: strictly increasing per (level, proposer). */
  seq: number;
}

export function encodeKey(w: Pick<WriteId, 'level' | 'proposer' | 'slot'>): Buffer {
  const k = Buffer.allocUnsafe(KEY_BYTES);
  k.writeUInt8(w.level, 0);
  k.writeUInt8(0, 1);
  k.writeUInt16BE(w.proposer, 2);
  k.writeUInt32BE(w.slot, 4);
  return k;
}

function fill(value: Buffer): void {
  // xorshift32 seeded from the header: cheap, and any torn or misplaced byte shows.
  let s = (value.readUInt32BE(8) ^ value.readUInt32BE(12) ^ 0x9e3779b9) >>> 0 || 1;
  for (let i = VALUE_HEADER; i < VALUE_BYTES; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    value[i] = s & 0xff;
  }
}

export function encodeCommand(w: WriteId): Buffer {
  const c = Buffer.allocUnsafe(COMMAND_BYTES);
  encodeKey(w).copy(c, 0);
  const v = c.subarray(KEY_BYTES);
  v.writeUInt16BE(VALUE_MAGIC, 0);
  v.writeUInt8(w.level, 2);
  v.writeUInt8(0, 3);
  v.writeUInt16BE(w.proposer, 4);
  v.writeUInt16BE(0, 6);
  v.writeUInt32BE(w.slot, 8);
  v.writeUInt32BE(w.seq, 12);
  fill(v);
  return c;
}

/** Parses a stored value; undefined if it is malformed or its filler is corrupt. */
export function decodeValue(value: Uint8Array): WriteId | undefined {
  if (value.length !== VALUE_BYTES) return undefined;
  const v = Buffer.from(value.buffer, value.byteOffset, value.length);
  if (v.readUInt16BE(0) !== VALUE_MAGIC) return undefined;
  const w = {
    level: v.readUInt8(2),
    proposer: v.readUInt16BE(4),
    slot: v.readUInt32BE(8),
    seq: v.readUInt32BE(12),
  };
  const expect = Buffer.alloc(VALUE_BYTES);
  v.copy(expect, 0, 0, VALUE_HEADER);
  fill(expect);
  return expect.equals(v) ? w : undefined;
}

/** Cumulative counters of one member, sampled by `Bench.Status`; the bench diffs them. */
export interface MemberStatus {
  id: number;
  pid: number;
  leader: number;
  isLeader: boolean;
  term: number;
  commit: number;
  applied: number;
  lastIndex: number;
  keys: number;
  raft: { readies: number; fsyncs: number; applied: number; snapshots: number; proposals: number };
  transport: { sent: number; dropped: number; received: number; rejected: number };
  /** Measured by the member's Disk wrapper around NodeDisk. */
  disk: { fsyncs: number; fsyncMs: number; appends: number; appendBytes: number };
  /** process.cpuUsage(), microseconds. */
  cpu: { user: number; system: number };
  /** performance.eventLoopUtilization(), milliseconds. */
  elu: { idle: number; active: number };
  rssBytes: number;
  /** performance.now() of the member, to turn deltas into rates. */
  nowMs: number;
  /** How long this process took to start; `raftOpenMs` is the WAL replay and restore. */
  startup: { raftOpenMs: number; readyMs: number; recoveredLastIndex: number };
}
