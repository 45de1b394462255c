/**
 * How a RaftNode reaches its peers. Raft tolerates loss, duplication and reordering, so the
 * contract is best-effort: `send` never blocks and never throws; a message to an
 * unreachable peer is dropped (and counted), and the core retries by its own timers.
 */
import type { Message, NodeId } from '../types.js';

export interface RaftTransport {
  /** Hands messages to the network, each to its `to`. Best effort; never throws. */
  send(messages: readonly Message[]): void;
  /** Registers the receiver of validated inbound messages (one per transport). */
  setHandler(handler: (m: Message) => void): void;
  /** Adds or replaces how to reach a peer (membership changes, address changes). */
  setPeer(id: NodeId, address: string): void;
  removePeer(id: NodeId): void;
  close(): Promise<void>;
}
