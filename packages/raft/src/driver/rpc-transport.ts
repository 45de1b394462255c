/**
 * The Raft transport over @trellis/rpc: one RpcClient per peer, messages batched per peer
 * per Ready into one `Raft.Batch` call. Inbound batches are validated message by message
 * (codec.ts) before they reach the core; malformed ones are dropped, counted and logged at
 * warn, and the connection keeps serving.
 *
 * Messages to a peer whose connection is down are dropped at once rather than queued:
 * Raft's own retries (heartbeats, probes) replace them with fresher ones when it returns.
 */
import type { Handlers } from '@trellis/rpc';
import { RpcClient, type Logger, type RpcServer } from '@trellis/rpc';
import { isRaftError } from '../errors.js';
import type { Message, NodeId } from '../types.js';
import { validateMessage } from './codec.js';
import type { RaftTransport } from './transport.js';

export const RAFT_BATCH_METHOD = 'Raft.Batch';
/** Most messages accepted in one inbound batch. */
export const MAX_BATCH_MESSAGES = 4096;

export interface RpcTransportStats {
  sent: number;
  dropped: number;
  received: number;
  rejected: number;
}

export interface RpcTransportOptions {
  self: NodeId;
  /** The server's handler registry: the transport adds `Raft.Batch` to it. */
  handlers: Handlers;
  logger?: Logger;
  /** TLS options for dialing peers (wss:// addresses). */
  tls?: ConstructorParameters<typeof RpcClient>[0]['tls'];
  /** Reconnect back-off cap for peer connections (ms). */
  reconnectMaxMs?: number;
}

interface Batch {
  from: NodeId;
  msgs: unknown[];
}

export class RpcRaftTransport implements RaftTransport {
  readonly stats: RpcTransportStats = { sent: 0, dropped: 0, received: 0, rejected: 0 };
  readonly #opts: RpcTransportOptions;
  readonly #peers = new Map<NodeId, { address: string; client: RpcClient }>();
  #handler: ((m: Message) => void) | null = null;
  readonly #log: Logger | undefined;

  constructor(opts: RpcTransportOptions) {
    this.#opts = opts;
    this.#log = opts.logger;
    opts.handlers.request(RAFT_BATCH_METHOD, (body, ctx) =>
      this.#onBatch(body, ctx.peer.remoteAddress),
    );
  }

  /** Convenience for servers: the URL peers should dial to reach `server`. */
  static addressOf(server: RpcServer): string {
    return server.url;
  }

  setHandler(handler: (m: Message) => void): void {
    this.#handler = handler;
  }

  setPeer(id: NodeId, address: string): void {
    const cur = this.#peers.get(id);
    if (cur?.address === address) return;
    if (cur) void cur.client.close();
    const client = new RpcClient({
      url: address,
      nodeName: String(this.#opts.self),
      reconnectBaseMs: 20,
      reconnectMaxMs: this.#opts.reconnectMaxMs ?? 1000,
      ...(this.#opts.logger === undefined ? {} : { logger: this.#opts.logger }),
      ...(this.#opts.tls === undefined ? {} : { tls: this.#opts.tls }),
    });
    this.#peers.set(id, { address, client });
  }

  removePeer(id: NodeId): void {
    const cur = this.#peers.get(id);
    if (!cur) return;
    this.#peers.delete(id);
    void cur.client.close();
  }

  send(messages: readonly Message[]): void {
    const byPeer = new Map<NodeId, Message[]>();
    for (const m of messages) {
      let list = byPeer.get(m.to);
      if (!list) byPeer.set(m.to, (list = []));
      list.push(m);
    }
    for (const [to, msgs] of byPeer) {
      const peer = this.#peers.get(to);
      if (!peer || peer.client.state !== 'connected') {
        this.stats.dropped += msgs.length;
        continue;
      }
      this.stats.sent += msgs.length;
      const batch: Batch = { from: this.#opts.self, msgs };
      peer.client.call(RAFT_BATCH_METHOD, batch, { timeoutMs: 5000 }).catch(() => {
        this.stats.dropped += msgs.length;
      });
      // On the wire before the driver goes on to persist (and block in fsync).
      peer.client.flush();
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.#peers.values()].map((p) => p.client.close()));
    this.#peers.clear();
  }

  #onBatch(body: unknown, remote: string): number {
    const b = body as Partial<Batch> | null;
    if (
      b === null ||
      typeof b !== 'object' ||
      !Array.isArray(b.msgs) ||
      b.msgs.length > MAX_BATCH_MESSAGES
    ) {
      this.stats.rejected++;
      this.#log?.warn({ remote }, 'raft: malformed batch dropped');
      return 0;
    }
    // A peer that can reach us is up: stop waiting out our back-off towards it.
    if (typeof b.from === 'number') this.#peers.get(b.from)?.client.reconnectNow();
    let accepted = 0;
    for (const raw of b.msgs) {
      try {
        const m = validateMessage(raw, this.#opts.self);
        this.stats.received++;
        accepted++;
        this.#handler?.(m);
      } catch (e) {
        this.stats.rejected++;
        if (!isRaftError(e, 'ERR_BAD_MESSAGE')) throw e;
        this.#log?.warn({ remote, err: e.message }, 'raft: malformed message dropped');
      }
    }
    return accepted;
  }
}
