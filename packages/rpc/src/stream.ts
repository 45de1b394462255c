/**
 * Bidirectional streams with credit-based flow control. Each side may send only as many
 * messages as the other has granted; a receiver grants its window once when the stream
 * opens and then again as its consumer reads, so a slow consumer holds the sender back
 * instead of growing a buffer. A peer that sends past its credit violates the protocol and
 * the stream is cancelled with ERR_RPC_PROTOCOL.
 */
import { RpcError, RpcErrorCode } from './errors.js';

/** What a stream needs from its connection. */
export interface StreamHost {
  sendMessage(streamId: number, body: unknown): Promise<void>;
  sendEnd(streamId: number): void;
  sendCancel(streamId: number, code: string, message: string): void;
  sendCredit(streamId: number, n: number): void;
  /** Called once when the stream is finished in both directions or cancelled. */
  release(streamId: number): void;
}

export interface RpcStream extends AsyncIterable<unknown> {
  readonly id: number;
  readonly method: string;
  /**
   * Sends one message, waiting for credit (the peer's consumer) and for the socket to
   * drain. Rejects if the stream was cancelled, ended locally, or the connection dropped.
   */
  send(body: unknown): Promise<void>;
  /** Half-close: no more messages from this side. The peer's iterator ends. */
  end(): void;
  /** Abort both directions; the peer's iterator and sends fail with STREAM_CANCELLED. */
  cancel(message?: string): void;
  /** Resolves when the stream is over (both sides ended, or cancelled, or disconnected). */
  readonly done: Promise<void>;
}

/** Upper bound on credit a peer may grant: windows are far smaller than this. */
const MAX_OUTSTANDING_CREDIT = 1 << 20;

export class StreamState implements RpcStream {
  readonly #host: StreamHost;
  readonly #window: number;
  readonly #received: unknown[] = [];
  #readers: Array<{ resolve: (r: IteratorResult<unknown>) => void; reject: (e: Error) => void }> =
    [];
  #sendCredit = 0;
  #creditWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  /** Messages consumed since the last grant. */
  #consumed = 0;
  #localEnded = false;
  #remoteEnded = false;
  #error: RpcError | null = null;
  #released = false;
  #resolveDone!: () => void;
  readonly done: Promise<void>;

  constructor(
    readonly id: number,
    readonly method: string,
    host: StreamHost,
    window: number,
  ) {
    this.#host = host;
    this.#window = window;
    this.done = new Promise((r) => (this.#resolveDone = r));
  }

  /** Grants the peer its initial window; called once the stream exists on both sides. */
  start(): void {
    this.#host.sendCredit(this.id, this.#window);
  }

  async send(body: unknown): Promise<void> {
    this.#throwIfFailed();
    if (this.#localEnded)
      throw new RpcError(RpcErrorCode.PROTOCOL, `stream ${this.method}: send after end`);
    while (this.#sendCredit === 0) {
      await new Promise<void>((resolve, reject) => this.#creditWaiters.push({ resolve, reject }));
      this.#throwIfFailed();
    }
    this.#sendCredit--;
    await this.#host.sendMessage(this.id, body);
  }

  #throwIfFailed(): void {
    if (this.#error) throw this.#error;
  }

  end(): void {
    if (this.#localEnded || this.#error) return;
    this.#localEnded = true;
    this.#host.sendEnd(this.id);
    this.#maybeRelease();
  }

  cancel(message = 'cancelled by peer'): void {
    if (this.#error || this.#released) return;
    this.#host.sendCancel(this.id, RpcErrorCode.STREAM_CANCELLED, message);
    this.fail(new RpcError(RpcErrorCode.STREAM_CANCELLED, message));
  }

  [Symbol.asyncIterator](): AsyncIterator<unknown> {
    return {
      next: () => this.#next(),
      return: () => {
        // A consumer that stops reading early (break) cancels the stream unless it is over.
        if (!this.#remoteEnded && !this.#error) this.cancel('consumer stopped reading');
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }

  #next(): Promise<IteratorResult<unknown>> {
    if (this.#received.length > 0) {
      const value = this.#received.shift();
      this.#onConsumed();
      return Promise.resolve({ done: false, value });
    }
    if (this.#error) return Promise.reject(this.#error);
    if (this.#remoteEnded) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve, reject) => this.#readers.push({ resolve, reject }));
  }

  #onConsumed(): void {
    this.#consumed++;
    // Re-grant in batches of half a window: one credit frame per window/2 messages.
    if (this.#consumed >= Math.max(1, this.#window >> 1) && !this.#remoteEnded && !this.#error) {
      this.#host.sendCredit(this.id, this.#consumed);
      this.#consumed = 0;
    }
  }

  // --- driven by the connection -------------------------------------------------------

  onMessage(body: unknown): void {
    if (this.#error) return;
    if (this.#remoteEnded) {
      this.#violation('message after end');
      return;
    }
    const reader = this.#readers.shift();
    if (reader) {
      reader.resolve({ done: false, value: body });
      this.#onConsumed();
      return;
    }
    if (this.#received.length >= this.#window) {
      this.#violation(`peer sent past its credit of ${this.#window} messages`);
      return;
    }
    this.#received.push(body);
  }

  onEnd(): void {
    if (this.#error) return;
    this.#remoteEnded = true;
    for (const r of this.#readers.splice(0)) r.resolve({ done: true, value: undefined });
    this.#maybeRelease();
  }

  onCredit(n: number): void {
    if (this.#error) return;
    this.#sendCredit += n;
    if (this.#sendCredit > MAX_OUTSTANDING_CREDIT) {
      // More credit than any sane window: a confused or hostile peer.
      this.#violation('peer granted an implausible credit');
      return;
    }
    for (const w of this.#creditWaiters.splice(0, n)) w.resolve();
  }

  /** Cancelled by the peer, or the connection is gone. */
  fail(err: RpcError): void {
    if (this.#error) return;
    this.#error = err;
    for (const r of this.#readers.splice(0)) r.reject(err);
    for (const w of this.#creditWaiters.splice(0)) w.reject(err);
    this.#release();
  }

  #violation(why: string): void {
    this.#host.sendCancel(this.id, RpcErrorCode.PROTOCOL, why);
    this.fail(new RpcError(RpcErrorCode.PROTOCOL, `stream ${this.method}: ${why}`));
  }

  #maybeRelease(): void {
    if (this.#localEnded && this.#remoteEnded) this.#release();
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#host.release(this.id);
    this.#resolveDone();
  }
}
