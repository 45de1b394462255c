/**
 * The DNS listener: one UDP socket and one TCP listener on the same port, each query handed
 * to a {@link DnsAnswerer} and its answer sent back. The server parses nothing beyond TCP
 * framing; what to answer (or drop) is the handler's business.
 *
 * UDP: a datagram is one query; its answer goes back to the sender. An answer the handler
 *      can give at once (`answerSync`: a cached answer) is sent from the datagram's own
 *      callback, without a promise; others are awaited. At most `maxUdpInflight` queries
 *      are awaited at once; beyond that datagrams are dropped (and counted) rather than
 *      queued. The socket's receive and send buffers are enlarged (`udpBufferBytes`) so
 *      that bursts wait in the kernel rather than being dropped there.
 * TCP: RFC 1035 §4.2.2 / RFC 7766 — each message is prefixed by its 16-bit length; a
 *      client may send several on one connection. They are answered one at a time, in
 *      order, with reading paused meanwhile, so a connection buffers at most one message
 *      and one socket chunk. A zero-length message closes the connection. A connection
 *      idle for `tcpIdleMs`, or whose message started arriving more than
 *      `tcpReadTimeoutMs` ago and is still incomplete, is closed; connections beyond
 *      `maxTcpConnections` are closed as they arrive.
 *
 * Lifetime: `DnsServer.listen()` binds both (port 0 = ephemeral, the same number for both);
 * `close()` closes both sockets and every connection. Answers still being computed are
 * discarded when they arrive.
 */
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { createServer, isIP, isIPv6, type Server, type Socket } from 'node:net';
import {
  DEFAULT_MAX_TCP_CONNECTIONS,
  DEFAULT_MAX_UDP_INFLIGHT,
  DEFAULT_TCP_IDLE_MS,
  DEFAULT_TCP_READ_TIMEOUT_MS,
  DEFAULT_UDP_BUFFER_BYTES,
} from './constants.js';
import { DnsError, DnsErrorCode } from './errors.js';
import type { DnsAnswerer } from './handler.js';
import { silentLogger, type Logger } from './logger.js';

export interface DnsServerOptions {
  readonly handler: DnsAnswerer;
  /** Address to bind, e.g. '127.0.0.1' or '::1'. */
  readonly host: string;
  /** Port for both sockets; 0 picks a free one (read it back from `udpPort`/`tcpPort`). */
  readonly port: number;
  readonly logger?: Logger;
  /** Concurrent TCP connections. Default 128. */
  readonly maxTcpConnections?: number;
  /** Close a TCP connection idle this long (ms). Default 8 s (miekg/dns). */
  readonly tcpIdleMs?: number;
  /** A TCP message begun must be complete within this (ms). Default 2 s (miekg/dns). */
  readonly tcpReadTimeoutMs?: number;
  /** UDP queries answered at once; more are dropped. Default 256. */
  readonly maxUdpInflight?: number;
  /**
   * SO_RCVBUF / SO_SNDBUF of the UDP socket (the kernel caps them at net.core.rmem_max /
   * wmem_max). Default 4 MiB.
   */
  readonly udpBufferBytes?: number;
}

/** Counters since listen(). */
export interface DnsServerStats {
  udpQueries: number;
  udpAnswers: number;
  /** Datagrams dropped because `maxUdpInflight` queries were in flight. */
  udpDropped: number;
  tcpConnections: number;
  /** Connections closed on arrival because `maxTcpConnections` were open. */
  tcpRejected: number;
  tcpQueries: number;
  tcpAnswers: number;
  /** Connections closed for idling, or for a message arriving too slowly. */
  tcpIdleClosed: number;
  /** Answers the handler returned as null (input dropped). */
  dropped: number;
  /** Answers given at once by the handler's `answerSync` (UDP and TCP). */
  syncAnswers: number;
}

/**
 * The UDP socket's address lookup. Answers go to a datagram's source, always an IP literal,
 * which is handed back at once: dgram's default (dns.lookup) hands it back a tick later,
 * deferring every send. Anything else goes to dns.lookup.
 */
function literalLookup(
  host: string,
  options: LookupOneOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const family = isIP(host);
  if (family !== 0) callback(null, host, family);
  else dnsLookup(host, options, callback);
}

function positiveInt(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 1) {
    throw new DnsError(DnsErrorCode.InvalidOption, `${name} must be a positive integer, got ${v}`);
  }
  return v;
}

export class DnsServer {
  readonly host: string;
  readonly udpPort: number;
  readonly tcpPort: number;
  readonly #udp: UdpSocket;
  readonly #tcp: Server;
  readonly #handler: DnsAnswerer;
  readonly #log: Logger;
  readonly #maxConns: number;
  readonly #idleMs: number;
  readonly #readTimeoutMs: number;
  readonly #maxUdpInflight: number;
  readonly #conns = new Set<Socket>();
  #udpInflight = 0;
  #closed: Promise<void> | undefined;
  readonly #stats: DnsServerStats = {
    udpQueries: 0,
    udpAnswers: 0,
    udpDropped: 0,
    tcpConnections: 0,
    tcpRejected: 0,
    tcpQueries: 0,
    tcpAnswers: 0,
    tcpIdleClosed: 0,
    dropped: 0,
    syncAnswers: 0,
  };

  private constructor(
    o: DnsServerOptions,
    limits: { maxConns: number; idleMs: number; readTimeoutMs: number; maxUdpInflight: number },
    udp: UdpSocket,
    tcp: Server,
    port: number,
  ) {
    this.host = o.host;
    this.udpPort = port;
    this.tcpPort = port;
    this.#udp = udp;
    this.#tcp = tcp;
    this.#handler = o.handler;
    this.#log = o.logger ?? silentLogger;
    this.#maxConns = limits.maxConns;
    this.#idleMs = limits.idleMs;
    this.#readTimeoutMs = limits.readTimeoutMs;
    this.#maxUdpInflight = limits.maxUdpInflight;
    udp.on('message', (msg, rinfo) => this.#onDatagram(msg, rinfo));
    udp.on('error', (err) => this.#log.warn({ err }, 'dns UDP socket error'));
    tcp.on('connection', (sock) => this.#accept(sock));
    tcp.on('error', (err) => this.#log.warn({ err }, 'dns TCP listener error'));
  }

  /**
   * Binds TCP, then UDP on the same port. With port 0 both are retried (10 times) when the
   * UDP side of the picked port is taken. Throws DNS_INVALID_OPTION or DNS_BIND_FAILED.
   */
  static async listen(o: DnsServerOptions): Promise<DnsServer> {
    if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) {
      throw new DnsError(DnsErrorCode.InvalidOption, `port ${o.port} is not 0–65535`);
    }
    const limits = {
      maxConns: positiveInt(
        'maxTcpConnections',
        o.maxTcpConnections ?? DEFAULT_MAX_TCP_CONNECTIONS,
      ),
      idleMs: positiveInt('tcpIdleMs', o.tcpIdleMs ?? DEFAULT_TCP_IDLE_MS),
      readTimeoutMs: positiveInt(
        'tcpReadTimeoutMs',
        o.tcpReadTimeoutMs ?? DEFAULT_TCP_READ_TIMEOUT_MS,
      ),
      maxUdpInflight: positiveInt('maxUdpInflight', o.maxUdpInflight ?? DEFAULT_MAX_UDP_INFLIGHT),
    };
    const udpBuffer = positiveInt('udpBufferBytes', o.udpBufferBytes ?? DEFAULT_UDP_BUFFER_BYTES);
    const attempts = o.port === 0 ? 10 : 1;
    let last: unknown;
    for (let i = 0; i < attempts; i++) {
      const tcp = createServer({ allowHalfOpen: false });
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen({ host: o.host, port: o.port, exclusive: true }, () => {
            tcp.off('error', reject);
            resolve();
          });
        });
      } catch (e) {
        last = e;
        continue;
      }
      const address = tcp.address();
      const port = typeof address === 'object' && address !== null ? address.port : o.port;
      const udp = createSocket({
        type: isIPv6(o.host) ? 'udp6' : 'udp4',
        lookup: literalLookup,
      });
      try {
        await new Promise<void>((resolve, reject) => {
          udp.once('error', reject);
          udp.bind({ address: o.host, port, exclusive: true }, () => {
            udp.off('error', reject);
            resolve();
          });
        });
      } catch (e) {
        last = e;
        udp.close();
        await new Promise<void>((r) => tcp.close(() => r()));
        continue;
      }
      try {
        udp.setRecvBufferSize(udpBuffer);
        udp.setSendBufferSize(udpBuffer);
      } catch (err) {
        // Best effort: some systems refuse sizes above their limit instead of capping.
        o.logger?.debug({ err, bytes: udpBuffer }, 'dns UDP buffer size not set');
      }
      return new DnsServer(o, limits, udp, tcp, port);
    }
    throw new DnsError(DnsErrorCode.BindFailed, `${o.host}:${o.port}: ${String(last)}`, {
      cause: last,
    });
  }

  /** A snapshot of the counters. */
  stats(): DnsServerStats {
    return { ...this.#stats };
  }

  /** Open TCP connections. */
  get tcpConnections(): number {
    return this.#conns.size;
  }

  /** Closes both sockets and every connection; idempotent. */
  close(): Promise<void> {
    if (this.#closed) return this.#closed;
    this.#closed = (async () => {
      const tcpClosed = new Promise<void>((r) => this.#tcp.close(() => r()));
      for (const s of this.#conns) s.destroy();
      this.#conns.clear();
      const udpClosed = new Promise<void>((r) => {
        try {
          this.#udp.close(() => r());
        } catch {
          r();
        }
      });
      await Promise.all([tcpClosed, udpClosed]);
    })();
    return this.#closed;
  }

  #onDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.#closed) return;
    this.#stats.udpQueries++;
    const now = this.#handler.answerSync?.(msg, 'udp');
    if (now !== undefined) {
      this.#stats.syncAnswers++;
      this.#sendUdp(now, rinfo);
      return;
    }
    if (this.#udpInflight >= this.#maxUdpInflight) {
      this.#stats.udpDropped++;
      return;
    }
    this.#udpInflight++;
    const query = Uint8Array.from(msg);
    this.#handler
      .answer(query, 'udp')
      .then((answer) => {
        if (answer === null) {
          this.#stats.dropped++;
          return;
        }
        if (this.#closed) return;
        this.#sendUdp(answer, rinfo);
      })
      .catch((err: unknown) => this.#log.warn({ err }, 'dns handler rejected'))
      .finally(() => {
        this.#udpInflight--;
      });
  }

  /**
   * Sends without a completion callback: each callback costs a tick, and a UDP answer that
   * cannot be sent is lost like any datagram (the client retries).
   */
  #sendUdp(answer: Uint8Array, to: RemoteInfo): void {
    this.#stats.udpAnswers++;
    this.#udp.send(answer, to.port, to.address);
  }

  #accept(sock: Socket): void {
    if (this.#closed || this.#conns.size >= this.#maxConns) {
      this.#stats.tcpRejected++;
      sock.destroy();
      return;
    }
    this.#stats.tcpConnections++;
    this.#conns.add(sock);
    sock.setNoDelay(true);
    sock.setTimeout(this.#idleMs, () => {
      this.#stats.tcpIdleClosed++;
      sock.destroy();
    });
    let buf: Buffer = Buffer.alloc(0);
    let busy = false;
    /** Runs while a message is partly received. */
    let readTimer: NodeJS.Timeout | undefined;
    const stopReadTimer = (): void => {
      clearTimeout(readTimer);
      readTimer = undefined;
    };
    const writeAnswer = (answer: Uint8Array): void => {
      if (answer.length > 0xffff) {
        this.#log.warn({ bytes: answer.length }, 'dns answer too long for TCP, dropped');
        return;
      }
      this.#stats.tcpAnswers++;
      const framed = Buffer.allocUnsafe(2 + answer.length);
      framed.writeUInt16BE(answer.length, 0);
      framed.set(answer, 2);
      sock.write(framed);
    };
    const pump = (): void => {
      while (!busy && !sock.destroyed && buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (len === 0) {
          sock.destroy();
          return;
        }
        if (buf.length < 2 + len) break;
        const query = Uint8Array.from(buf.subarray(2, 2 + len));
        buf = buf.subarray(2 + len);
        this.#stats.tcpQueries++;
        const now = this.#handler.answerSync?.(query, 'tcp');
        if (now !== undefined) {
          this.#stats.syncAnswers++;
          writeAnswer(now);
          continue;
        }
        busy = true;
        sock.pause();
        this.#handler
          .answer(query, 'tcp')
          .then((answer) => {
            if (answer === null) {
              this.#stats.dropped++;
              return;
            }
            if (sock.destroyed || this.#closed) return;
            writeAnswer(answer);
          })
          .catch((err: unknown) => this.#log.warn({ err }, 'dns handler rejected'))
          .finally(() => {
            busy = false;
            if (sock.destroyed) return;
            sock.resume();
            pump();
          });
      }
      // A partial message starts the read deadline; more of it arriving does not reset it.
      if (busy || buf.length === 0 || sock.destroyed) stopReadTimer();
      else if (readTimer === undefined) {
        readTimer = setTimeout(() => {
          this.#stats.tcpIdleClosed++;
          sock.destroy();
        }, this.#readTimeoutMs);
      }
    };
    sock.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      pump();
    });
    sock.on('error', (err) => this.#log.debug({ err }, 'dns TCP connection error'));
    sock.on('close', () => {
      stopReadTimer();
      this.#conns.delete(sock);
    });
  }
}
