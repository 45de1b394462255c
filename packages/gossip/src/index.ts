/**
 * @trellis/gossip — the pure SWIM + Lifeguard core (memberlist's protocol, serf's user
 * events), with its wire codec. No I/O: the driver (transport, timers) feeds messages and
 * time in and performs the outputs. See core.ts for the call contract.
 */
export { GossipCore, type JoinOptions } from './core.js';
export {
  PRESETS,
  resolveConfig,
  type GossipConfig,
  type GossipConfigInput,
  type PresetName,
  type RandFn,
  type Timing,
} from './config.js';
export { ErrorCode, ERROR_CATALOG, GossipError, isGossipError } from './errors.js';
export {
  MessageType,
  MESSAGE_SINCE,
  MESSAGE_TYPE_NAMES,
  NodeState,
  NODE_STATE_NAMES,
  PROTOCOL_VERSION_MAX,
  PROTOCOL_VERSION_MIN,
  type AckMsg,
  type AliveMsg,
  type CompoundMsg,
  type DeadMsg,
  type IndirectPingMsg,
  type Message,
  type NackMsg,
  type PingMsg,
  type PushNodeState,
  type PushPullMsg,
  type SuspectMsg,
  type Tags,
  type UserEventMsg,
  type UserEventRecord,
  type Vsn,
} from './messages.js';
export {
  COMPOUND_HEADER_OVERHEAD,
  COMPOUND_PART_OVERHEAD,
  MAX_ACK_PAYLOAD,
  MAX_COMPOUND_PARTS,
  MAX_EVENT_PAYLOAD,
  MAX_META_BYTES,
  MAX_PACKET_BYTES,
  MAX_PUSH_PULL_EVENTS,
  MAX_STREAM_BYTES,
  decodeMessage,
  decodePacket,
  decodeStream,
  encodeCompound,
  encodeMessage,
  encodeTags,
  packetSize,
  type DecodeOptions,
} from './codec.js';
export type { Member, MemberEventKind, MemberStatus, Output, StreamResult } from './output.js';
export { Awareness } from './awareness.js';
export { Suspicion, suspicionTimeoutAfter } from './suspicion.js';
export { BroadcastQueue, type BroadcastInput } from './broadcast.js';
export { LamportClock, UserEvents } from './events.js';
export {
  pushPullScale,
  retransmitLimit,
  suspicionTimeout,
  PUSH_PULL_SCALE_THRESHOLD,
} from './scale.js';

// The I/O shell: real sockets, real time, encryption.
export { GossipAgent, type AgentOptions, type AgentStats, type UserEvent } from './agent.js';
export {
  GossipTransport,
  formatAddr,
  parseAddr,
  type TransportHandlers,
  type TransportOptions,
  type TransportStats,
} from './transport.js';
export {
  ENVELOPE_OVERHEAD,
  ENVELOPE_VERSION,
  KEY_BYTES,
  NONCE_BYTES,
  TAG_BYTES,
  Keyring,
  ReplayCache,
  generateKey,
  openEnvelope,
  parseKey,
  sealEnvelope,
  type OpenResult,
} from './keyring.js';
export {
  DROP_REASONS,
  GossipIoError,
  IO_ERROR_CATALOG,
  IoErrorCode,
  isGossipIoError,
  type DropReason,
} from './io-errors.js';
export { silentLogger, type Logger } from './logger.js';
