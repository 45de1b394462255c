/**
 * A RaftTransport over the test kit's SimNetwork: `send` hands each message to the network
 * (which delays, drops, duplicates and reorders it, or cuts it at a partition), and the
 * network's delivery calls the node's handler from a clock timer. Closing the transport
 * unregisters the node: mail in flight to it is lost, as it is when a process dies.
 */
import type { SimNetwork } from '@trellis/testkit';
import type { RaftTransport } from '../../src/driver/transport.js';
import { messageTypeName } from '../../src/describe.js';
import { MessageType, type Message, type NodeId } from '../../src/types.js';

/** A node's name on the simulated network. */
export const nodeName = (id: NodeId): string => `n${id}`;

export class SimTransport implements RaftTransport {
  readonly #id: NodeId;
  readonly #net: SimNetwork<Message>;
  #handler: ((m: Message) => void) | undefined;
  #closed = false;

  /**
   * `gate` runs the delivery now, or later if the process is paused (see
   * PausableScheduler): arriving mail waits in the socket.
   */
  constructor(
    id: NodeId,
    net: SimNetwork<Message>,
    gate: (fn: () => void) => void = (fn) => fn(),
    /** Scripted scenarios: messages for which this returns true are lost at the sender. */
    readonly drop: (m: Message) => boolean = () => false,
  ) {
    this.#id = id;
    this.#net = net;
    net.register(nodeName(id), (_from, m) => {
      gate(() => {
        if (!this.#closed) this.#handler?.(m);
      });
    });
  }

  send(messages: readonly Message[]): void {
    if (this.#closed) return;
    const from = nodeName(this.#id);
    for (const m of messages) if (!this.drop(m)) this.#net.send(from, nodeName(m.to), m);
  }

  setHandler(handler: (m: Message) => void): void {
    this.#handler = handler;
  }

  // The network reaches every registered node by name: nothing to configure.
  setPeer(_id: NodeId, _address: string): void {}
  removePeer(_id: NodeId): void {}

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#net.unregister(nodeName(this.#id));
    }
    return Promise.resolve();
  }
}

/** A short description of a message for trace lines (entries are counted, not printed). */
export function describeSimMessage(m: Message): string {
  let s = `${messageTypeName(m.type)} t${m.term}`;
  switch (m.type) {
    case MessageType.App:
      s += ` ${m.logTerm}/${m.index} c${m.commit} +${m.entries.length}`;
      break;
    case MessageType.AppResp:
      s += ` i${m.index}${m.reject ? ` rej ${m.logTerm}/${m.rejectHint}` : ''}`;
      break;
    case MessageType.Vote:
    case MessageType.PreVote:
      s += ` ${m.logTerm}/${m.index}${m.transfer ? ' transfer' : ''}`;
      break;
    case MessageType.VoteResp:
    case MessageType.PreVoteResp:
      if (m.reject) s += ' rej';
      break;
    case MessageType.Heartbeat:
      s += ` c${m.commit} r${m.round}`;
      break;
    case MessageType.HeartbeatResp:
      s += ` r${m.round}`;
      break;
    case MessageType.Snap:
    case MessageType.SnapResp:
      s += ` s${m.snapshot?.index ?? 0} @${m.chunk?.offset ?? 0}${m.reject ? ' rej' : ''}`;
      break;
    case MessageType.ReadIndex:
    case MessageType.ReadIndexResp:
      s += ` i${m.index} ${m.context}`;
      break;
    default:
      break;
  }
  return s;
}
