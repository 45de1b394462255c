/**
 * Wire message structs and their type numbers.
 *
 * `MessageType` is APPEND-ONLY: a number, once assigned, is never reused or renumbered,
 * and a new type gets the next free number together with the protocol version that
 * introduced it (`MESSAGE_SINCE`). A node advertises the range of protocol versions it
 * speaks in every alive message (`vsn`); a sender only uses a type with a peer whose
 * `vsn.max` is at least the type's `since` (memberlist does the same for nack, which
 * arrived in its protocol 4). The decoder accepts every type up to PROTOCOL_VERSION_MAX
 * and rejects unknown numbers with GOSSIP_UNKNOWN_TYPE.
 *
 * | # | type          | since | carried over          | purpose                                  |
 * |---|---------------|-------|-----------------------|------------------------------------------|
 * | 0 | Ping          | 1     | UDP, TCP (fallback)   | direct probe                             |
 * | 1 | IndirectPing  | 1     | UDP                   | ask a member to probe a target for us    |
 * | 2 | Ack           | 1     | UDP, TCP              | probe answer (also relayed indirectly)   |
 * | 3 | Nack          | 1     | UDP                   | relay could not reach the target in time |
 * | 4 | Suspect       | 1     | UDP (gossip)          | a member is suspected                    |
 * | 5 | Alive         | 1     | UDP (gossip)          | a member is alive / refutes / new tags   |
 * | 6 | Dead          | 1     | UDP (gossip)          | failed (from ≠ node) or left (from = node)|
 * | 7 | PushPull      | 1     | TCP                   | full-state anti-entropy / join           |
 * | 8 | Compound      | 1     | UDP                   | several messages in one packet           |
 * | 9 | UserEvent     | 1     | UDP (gossip), TCP     | serf-style user event                    |
 */

export const MessageType = {
  Ping: 0,
  IndirectPing: 1,
  Ack: 2,
  Nack: 3,
  Suspect: 4,
  Alive: 5,
  Dead: 6,
  PushPull: 7,
  Compound: 8,
  UserEvent: 9,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Lowest protocol version this build can speak. */
export const PROTOCOL_VERSION_MIN = 1;
/** Highest protocol version this build can speak. */
export const PROTOCOL_VERSION_MAX = 1;

/** The protocol version in which each message type appeared. */
export const MESSAGE_SINCE: Readonly<Record<MessageType, number>> = {
  0: 1,
  1: 1,
  2: 1,
  3: 1,
  4: 1,
  5: 1,
  6: 1,
  7: 1,
  8: 1,
  9: 1,
};

export const MESSAGE_TYPE_NAMES: Readonly<Record<MessageType, string>> = {
  0: 'ping',
  1: 'indirect-ping',
  2: 'ack',
  3: 'nack',
  4: 'suspect',
  5: 'alive',
  6: 'dead',
  7: 'push-pull',
  8: 'compound',
  9: 'user-event',
};

/** Member states, numbered as memberlist's NodeStateType (and encoded so in push-pull). */
export const NodeState = {
  Alive: 0,
  Suspect: 1,
  Dead: 2,
  Left: 3,
} as const;
export type NodeState = (typeof NodeState)[keyof typeof NodeState];

export const NODE_STATE_NAMES: Readonly<Record<NodeState, string>> = {
  0: 'alive',
  1: 'suspect',
  2: 'dead',
  3: 'left',
};

/** The protocol version range a node speaks, and the version it currently uses. */
export interface Vsn {
  readonly min: number;
  readonly max: number;
  readonly cur: number;
}

/** Member tags (serf's tags): role, dc, rpc address, build… Encoded sorted by key. */
export type Tags = Readonly<Record<string, string>>;

export interface PingMsg {
  readonly type: typeof MessageType.Ping;
  readonly seq: number;
  /** Name of the member we intend to reach; a receiver with another name ignores it. */
  readonly target: string;
  /** Where to send the ack (the prober's advertised address). */
  readonly sourceAddr: string;
  readonly sourceNode: string;
}

export interface IndirectPingMsg {
  readonly type: typeof MessageType.IndirectPing;
  readonly seq: number;
  readonly target: string;
  readonly targetAddr: string;
  /** The requester wants a nack if the target does not answer in time. */
  readonly nack: boolean;
  readonly sourceAddr: string;
  readonly sourceNode: string;
}

export interface AckMsg {
  readonly type: typeof MessageType.Ack;
  readonly seq: number;
  /** Opaque payload (memberlist's ping delegate); empty by default. */
  readonly payload: Uint8Array;
}

export interface NackMsg {
  readonly type: typeof MessageType.Nack;
  readonly seq: number;
}

export interface SuspectMsg {
  readonly type: typeof MessageType.Suspect;
  readonly incarnation: number;
  readonly node: string;
  readonly from: string;
}

export interface AliveMsg {
  readonly type: typeof MessageType.Alive;
  readonly incarnation: number;
  readonly node: string;
  readonly addr: string;
  readonly tags: Tags;
  readonly vsn: Vsn;
}

export interface DeadMsg {
  readonly type: typeof MessageType.Dead;
  readonly incarnation: number;
  readonly node: string;
  /** Who declares it: equal to `node` for a graceful leave. */
  readonly from: string;
}

/** One member's entry in a push-pull state exchange (memberlist's pushNodeState). */
export interface PushNodeState {
  readonly name: string;
  readonly addr: string;
  readonly tags: Tags;
  readonly incarnation: number;
  readonly state: NodeState;
  readonly vsn: Vsn;
}

/** A user event as stored in the recent-events buffer and exchanged in push-pull. */
export interface UserEventRecord {
  readonly ltime: number;
  readonly name: string;
  readonly payload: Uint8Array;
}

export interface PushPullMsg {
  readonly type: typeof MessageType.PushPull;
  /** Sent by a joining node (the receiver answers in kind; events may be ignored). */
  readonly join: boolean;
  readonly nodes: readonly PushNodeState[];
  /** The sender's user-event Lamport clock. */
  readonly eventLTime: number;
  /** The sender's recent user events (bounded by its event buffer). */
  readonly events: readonly UserEventRecord[];
}

export interface CompoundMsg {
  readonly type: typeof MessageType.Compound;
  readonly parts: readonly Message[];
}

export interface UserEventMsg {
  readonly type: typeof MessageType.UserEvent;
  readonly ltime: number;
  readonly name: string;
  readonly payload: Uint8Array;
}

export type Message =
  | PingMsg
  | IndirectPingMsg
  | AckMsg
  | NackMsg
  | SuspectMsg
  | AliveMsg
  | DeadMsg
  | PushPullMsg
  | CompoundMsg
  | UserEventMsg;
