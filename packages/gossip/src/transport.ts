/**
 * The gossip transport: one UDP socket and one TCP listener on the same port
 * (memberlist's NetTransport model), with optional AES-256-GCM encryption (keyring.ts).
 *
 * UDP datagram:   [envelope( core packet )]        or the bare core packet (no keyring)
 * TCP connection: the client writes one frame, the server answers with at most one frame,
 *                 then both sides close. frame = u32 big-endian length | payload, where
 *                 payload = [envelope( core stream message )] or the bare message.
 *                 A request the core does not answer (a user event, a ping for another
 *                 node) gets no frame: the server just closes.
 *
 * The envelope's AAD is one channel byte (1 = UDP packet, 2 = TCP request, 3 = TCP reply)
 * followed by the UTF-8 cluster label (memberlist's Label; '' by default), so ciphertext
 * moved across channels or clusters fails authentication.
 *
 * Inbound input never throws and never reaches the core unless it passed every check:
 * size (before anything is read or allocated), envelope, decryption, replay cache. What is
 * refused is counted under a {@link DropReason}. The stream handler runs synchronously on
 * the complete frame; the transport neither parses nor interprets core bytes.
 *
 * Lifetime: `GossipTransport.listen()` binds both sockets (port 0 = ephemeral, the bound
 * port is then in `port`); `close()` (or the AbortSignal) closes the listener, destroys
 * every open connection (pending requests reject with GOSSIP_CLOSED) and the UDP socket.
 */
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, isIPv6, type Server, type Socket } from 'node:net';
import { MAX_PACKET_BYTES, MAX_STREAM_BYTES } from './codec.js';
import { DROP_REASONS, GossipIoError, IoErrorCode, type DropReason } from './io-errors.js';
import { ENVELOPE_OVERHEAD, ReplayCache, type Keyring } from './keyring.js';
import { silentLogger, type Logger } from './logger.js';

/** AAD channel bytes (see the file comment). */
const CHANNEL_PACKET = 1;
const CHANNEL_REQUEST = 2;
const CHANNEL_REPLY = 3;

const FRAME_HEADER = 4;

export interface TransportOptions {
  /** Address to bind both sockets to. Default '127.0.0.1': never expose by accident. */
  readonly bindAddr?: string;
  /** Port for both sockets; 0 picks a free one (read it back from `port`). Default 0. */
  readonly port?: number;
  /** Encrypts everything sent and requires everything received to be encrypted. */
  readonly keyring?: Keyring | undefined;
  /** Cluster label mixed into the AAD (memberlist's Label). Default ''. */
  readonly label?: string;
  /**
   * Largest UDP datagram accepted. Default MAX_PACKET_BYTES (65,507, the IPv4 maximum,
   * like memberlist which reads any datagram): peers may run a larger udpBufferSize.
   */
  readonly maxPacketBytes?: number;
  /**
   * Largest core stream message accepted (a frame may carry this plus the envelope).
   * Default MAX_STREAM_BYTES (20 MB, memberlist's maxPushStateBytes).
   */
  readonly maxStreamBytes?: number;
  /**
   * Deadline for an inbound connection to deliver its request frame, and the default for
   * outbound requests. Default 10 s (memberlist's LAN TCPTimeout).
   */
  readonly tcpTimeout?: number;
  /**
   * Concurrent inbound connections (beyond: closed at once, counted `tcp-limit`), and
   * separately concurrent outbound requests (beyond: rejected). Default 64: a member has
   * at most one probe and a few push-pulls in flight; a full cluster joining through one
   * seed at once stays below it, a connection flood does not exhaust descriptors.
   */
  readonly maxTcpConnections?: number;
  /** Nonces remembered to drop exact replays (0 disables). Default 8192 (≈ minutes). */
  readonly replayWindow?: number;
  readonly logger?: Logger;
  /**
   * Test hook (fault injection): called for every outbound UDP datagram and TCP request,
   * with the bytes as they would go on the wire. Return false to drop it (a dropped TCP
   * request fails as if the peer were unreachable). Default: send everything.
   */
  readonly outboundFilter?: (kind: 'udp' | 'tcp', to: string, wire: Uint8Array) => boolean;
  /** Closes the transport when aborted. */
  readonly signal?: AbortSignal;
}

/** What the owner of the transport (the agent) handles. Must not throw. */
export interface TransportHandlers {
  /** A datagram that passed every check, decrypted; `from` is "host:port". */
  onPacket(from: string, bytes: Uint8Array): void;
  /** A stream request that passed every check; return the reply (or undefined: none). */
  onStream(from: string, bytes: Uint8Array): Uint8Array | undefined;
}

/** Counters, monotonically increasing from listen(). A plain snapshot (JSON-safe). */
export interface TransportStats {
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Inbound connections accepted (including those then dropped). */
  streamsIn: number;
  /** Outbound requests started. */
  streamsOut: number;
  /** UDP sends that failed locally (bad address, socket error). */
  sendErrors: number;
  /** Outbound requests that failed (refused, timeout, bad reply, …). */
  streamErrors: number;
  /** Inbound input refused, by reason (every reason present, zero or more). */
  dropped: Record<DropReason, number>;
}

function emptyStats(): TransportStats {
  const dropped = {} as Record<DropReason, number>;
  for (const r of DROP_REASONS) dropped[r] = 0;
  return {
    packetsIn: 0,
    packetsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    streamsIn: 0,
    streamsOut: 0,
    sendErrors: 0,
    streamErrors: 0,
    dropped,
  };
}

/** "host:port" (or "[v6]:port") → parts. Throws GOSSIP_BAD_ADDRESS. */
export function parseAddr(addr: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(addr) ?? /^([^:[\]]+):(\d{1,5})$/.exec(addr);
  const port = m === null ? NaN : Number(m[2]);
  if (m === null || !Number.isInteger(port) || port > 65_535) {
    throw new GossipIoError(IoErrorCode.BadAddress, `want host:port or [v6]:port, got '${addr}'`);
  }
  return { host: m[1]!, port };
}

export function formatAddr(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(FRAME_HEADER);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

function frame(payload: Uint8Array): Buffer {
  return Buffer.concat([u32(payload.length), payload]);
}

/**
 * Accumulates one length-prefixed frame. `push` returns 'more', 'done' (exactly one
 * frame), 'oversized' (declared length beyond the limit; nothing allocated for it) or
 * 'trailing' (bytes beyond the frame: a protocol violation).
 */
class FrameReader {
  readonly #max: number;
  readonly #chunks: Buffer[] = [];
  #have = 0;
  #want: number | undefined;

  constructor(max: number) {
    this.#max = max;
  }

  get received(): number {
    return this.#have;
  }

  push(chunk: Buffer): 'more' | 'done' | 'oversized' | 'trailing' | 'empty' {
    this.#chunks.push(chunk);
    this.#have += chunk.length;
    if (this.#want === undefined) {
      if (this.#have < FRAME_HEADER) return 'more';
      const head = Buffer.concat(this.#chunks);
      this.#chunks.length = 0;
      this.#chunks.push(head);
      const len = head.readUInt32BE(0);
      if (len > this.#max) return 'oversized';
      if (len === 0) return 'empty';
      this.#want = FRAME_HEADER + len;
    }
    if (this.#have < this.#want) return 'more';
    if (this.#have > this.#want) return 'trailing';
    return 'done';
  }

  /** The payload of the completed frame. */
  payload(): Uint8Array {
    return new Uint8Array(Buffer.concat(this.#chunks).subarray(FRAME_HEADER));
  }
}

export class GossipTransport {
  readonly bindAddr: string;
  /** The bound port (the same for UDP and TCP). */
  readonly port: number;
  readonly #udp: UdpSocket;
  readonly #tcp: Server;
  readonly #handlers: TransportHandlers;
  readonly #keyring: Keyring | undefined;
  readonly #aad: Record<1 | 2 | 3, Uint8Array>;
  readonly #maxPacket: number;
  readonly #maxFrame: number;
  readonly #tcpTimeout: number;
  readonly #maxConns: number;
  readonly #replay: ReplayCache;
  readonly #log: Logger;
  readonly #filter: TransportOptions['outboundFilter'];
  readonly #inbound = new Set<Socket>();
  readonly #outbound = new Set<Socket>();
  readonly #stats = emptyStats();
  #closed: Promise<void> | undefined;
  readonly #onAbort = (): void => void this.close();
  readonly #signal: AbortSignal | undefined;

  private constructor(
    opts: TransportOptions,
    handlers: TransportHandlers,
    udp: UdpSocket,
    tcp: Server,
    bindAddr: string,
    port: number,
  ) {
    this.bindAddr = bindAddr;
    this.port = port;
    this.#udp = udp;
    this.#tcp = tcp;
    this.#handlers = handlers;
    this.#keyring = opts.keyring;
    const label = Buffer.from(opts.label ?? '', 'utf8');
    const aad = (c: number): Uint8Array => new Uint8Array(Buffer.concat([Buffer.of(c), label]));
    this.#aad = {
      1: aad(CHANNEL_PACKET),
      2: aad(CHANNEL_REQUEST),
      3: aad(CHANNEL_REPLY),
    };
    this.#maxPacket = opts.maxPacketBytes ?? MAX_PACKET_BYTES;
    this.#maxFrame =
      (opts.maxStreamBytes ?? MAX_STREAM_BYTES) + (opts.keyring ? ENVELOPE_OVERHEAD : 0);
    this.#tcpTimeout = opts.tcpTimeout ?? 10_000;
    this.#maxConns = opts.maxTcpConnections ?? 64;
    this.#replay = new ReplayCache(opts.replayWindow ?? 8192);
    this.#log = opts.logger ?? silentLogger;
    this.#filter = opts.outboundFilter;
    this.#signal = opts.signal;

    udp.on('message', (msg, rinfo) => this.#onDatagram(msg, rinfo));
    udp.on('error', (err) => this.#log.warn({ err }, 'gossip UDP socket error'));
    tcp.on('connection', (sock) => this.#accept(sock));
    tcp.on('error', (err) => this.#log.warn({ err }, 'gossip TCP listener error'));
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /**
   * Binds the TCP listener and the UDP socket on the same port. With port 0 the TCP
   * listener picks a free port and UDP binds the same one; if that UDP port is taken, both
   * are retried (at most 10 times, as memberlist's NewNetTransport loops over its binds).
   * Throws GOSSIP_BIND_FAILED, or GOSSIP_CLOSED if the signal is already aborted.
   */
  static async listen(
    opts: TransportOptions,
    handlers: TransportHandlers,
  ): Promise<GossipTransport> {
    if (opts.signal?.aborted) throw new GossipIoError(IoErrorCode.Closed, 'aborted before listen');
    const bindAddr = opts.bindAddr ?? '127.0.0.1';
    const wanted = opts.port ?? 0;
    if (!Number.isInteger(wanted) || wanted < 0 || wanted > 65_535) {
      throw new GossipIoError(IoErrorCode.InvalidOption, `port ${wanted} is not 0–65535`);
    }
    const attempts = wanted === 0 ? 10 : 1;
    let last: unknown;
    for (let i = 0; i < attempts; i++) {
      const tcp = createServer({ allowHalfOpen: false });
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen({ host: bindAddr, port: wanted, exclusive: true }, () => {
            tcp.off('error', reject);
            resolve();
          });
        });
      } catch (e) {
        last = e;
        continue;
      }
      const address = tcp.address();
      const port = typeof address === 'object' && address !== null ? address.port : wanted;
      const udp = createSocket({ type: isIPv6(bindAddr) ? 'udp6' : 'udp4' });
      try {
        await new Promise<void>((resolve, reject) => {
          udp.once('error', reject);
          udp.bind({ address: bindAddr, port, exclusive: true }, () => {
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
      return new GossipTransport(opts, handlers, udp, tcp, bindAddr, port);
    }
    throw new GossipIoError(
      IoErrorCode.BindFailed,
      `${formatAddr(bindAddr, wanted)}: ${String(last)}`,
      { cause: last },
    );
  }

  /** "host:port" of the bound sockets. */
  get addr(): string {
    return formatAddr(this.bindAddr, this.port);
  }

  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /** Whether everything sent is encrypted (a keyring is configured). */
  get encrypted(): boolean {
    return this.#keyring !== undefined;
  }

  /** Bytes every UDP packet loses to the envelope (the core's reservedPacketBytes). */
  get packetOverhead(): number {
    return this.#keyring ? ENVELOPE_OVERHEAD : 0;
  }

  /** A snapshot of the counters. */
  stats(): TransportStats {
    return { ...this.#stats, dropped: { ...this.#stats.dropped } };
  }

  /** Counts a drop decided by the owner (the core refused decrypted bytes). */
  countDrop(reason: DropReason): void {
    this.#stats.dropped[reason]++;
  }

  /** Fire and forget: errors are counted (`sendErrors`) and logged at debug. */
  sendPacket(to: string, packet: Uint8Array): void {
    if (this.#closed) return;
    let dest: { host: string; port: number };
    try {
      dest = parseAddr(to);
    } catch (err) {
      this.#stats.sendErrors++;
      this.#log.debug({ err, to }, 'gossip UDP send to a bad address');
      return;
    }
    const wire = this.#keyring ? this.#keyring.seal(packet, this.#aad[1]) : packet;
    if (this.#filter && !this.#filter('udp', to, wire)) return;
    this.#stats.packetsOut++;
    this.#stats.bytesOut += wire.length;
    this.#udp.send(wire, dest.port, dest.host, (err) => {
      if (err) {
        this.#stats.sendErrors++;
        this.#log.debug({ err, to }, 'gossip UDP send failed');
      }
    });
  }

  /**
   * One stream exchange: connect to `to`, write `request` as one frame, read at most one
   * frame back. Resolves with the reply, or undefined when the peer closed without one.
   * Rejects with GOSSIP_STREAM_FAILED (refused, timeout after `timeoutMs`, oversized,
   * truncated or undecryptable reply, too many outbound requests) or GOSSIP_CLOSED.
   */
  request(
    to: string,
    request: Uint8Array,
    timeoutMs = this.#tcpTimeout,
  ): Promise<Uint8Array | undefined> {
    if (this.#closed) {
      return Promise.reject(new GossipIoError(IoErrorCode.Closed, 'transport closed'));
    }
    const fail = (why: string, cause?: unknown): Promise<never> => {
      this.#stats.streamErrors++;
      return Promise.reject(
        new GossipIoError(IoErrorCode.StreamFailed, `${to}: ${why}`, { cause }),
      );
    };
    let dest: { host: string; port: number };
    try {
      dest = parseAddr(to);
    } catch (e) {
      return fail('bad address', e);
    }
    if (this.#outbound.size >= this.#maxConns) {
      return fail(`${this.#maxConns} outbound requests already in flight`);
    }
    const payload = this.#keyring ? this.#keyring.seal(request, this.#aad[2]) : request;
    const wire = frame(payload);
    this.#stats.streamsOut++;
    if (this.#filter && !this.#filter('tcp', to, wire)) return fail('dropped by outbound filter');
    this.#stats.bytesOut += wire.length;

    return new Promise<Uint8Array | undefined>((resolve, reject) => {
      const sock = connect({ host: dest.host, port: dest.port });
      this.#outbound.add(sock);
      const reader = new FrameReader(this.#maxFrame);
      let settled = false;
      const done = (err: GossipIoError | undefined, reply?: Uint8Array): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#outbound.delete(sock);
        sock.destroy();
        if (err) {
          if (err.code === IoErrorCode.StreamFailed) this.#stats.streamErrors++;
          reject(err);
        } else {
          resolve(reply);
        }
      };
      const failed = (why: string, cause?: unknown): void =>
        done(new GossipIoError(IoErrorCode.StreamFailed, `${to}: ${why}`, { cause }));
      const timer = setTimeout(() => failed(`no reply within ${timeoutMs} ms`), timeoutMs);
      sock.on('connect', () => sock.write(wire));
      sock.on('data', (chunk: Buffer) => {
        const st = reader.push(chunk);
        if (st === 'more') return;
        if (st !== 'done') {
          failed(`bad reply frame (${st})`);
          return;
        }
        this.#stats.bytesIn += reader.received;
        const bytes = reader.payload();
        if (!this.#keyring) {
          done(undefined, bytes);
          return;
        }
        const opened = this.#keyring.open(bytes, this.#aad[3]);
        if (!opened.ok) {
          this.#stats.dropped[opened.reason]++;
          failed(`reply dropped (${opened.reason})`);
          return;
        }
        if (this.#replay.seen(opened.nonce)) {
          this.#stats.dropped.replay++;
          failed('reply dropped (replay)');
          return;
        }
        done(undefined, opened.plain);
      });
      sock.on('end', () => {
        if (reader.received === 0) done(undefined, undefined);
        else failed('reply truncated');
      });
      sock.on('error', (err) => failed(err.message, err));
      sock.on('close', () => {
        if (this.#closed) done(new GossipIoError(IoErrorCode.Closed, 'transport closed'));
        else failed('connection closed');
      });
    });
  }

  /** Closes everything; idempotent. Resolves when both sockets are closed. */
  close(): Promise<void> {
    if (this.#closed) return this.#closed;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#closed = (async () => {
      const tcpClosed = new Promise<void>((r) => this.#tcp.close(() => r()));
      for (const s of [...this.#inbound, ...this.#outbound]) s.destroy();
      this.#inbound.clear();
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

  // ---------------------------------------------------------------------------------------

  #onDatagram(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.#closed) return;
    this.#stats.packetsIn++;
    this.#stats.bytesIn += msg.length;
    const from = formatAddr(rinfo.address, rinfo.port);
    if (msg.length > this.#maxPacket) {
      this.#drop('oversized', from, 'udp');
      return;
    }
    let bytes: Uint8Array = new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
    if (this.#keyring) {
      const opened = this.#keyring.open(bytes, this.#aad[1]);
      if (!opened.ok) {
        this.#drop(opened.reason, from, 'udp');
        return;
      }
      if (this.#replay.seen(opened.nonce)) {
        this.#drop('replay', from, 'udp');
        return;
      }
      bytes = opened.plain;
    }
    try {
      this.#handlers.onPacket(from, bytes);
    } catch (err) {
      this.#log.error({ err, from }, 'gossip packet handler threw');
    }
  }

  #drop(reason: DropReason, from: string, via: 'udp' | 'tcp'): void {
    this.#stats.dropped[reason]++;
    this.#log.debug({ reason, from, via }, 'gossip input dropped');
  }

  #accept(sock: Socket): void {
    this.#stats.streamsIn++;
    const from = formatAddr(sock.remoteAddress ?? '?', sock.remotePort ?? 0);
    if (this.#closed) {
      sock.destroy();
      return;
    }
    if (this.#inbound.size >= this.#maxConns) {
      this.#drop('tcp-limit', from, 'tcp');
      sock.destroy();
      return;
    }
    this.#inbound.add(sock);
    const reader = new FrameReader(this.#maxFrame);
    let finished = false;
    const finish = (reason: DropReason | undefined): void => {
      if (finished) return;
      finished = true;
      if (reason !== undefined) {
        clearTimeout(timer);
        this.#drop(reason, from, 'tcp');
        sock.destroy();
        this.#inbound.delete(sock);
      }
    };
    // Bounds the whole connection: the request must arrive within the TCP timeout, and a
    // client that does not read its reply is cut off at the same deadline.
    const timer = setTimeout(() => {
      if (finished) sock.destroy();
      else finish('tcp-timeout');
    }, this.#tcpTimeout);
    sock.on('close', () => {
      clearTimeout(timer);
      this.#inbound.delete(sock);
      // A connection closed before its frame completed (reset, or the peer gave up).
      finish(reader.received === 0 ? undefined : 'truncated');
    });
    sock.on('error', () => sock.destroy());
    sock.on('end', () => finish(reader.received === 0 ? undefined : 'truncated'));
    sock.on('data', (chunk: Buffer) => {
      if (finished) return;
      const st = reader.push(chunk);
      if (st === 'more') return;
      if (st === 'oversized') return finish('oversized');
      if (st === 'empty') return finish('truncated');
      if (st === 'trailing') return finish('garbage');
      this.#stats.bytesIn += reader.received;
      finish(undefined);
      sock.pause();
      this.#serve(sock, from, reader.payload());
    });
  }

  #serve(sock: Socket, from: string, payload: Uint8Array): void {
    let request = payload;
    if (this.#keyring) {
      const opened = this.#keyring.open(payload, this.#aad[2]);
      if (!opened.ok || this.#replay.seen(opened.nonce)) {
        this.#drop(opened.ok ? 'replay' : opened.reason, from, 'tcp');
        sock.destroy();
        return;
      }
      request = opened.plain;
    }
    let reply: Uint8Array | undefined;
    try {
      reply = this.#handlers.onStream(from, request);
    } catch (err) {
      this.#log.error({ err, from }, 'gossip stream handler threw');
    }
    if (reply === undefined || this.#closed) {
      sock.end();
      return;
    }
    const wire = frame(this.#keyring ? this.#keyring.seal(reply, this.#aad[3]) : reply);
    this.#stats.bytesOut += wire.length;
    sock.end(wire);
  }
}
