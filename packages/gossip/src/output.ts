/**
 * What the core hands back to its driver. Every mutating call returns the outputs it
 * produced, in order; the driver performs them (send, connect, dispatch) and feeds the
 * results back in. Outputs are plain data: the core keeps no reference to them.
 */
import type { GossipError } from './errors.js';
import type { Message, Tags, Vsn } from './messages.js';

export type MemberStatus = 'alive' | 'suspect' | 'dead' | 'left';

/** A read-only view of one member as this node currently believes it to be. */
export interface Member {
  readonly name: string;
  readonly addr: string;
  readonly tags: Tags;
  readonly incarnation: number;
  readonly status: MemberStatus;
  readonly vsn: Vsn;
  /** When this node last saw the member's status change (ms, the driver's clock). */
  readonly statusChangedAt: number;
}

/**
 * Subscriber events: join (new, or back from dead/left), update (tags changed), leave
 * (graceful: its own dead message), fail (declared dead by the failure detector).
 */
export type MemberEventKind = 'join' | 'update' | 'leave' | 'fail';

export type Output =
  /** Send this UDP packet (≤ udpBufferSize − reservedPacketBytes bytes). */
  | {
      readonly type: 'udp';
      readonly to: string;
      readonly packet: Uint8Array;
      /** The messages inside `packet`, for tracing; the driver sends `packet`. */
      readonly messages: readonly Message[];
    }
  /**
   * Open a stream to `to`, write `request` (an encoded Ping), read one message back, and
   * call handleTcpPingReply(seq, reply | undefined) — undefined on any failure — before
   * `deadline`; when the connection was refused (ECONNREFUSED: nothing listens there),
   * call tcpPingRefused(seq) instead. Ignoring it is allowed: at the deadline the core
   * treats it as failed.
   */
  | {
      readonly type: 'tcp-ping';
      readonly to: string;
      readonly node: string;
      readonly seq: number;
      readonly request: Uint8Array;
      readonly deadline: number;
    }
  /**
   * Open a stream to `to`, write `request` (an encoded PushPull), read the reply and call
   * handlePushPullReply(to, reply, now). On failure call pushPullFailed(to, join, now)
   * (only informative: retries are the driver's choice).
   */
  | {
      readonly type: 'push-pull';
      readonly to: string;
      readonly join: boolean;
      readonly request: Uint8Array;
      readonly deadline: number;
    }
  /** Dispatch to membership subscribers. */
  | { readonly type: 'member'; readonly kind: MemberEventKind; readonly member: Member }
  /** Dispatch to user-event subscribers (delivered once per node). */
  | {
      readonly type: 'user-event';
      readonly ltime: number;
      readonly name: string;
      readonly payload: Uint8Array;
    }
  /**
   * A remote full state was merged. `reply`: it answered our own push-pull (a join
   * succeeded when reply && join); otherwise it was a request `from` sent to us.
   */
  | {
      readonly type: 'push-pull-merged';
      readonly from: string;
      readonly join: boolean;
      readonly reply: boolean;
      readonly nodes: number;
    }
  /** The leave intent has been gossiped enough: the driver may shut the transport down. */
  | { readonly type: 'leave-complete' }
  /** Another node claims a live member's name from a different address. */
  | { readonly type: 'conflict'; readonly existing: Member; readonly otherAddr: string }
  /** Input that could not be used (undecodable, unsupported version, unexpected). */
  | { readonly type: 'dropped'; readonly from: string; readonly error: GossipError }
  /** A notable decision, for the driver's logger. */
  | { readonly type: 'log'; readonly level: 'debug' | 'info' | 'warn'; readonly message: string };

/** The answer to a stream request: what to write back (if anything) and the outputs. */
export interface StreamResult {
  readonly reply: Uint8Array | undefined;
  readonly outputs: Output[];
}
