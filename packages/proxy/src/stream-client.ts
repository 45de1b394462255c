/**
 * The proxy's end of the configuration stream (`Connect.ProxyConfig` on the agent's port
 * 8502): opens the stream naming its proxy service, applies each snapshot version and
 * answers ACK, or NACK with the reason when it cannot be applied (the last good version
 * keeps running). When the stream ends, fails or the agent answers an error (the proxy is
 * not registered yet, say), it opens a new one after a back-off: 250 ms doubling up to 30 s
 * with jitter, back to the start once a snapshot arrives. The agent starts every stream over
 * at version 1 with the full current state.
 */
import { PROXY_CONFIG_METHOD, decodeProxyStreamDown, type ProxySnapshot } from '@trellis/connect';
import { RPC_PATH, RpcClient, type RpcStream } from '@trellis/rpc';
import type { Logger } from './log.js';

export const STREAM_BACKOFF_BASE_MS = 250;
export const STREAM_BACKOFF_MAX_MS = 30_000;
/** How long one attempt waits for the agent's connection before backing off. */
export const STREAM_CONNECT_TIMEOUT_MS = 10_000;

export type StreamState = 'connecting' | 'open' | 'backoff' | 'closed';

export interface StreamStatus {
  readonly state: StreamState;
  /** Streams opened so far. */
  readonly opened: number;
  /** The last error (connect, stream, or the agent's error message). */
  readonly lastError: string | null;
}

export interface StreamDeps {
  readonly agentAddr: string;
  readonly proxyId: string;
  readonly logger: Logger;
  /** Applies a snapshot; rejects with the NACK reason. */
  readonly apply: (snapshot: ProxySnapshot, version: number) => Promise<void>;
  readonly onNack: (version: number, error: string) => void;
}

export class ConfigStream {
  #state: StreamState = 'connecting';
  #opened = 0;
  #lastError: string | null = null;
  #closed = false;
  #stream: RpcStream | null = null;
  #timer: NodeJS.Timeout | null = null;
  #wake: (() => void) | null = null;
  readonly #client: RpcClient;
  readonly #deps: StreamDeps;
  readonly done: Promise<void>;

  constructor(deps: StreamDeps) {
    this.#deps = deps;
    this.#client = new RpcClient({
      url: `ws://${deps.agentAddr}${RPC_PATH}`,
      nodeName: `proxy:${deps.proxyId}`,
      logger: deps.logger,
      reconnectBaseMs: STREAM_BACKOFF_BASE_MS,
      reconnectMaxMs: STREAM_BACKOFF_MAX_MS,
    });
    this.done = this.#run();
  }

  status(): StreamStatus {
    return { state: this.#state, opened: this.#opened, lastError: this.#lastError };
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#closed) {
      this.#state = 'connecting';
      let gotSnapshot = false;
      try {
        const stream = await this.#client.openStream(
          PROXY_CONFIG_METHOD,
          { proxyId: this.#deps.proxyId },
          { timeoutMs: STREAM_CONNECT_TIMEOUT_MS },
        );
        if (this.#closed) {
          stream.cancel('proxy closing');
          break;
        }
        this.#stream = stream;
        this.#opened++;
        this.#state = 'open';
        this.#deps.logger.info({ agent: this.#deps.agentAddr }, 'proxy: configuration stream open');
        for await (const raw of stream) {
          if (this.#closed) break;
          let msg;
          try {
            msg = decodeProxyStreamDown(raw);
          } catch (e) {
            this.#deps.logger.warn(
              { err: (e as Error).message },
              'proxy: bad message on the configuration stream',
            );
            const v = (raw as { version?: unknown } | null)?.version;
            if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) {
              await this.#nack(stream, v, (e as Error).message);
            }
            continue;
          }
          if (msg.type === 'error') {
            this.#lastError = msg.message;
            this.#deps.logger.warn(
              { err: msg.message },
              'proxy: the agent refused the configuration stream',
            );
            break;
          }
          gotSnapshot = true;
          failures = 0;
          try {
            await this.#deps.apply(msg.snapshot, msg.version);
          } catch (e) {
            await this.#nack(stream, msg.version, (e as Error).message);
            continue;
          }
          await stream.send({ type: 'ack', version: msg.version });
        }
        if (!this.#closed) this.#lastError ??= 'configuration stream ended';
      } catch (e) {
        if (this.#closed) break;
        this.#lastError = (e as Error).message;
        this.#deps.logger.warn({ err: this.#lastError }, 'proxy: configuration stream failed');
      } finally {
        this.#stream?.cancel('proxy closing');
        this.#stream = null;
      }
      if (this.#closed) break;
      if (!gotSnapshot) failures++;
      const base = Math.min(
        STREAM_BACKOFF_BASE_MS * 2 ** Math.min(failures, 16),
        STREAM_BACKOFF_MAX_MS,
      );
      const ms = base / 2 + Math.random() * (base / 2);
      this.#state = 'backoff';
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        this.#timer = setTimeout(resolve, ms);
      });
      this.#wake = null;
      this.#timer = null;
    }
    this.#state = 'closed';
  }

  async #nack(stream: RpcStream, version: number, error: string): Promise<void> {
    this.#deps.onNack(version, error);
    this.#deps.logger.warn(
      { version, err: error },
      'proxy: configuration refused (NACK); keeping the last good one',
    );
    await stream.send({ type: 'nack', version, error });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stream?.cancel('proxy closing');
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#wake?.();
    await this.#client.close();
    await this.done;
  }
}
