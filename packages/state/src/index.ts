/**
 * @trellis/state — the replicated state store every server applies Raft commands to and the
 * HTTP API reads (with blocking queries). Pure: no I/O, no timers, no clock.
 */
export {
  StateStore,
  TABLES,
  SNAPSHOT_MAGIC,
  SNAPSHOT_VERSION,
  type TableName,
  type QueryResult,
  type ServiceNode,
  type CheckServiceNode,
  type NodeServices,
  type CommandValue,
  type ApplyResult,
  type WatchSpec,
} from './store.js';
export {
  MessageType,
  IGNORE_UNKNOWN_TYPE_FLAG,
  ENVELOPE_VERSION,
  encodeCommand,
  encodeRawCommand,
  decodeCommand,
  validateCommand,
  type Command,
  type IgnoredCommand,
} from './commands.js';
export { StateError, StateErrorCode, isStateError, type StateErrorMetaMap } from './errors.js';
export { WatchSet } from './watch.js';
export { blockingQuery, type BlockingOptions } from './blocking.js';
export { Table, Journal, channel, compare, type IndexDef } from './table.js';
export * from './types.js';
