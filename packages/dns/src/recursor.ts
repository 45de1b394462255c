/**
 * One exchange with an upstream resolver (Consul's `dns.Client.Exchange` in handleRecurse and
 * resolveCNAME): send a query, wait for the first well-formed answer carrying the query's ID,
 * give up at the deadline. UDP answers from any other address or with another ID are
 * ignored (the socket is connected, so the kernel filters addresses); over TCP the query and
 * answer are framed with a 16-bit length (RFC 1035 §4.2.2) and at most 64 KiB is read.
 *
 * Every socket opened here is closed before the promise settles; `signal` aborts at once.
 */
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import type { RecursorAddress } from './config.js';
import { MAX_TCP_MESSAGE_BYTES } from './constants.js';
import { decodeHeader, decodeMessage, type Message } from './wire.js';

export interface ExchangeResult {
  /** The answer as received (relayed verbatim). */
  readonly bytes: Uint8Array;
  readonly message: Message;
}

export class ExchangeError extends Error {
  constructor(detail: string, options?: { cause?: unknown }) {
    super(detail, options);
    this.name = 'ExchangeError';
  }
}

/** The answer if `bytes` is a well-formed response to query `id`, else undefined. */
function acceptAnswer(bytes: Uint8Array, id: number): ExchangeResult | undefined {
  const h = decodeHeader(bytes);
  if (h === null || !h.qr || h.id !== id) return undefined;
  try {
    return { bytes, message: decodeMessage(bytes) };
  } catch {
    return undefined;
  }
}

export function exchange(
  to: RecursorAddress,
  query: Uint8Array,
  transport: 'udp' | 'tcp',
  timeoutMs: number,
  signal: AbortSignal,
): Promise<ExchangeResult> {
  const head = decodeHeader(query);
  if (head === null) return Promise.reject(new ExchangeError('query shorter than a header'));
  if (signal.aborted) return Promise.reject(new ExchangeError('aborted'));
  return transport === 'udp'
    ? exchangeUdp(to, query, head.id, timeoutMs, signal)
    : exchangeTcp(to, query, head.id, timeoutMs, signal);
}

function exchangeUdp(
  to: RecursorAddress,
  query: Uint8Array,
  id: number,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<ExchangeResult> {
  return new Promise((resolve, reject) => {
    const sock = createSocket(to.family === 6 ? 'udp6' : 'udp4');
    let settled = false;
    const finish = (err: Error | undefined, result?: ExchangeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      try {
        sock.close();
      } catch {
        // already closed
      }
      if (err !== undefined) reject(err);
      else resolve(result!);
    };
    const onAbort = (): void => finish(new ExchangeError('aborted'));
    const timer = setTimeout(
      () => finish(new ExchangeError(`no answer from ${to.host}:${to.port} in ${timeoutMs} ms`)),
      timeoutMs,
    );
    signal.addEventListener('abort', onAbort, { once: true });
    sock.on('error', (err) => finish(new ExchangeError(err.message, { cause: err })));
    sock.on('message', (msg) => {
      const ok = acceptAnswer(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), id);
      if (ok !== undefined) finish(undefined, { ...ok, bytes: Uint8Array.from(ok.bytes) });
    });
    sock.connect(to.port, to.host, () => {
      if (settled) return;
      sock.send(query, (err) => {
        if (err) finish(new ExchangeError(err.message, { cause: err }));
      });
    });
  });
}

function exchangeTcp(
  to: RecursorAddress,
  query: Uint8Array,
  id: number,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<ExchangeResult> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: to.host, port: to.port });
    let settled = false;
    const chunks: Buffer[] = [];
    let have = 0;
    const finish = (err: Error | undefined, result?: ExchangeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      sock.destroy();
      if (err !== undefined) reject(err);
      else resolve(result!);
    };
    const onAbort = (): void => finish(new ExchangeError('aborted'));
    const timer = setTimeout(
      () => finish(new ExchangeError(`no answer from ${to.host}:${to.port} in ${timeoutMs} ms`)),
      timeoutMs,
    );
    signal.addEventListener('abort', onAbort, { once: true });
    sock.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(query.length);
      sock.write(Buffer.concat([len, query]));
    });
    sock.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      have += chunk.length;
      if (have > 2 + MAX_TCP_MESSAGE_BYTES + 2) {
        finish(new ExchangeError('answer longer than a DNS message'));
        return;
      }
      if (have < 2) return;
      const buf = Buffer.concat(chunks);
      const want = buf.readUInt16BE(0);
      if (have < 2 + want) return;
      const ok = acceptAnswer(Uint8Array.from(buf.subarray(2, 2 + want)), id);
      if (ok === undefined) finish(new ExchangeError('malformed answer'));
      else finish(undefined, ok);
    });
    sock.on('end', () => finish(new ExchangeError('connection closed before an answer')));
    sock.on('error', (err) => finish(new ExchangeError(err.message, { cause: err })));
  });
}
