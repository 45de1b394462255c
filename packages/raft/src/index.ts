/**
 * @trellis/raft — the pure Raft core (etcd-io/raft style). The only public door.
 *
 * Drive a {@link RawNode} with tick()/step()/propose()/readIndex()…, and follow the
 * ready()/advance() contract documented in rawnode.ts. Durable state is read through
 * {@link Storage}; {@link MemoryStorage} is the in-memory implementation.
 */
export { RawNode, type ProposalRef } from './rawnode.js';
export {
  resolveConfig,
  defaultLeaseTicks,
  DEFAULT_ELECTION_TICK,
  DEFAULT_HEARTBEAT_TICK,
  DEFAULT_MAX_SIZE_PER_MSG,
  DEFAULT_MAX_INFLIGHT_MSGS,
  DEFAULT_MAX_INFLIGHT_BYTES,
  DEFAULT_MAX_UNCOMMITTED_SIZE,
  DEFAULT_PRE_VOTE,
  DEFAULT_CHECK_QUORUM,
  DEFAULT_SNAPSHOT_CHUNK_SIZE,
  DEFAULT_MAX_SNAPSHOT_INFLIGHT_CHUNKS,
  DEFAULT_TRAILING_LOGS,
  type Config,
  type ResolvedConfig,
} from './config.js';
export {
  RaftError,
  NotLeaderError,
  ProposalDroppedError,
  TransferInProgressError,
  RaftInvariantError,
  isRaftError,
  type RaftErrorCode,
} from './errors.js';
export {
  MemoryStorage,
  entryPayloadSize,
  limitSize,
  type Storage,
  type InitialState,
} from './storage.js';
export {
  applyConfChange,
  bootstrapEntry,
  decodeConfigEntry,
  encodeConfigEntry,
  normalizeConf,
  confEquals,
  describeConf,
  describeConfChange,
  type ConfigEntryPayload,
} from './membership.js';
export {
  describeEntry,
  describeEntries,
  describeMessage,
  describeReady,
  describeHardState,
  messageTypeName,
} from './describe.js';
export {
  NONE,
  EMPTY_HARD_STATE,
  EMPTY_CONF_STATE,
  EMPTY_SNAPSHOT,
  EntryType,
  MessageType,
  ConfChangeType,
  StateType,
  msg,
  type NodeId,
  type Entry,
  type HardState,
  type ConfState,
  type ConfChange,
  type Snapshot,
  type SnapshotMetadata,
  type SnapshotChunk,
  type Message,
  type SoftState,
  type ReadState,
  type Ready,
  type Status,
  type ProgressStatus,
} from './types.js';
// --- The driver, durable storage and transport (I/O around the core) -------------------------
export {
  RaftNode,
  NODE_DEFAULTS,
  type RaftNodeOptions,
  type StateMachine,
  type ProposalResult,
  type RaftNodeStats,
} from './driver/node.js';
export { systemScheduler, schedulerFromClock, type Scheduler } from './driver/scheduler.js';
export type { RaftTransport } from './driver/transport.js';
export {
  RpcRaftTransport,
  RAFT_BATCH_METHOD,
  type RpcTransportOptions,
  type RpcTransportStats,
} from './driver/rpc-transport.js';
export { validateMessage } from './driver/codec.js';
export type { Disk } from './wal/disk.js';
export { NodeDisk } from './wal/node-disk.js';
export {
  Wal,
  WalCorruptionError,
  WAL_DEFAULTS,
  type WalOptions,
  type WalRecovery,
} from './wal/wal.js';
export { SnapshotStore, type SnapshotStoreOptions } from './wal/snapshot-store.js';
export { MemoryDisk } from './wal/memory-disk.js';
