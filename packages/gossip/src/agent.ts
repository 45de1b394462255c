/**
 * GossipAgent: the driver that runs a {@link GossipCore} on real sockets and real time.
 *
 * It owns one core, one {@link GossipTransport} and one timer, and follows the core's call
 * contract (core.ts): every core call's outputs are performed at once (UDP sends, TCP ping
 * and push-pull exchanges whose replies are fed back, subscriber dispatch), and the timer
 * is re-armed at `core.nextDeadline()` after every call. Time is monotonic
 * (`performance.now()` unless injected); randomness is `crypto.randomInt` unless injected.
 *
 * Contracts:
 *   - `GossipAgent.start()` binds, starts the core and (if `retryJoin` is given) joins in
 *     the background; it resolves once the sockets are bound and the core runs.
 *   - Subscribers (`onMember`, `onUserEvent`) are called synchronously, in the core's
 *     order; a subscriber that throws is logged and does not affect the others.
 *   - `leave()` gossips the leave intent and resolves once the core reports
 *     'leave-complete' (true) or after the timeout (false). The agent keeps answering until
 *     `close()`, so peers can still reach it while the intent spreads.
 *   - `close()` (or the AbortSignal) stops the timer, the join retries and the transport;
 *     pending exchanges are abandoned. Idempotent. Nothing is dispatched after it.
 *   - Network input never throws: it is dropped and counted (see `stats().dropped`).
 */
import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { GossipCore, type JoinOptions } from './core.js';
import { PRESETS, type GossipConfig, type PresetName, type RandFn, type Timing } from './config.js';
import { ErrorCode } from './errors.js';
import { GossipIoError, IoErrorCode, type DropReason } from './io-errors.js';
import { Keyring } from './keyring.js';
import { silentLogger, type Logger } from './logger.js';
import type { Tags } from './messages.js';
import type { Member, MemberEventKind, Output } from './output.js';
import {
  GossipTransport,
  formatAddr,
  type TransportOptions,
  type TransportStats,
} from './transport.js';

export interface AgentOptions {
  /** This member's unique name (1–255 UTF-8 bytes). */
  readonly name: string;
  /** Bind address for UDP and TCP. Default '127.0.0.1' (never exposed by accident). */
  readonly bindAddr?: string;
  /** Port for UDP and TCP; 0 = ephemeral (read `port`). Default 0. */
  readonly port?: number;
  /**
   * Address peers use to reach us ("host:port"). Default: bindAddr:boundPort. Required
   * when binding a wildcard address (0.0.0.0, ::).
   */
  readonly advertiseAddr?: string;
  /** Timing preset of the core. Default 'lan' (Consul's LAN pool). */
  readonly preset?: PresetName;
  /** Per-field overrides of the preset (see config.ts). */
  readonly config?: Partial<Timing>;
  readonly tags?: Tags;
  /**
   * Gossip encryption keys, Consul `encrypt` form (base64 of 32 bytes); the first is the
   * primary. Absent or empty: no encryption. Invalid keys throw GOSSIP_KEY_INVALID.
   */
  readonly keys?: readonly string[];
  /** Cluster label mixed into the encryption AAD. Default ''. */
  readonly label?: string;
  /** Seeds to join in the background right after start (Consul's -retry-join). */
  readonly retryJoin?: readonly string[];
  /**
   * Longest wait between join attempts; waits start at min(1 s, this) and double up to
   * it. Default 30 s (Consul's retry_interval).
   */
  readonly retryJoinInterval?: number;
  /** Join attempts before giving up; 0 = until joined or closed (Consul's retry_max). */
  readonly retryJoinMax?: number;
  /** Default timeout of leave(). 5 s: serf's BroadcastTimeout for the leave intent. */
  readonly leaveTimeout?: number;
  /** Do not deliver user events from before our join (serf's ignoreOld). Default false. */
  readonly ignoreOldEvents?: boolean;
  /** Randomness for the core. Default crypto.randomInt. */
  readonly rand?: RandFn;
  /** Monotonic milliseconds. Default performance.now(). */
  readonly now?: () => number;
  readonly logger?: Logger;
  /** Transport limits and the test-only outbound filter (see TransportOptions). */
  readonly transport?: Pick<
    TransportOptions,
    'maxPacketBytes' | 'maxStreamBytes' | 'maxTcpConnections' | 'replayWindow' | 'outboundFilter'
  >;
  /** Closes the agent when aborted. */
  readonly signal?: AbortSignal;
}

export interface UserEvent {
  readonly name: string;
  readonly payload: Uint8Array;
  readonly ltime: number;
}

/** Transport counters plus the driver's own. */
export interface AgentStats extends TransportStats {
  /** TCP fallback pings that got a reply / that failed. */
  tcpPings: number;
  tcpPingFailures: number;
  /** Push-pull exchanges we started (join and periodic) that merged / that failed. */
  pushPulls: number;
  pushPullFailures: number;
  memberEvents: number;
  userEvents: number;
  /** Members believed alive or suspect (ourselves included). */
  alive: number;
  /** Lifeguard health score (0 = healthy). */
  health: number;
}

/** How a core 'dropped' output is counted. */
function dropReasonOf(code: string): DropReason {
  switch (code) {
    case ErrorCode.Truncated:
      return 'truncated';
    case ErrorCode.Oversized:
      return 'oversized';
    case ErrorCode.Malformed:
    case ErrorCode.UnknownType:
      return 'malformed';
    case ErrorCode.UnsupportedVersion:
      return 'version';
    default:
      return 'unexpected';
  }
}

const WILDCARD = new Set(['0.0.0.0', '::', '']);
/** setTimeout's largest delay (2^31 − 1 ms). */
const MAX_TIMER = 2 ** 31 - 1;

export class GossipAgent {
  readonly name: string;
  /** The address we advertise ("host:port"). */
  readonly addr: string;
  /** The bound port (UDP and TCP). */
  readonly port: number;
  /** The keyring when encryption is on (install / use / remove apply at once). */
  readonly keyring: Keyring | undefined;
  readonly #core: GossipCore;
  readonly #transport: GossipTransport;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #opts: AgentOptions;
  readonly #abort = new AbortController();
  readonly #memberSubs = new Set<(kind: MemberEventKind, member: Member) => void>();
  readonly #eventSubs = new Set<(e: UserEvent) => void>();
  readonly #leaveWaiters = new Set<(done: boolean) => void>();
  #timer: NodeJS.Timeout | undefined;
  #timerAt: number | undefined;
  #leaveComplete = false;
  #closed: Promise<void> | undefined;
  readonly #counters = {
    tcpPings: 0,
    tcpPingFailures: 0,
    pushPulls: 0,
    pushPullFailures: 0,
    memberEvents: 0,
    userEvents: 0,
  };
  readonly #onAbort = (): void => void this.close();

  private constructor(
    opts: AgentOptions,
    transport: GossipTransport,
    keyring: Keyring | undefined,
    addr: string,
  ) {
    this.#opts = opts;
    this.name = opts.name;
    this.addr = addr;
    this.port = transport.port;
    this.keyring = keyring;
    this.#transport = transport;
    this.#log = opts.logger ?? silentLogger;
    this.#now = opts.now ?? (() => performance.now());
    const rand = opts.rand ?? ((n: number) => randomInt(n));
    this.#core = new GossipCore({
      ...opts.config,
      name: opts.name,
      addr,
      rand,
      preset: opts.preset ?? 'lan',
      ...(opts.tags ? { tags: opts.tags } : {}),
      reservedPacketBytes: (opts.config?.reservedPacketBytes ?? 0) + transport.packetOverhead,
    });
  }

  /**
   * Binds, starts the core, and starts `retryJoin` in the background. Throws
   * GOSSIP_KEY_INVALID, GOSSIP_BIND_FAILED, GOSSIP_INVALID_CONFIG (core config) or
   * GOSSIP_INVALID_OPTION.
   */
  static async start(opts: AgentOptions): Promise<GossipAgent> {
    const keyring =
      opts.keys !== undefined && opts.keys.length > 0 ? new Keyring(opts.keys) : undefined;
    const bindAddr = opts.bindAddr ?? '127.0.0.1';
    if (opts.advertiseAddr === undefined && WILDCARD.has(bindAddr)) {
      throw new GossipIoError(
        IoErrorCode.InvalidOption,
        `bind address ${bindAddr} is a wildcard: set advertiseAddr`,
      );
    }
    const preset = PRESETS[opts.preset ?? 'lan'] as Timing | undefined;
    if (preset === undefined) {
      throw new GossipIoError(IoErrorCode.InvalidOption, `unknown preset ${String(opts.preset)}`);
    }
    let agent: GossipAgent | undefined;
    const transport = await GossipTransport.listen(
      {
        ...opts.transport,
        bindAddr,
        port: opts.port ?? 0,
        keyring,
        label: opts.label ?? '',
        tcpTimeout: opts.config?.tcpTimeout ?? preset.tcpTimeout,
        ...(opts.logger ? { logger: opts.logger } : {}),
      },
      {
        // Datagrams are macrotasks: none can arrive before `agent` is set below.
        onPacket: (from, bytes) => {
          if (agent !== undefined) agent.#onPacket(from, bytes);
        },
        onStream: (from, bytes) => (agent === undefined ? undefined : agent.#onStream(from, bytes)),
      },
    );
    try {
      agent = new GossipAgent(
        opts,
        transport,
        keyring,
        opts.advertiseAddr ?? formatAddr(bindAddr, transport.port),
      );
    } catch (e) {
      await transport.close();
      throw e;
    }
    agent.#begin();
    return agent;
  }

  #begin(): void {
    this.#call((c, now) => c.start(now));
    const signal = this.#opts.signal;
    if (signal?.aborted) {
      void this.close();
      return;
    }
    signal?.addEventListener('abort', this.#onAbort, { once: true });
    const seeds = this.#opts.retryJoin;
    if (seeds !== undefined && seeds.length > 0) {
      this.retryJoin(seeds).then(
        (n) => this.#log.info({ node: this.name, seeds: n }, 'gossip joined'),
        (err: unknown) => {
          if (!this.closed) this.#log.error({ node: this.name, err }, 'gossip retry-join gave up');
        },
      );
    }
  }

  get closed(): boolean {
    return this.#closed !== undefined;
  }

  // =====================================================================================
  // Subscriptions

  /** Member events (join, update, leave, fail). Returns the unsubscribe function. */
  onMember(fn: (kind: MemberEventKind, member: Member) => void): () => void {
    this.#memberSubs.add(fn);
    return () => this.#memberSubs.delete(fn);
  }

  /** User events, each delivered once. Returns the unsubscribe function. */
  onUserEvent(fn: (e: UserEvent) => void): () => void {
    this.#eventSubs.add(fn);
    return () => this.#eventSubs.delete(fn);
  }

  // =====================================================================================
  // Membership

  /**
   * One join attempt: a push-pull with each seed, concurrently. Resolves with the number
   * of seeds whose state was merged (0 = none reached) once every exchange ended (each is
   * bounded by the TCP timeout). Throws GOSSIP_CLOSED, GOSSIP_LEFT.
   */
  async join(seeds: readonly string[], options: JoinOptions = {}): Promise<number> {
    this.#assertOpen();
    const pending: Promise<boolean>[] = [];
    const opt: JoinOptions = {
      ignoreOldEvents: options.ignoreOldEvents ?? this.#opts.ignoreOldEvents ?? false,
    };
    this.#call((c, now) => c.join(seeds, now, opt), pending);
    const results = await Promise.all(pending);
    return results.filter((ok) => ok).length;
  }

  /**
   * Joins with retries (Consul's -retry-join): attempts until one seed answers, waiting
   * min(1 s, interval) after the first failure and doubling up to `interval`. Resolves
   * with the seeds reached; rejects GOSSIP_JOIN_FAILED after `maxAttempts` (0 = until
   * closed), GOSSIP_CLOSED when closed meanwhile.
   */
  async retryJoin(
    seeds: readonly string[],
    options: { maxAttempts?: number; interval?: number } = {},
  ): Promise<number> {
    const max = options.maxAttempts ?? this.#opts.retryJoinMax ?? 0;
    const interval = options.interval ?? this.#opts.retryJoinInterval ?? 30_000;
    if (!(interval > 0) || !(max >= 0)) {
      throw new GossipIoError(IoErrorCode.InvalidOption, 'retry interval > 0, attempts ≥ 0');
    }
    let wait = Math.min(1_000, interval);
    for (let attempt = 1; max === 0 || attempt <= max; attempt++) {
      this.#assertOpen();
      const n = await this.join(seeds);
      if (n > 0) return n;
      this.#log.warn({ node: this.name, attempt, seeds }, 'gossip join failed, will retry');
      if (max !== 0 && attempt === max) break;
      try {
        await sleep(wait, undefined, { signal: this.#abort.signal });
      } catch {
        throw new GossipIoError(IoErrorCode.Closed, 'agent closed during retry-join');
      }
      wait = Math.min(wait * 2, interval);
    }
    throw new GossipIoError(IoErrorCode.JoinFailed, `no seed answered in ${max} attempts`);
  }

  /**
   * Graceful leave: gossips the leave intent (peers mark us "left"). Resolves true once
   * it has been retransmitted enough ('leave-complete'), false after `timeoutMs` or on
   * close. Does not close the agent.
   */
  leave(timeoutMs = this.#opts.leaveTimeout ?? 5_000): Promise<boolean> {
    this.#assertOpen();
    if (this.#leaveComplete) return Promise.resolve(true);
    const p = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => settle(false), timeoutMs);
      const settle = (done: boolean): void => {
        clearTimeout(timer);
        this.#leaveWaiters.delete(settle);
        resolve(done);
      };
      this.#leaveWaiters.add(settle);
    });
    this.#call((c, now) => c.leave(now));
    return p;
  }

  /** Fires a user event (delivered locally too). Throws the core's GossipError on misuse. */
  userEvent(name: string, payload: Uint8Array | string): void {
    this.#assertOpen();
    const bytes = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
    this.#call((c, now) => c.userEvent(name, bytes, now));
  }

  /**
   * serf's force-leave: marks a failed member "left" and gossips a leave intent on its
   * behalf. Returns false when the member is unknown here or not failed.
   */
  forceLeave(name: string): boolean {
    this.#assertOpen();
    let done = false;
    this.#call((c, now) => {
      const r = c.forceLeave(name, now);
      done = r.done;
      return r.outputs;
    });
    return done;
  }

  /** Replaces our tags (peers see an 'update'). */
  setTags(tags: Tags): void {
    this.#assertOpen();
    this.#call((c, now) => c.setTags(tags, now));
  }

  members(): Member[] {
    return this.#core.members();
  }

  member(name: string): Member | undefined {
    return this.#core.member(name);
  }

  localMember(): Member {
    return this.#core.localMember();
  }

  /** Members alive or suspect, ourselves included. */
  numAlive(): number {
    return this.#core.numAlive();
  }

  /** The resolved core configuration (timings, for computing bounds). */
  get config(): GossipConfig {
    return this.#core.config;
  }

  stats(): AgentStats {
    return {
      ...this.#transport.stats(),
      ...this.#counters,
      alive: this.#core.numAlive(),
      health: this.#core.healthScore(),
    };
  }

  // =====================================================================================
  // Keys (memberlist's keyring operations, local to this member)

  /** Installs a key for decryption. Returns false when it was already installed. */
  installKey(key: string): boolean {
    return this.#ring().install(key);
  }

  /** Makes an installed key the primary (encrypts from the next packet on). */
  useKey(key: string): void {
    this.#ring().use(key);
  }

  /** Removes a non-primary key. */
  removeKey(key: string): void {
    this.#ring().remove(key);
  }

  /** Installed keys, primary first ([] when encryption is off). */
  listKeys(): string[] {
    return this.keyring?.list() ?? [];
  }

  #ring(): Keyring {
    if (this.keyring === undefined) {
      throw new GossipIoError(
        IoErrorCode.InvalidOption,
        'encryption is off: start the agent with keys to use a keyring',
      );
    }
    return this.keyring;
  }

  // =====================================================================================
  // Lifecycle

  /** Stops everything; idempotent. Leave first for a graceful exit. */
  close(): Promise<void> {
    if (this.#closed) return this.#closed;
    this.#opts.signal?.removeEventListener('abort', this.#onAbort);
    this.#abort.abort();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const w of [...this.#leaveWaiters]) w(false);
    this.#closed = this.#transport.close();
    return this.#closed;
  }

  #assertOpen(): void {
    if (this.#closed) throw new GossipIoError(IoErrorCode.Closed, 'agent closed');
  }

  // =====================================================================================
  // Driving the core

  /** Runs one core call at the current time, performs its outputs, re-arms the timer. */
  #call(fn: (core: GossipCore, now: number) => Output[], pushPulls?: Promise<boolean>[]): Output[] {
    if (this.#closed) return [];
    const outs = fn(this.#core, this.#now());
    this.#dispatch(outs, pushPulls);
    return outs;
  }

  #arm(): void {
    if (this.#closed) return;
    const at = this.#core.nextDeadline();
    if (at === this.#timerAt && this.#timer !== undefined) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = at;
    if (at === undefined) return;
    // Rounded up: firing early would find nothing due and spin.
    const delay = Math.min(MAX_TIMER, Math.max(0, Math.ceil(at - this.#now())));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = undefined;
      this.#call((c, now) => c.tick(now));
    }, delay);
  }

  #onPacket(from: string, bytes: Uint8Array): void {
    this.#call((c, now) => c.handlePacket(from, bytes, now));
  }

  #onStream(from: string, bytes: Uint8Array): Uint8Array | undefined {
    if (this.#closed) return undefined;
    const res = this.#core.handleStream(from, bytes, this.#now());
    this.#dispatch(res.outputs);
    return res.reply;
  }

  #dispatch(outs: readonly Output[], pushPulls?: Promise<boolean>[]): void {
    for (const o of outs) {
      switch (o.type) {
        case 'udp':
          this.#transport.sendPacket(o.to, o.packet);
          break;
        case 'tcp-ping':
          void this.#tcpPing(o);
          break;
        case 'push-pull': {
          const p = this.#pushPull(o);
          if (pushPulls !== undefined && o.join) pushPulls.push(p);
          else void p;
          break;
        }
        case 'member':
          this.#counters.memberEvents++;
          this.#log.info(
            { node: this.name, member: o.member.name, kind: o.kind },
            `gossip member ${o.kind}`,
          );
          for (const fn of [...this.#memberSubs]) {
            try {
              fn(o.kind, o.member);
            } catch (err) {
              this.#log.error({ node: this.name, err }, 'gossip member subscriber threw');
            }
          }
          break;
        case 'user-event': {
          this.#counters.userEvents++;
          const e: UserEvent = { name: o.name, payload: o.payload, ltime: o.ltime };
          for (const fn of [...this.#eventSubs]) {
            try {
              fn(e);
            } catch (err) {
              this.#log.error({ node: this.name, err }, 'gossip user-event subscriber threw');
            }
          }
          break;
        }
        case 'push-pull-merged':
          this.#log.debug(
            { node: this.name, from: o.from, join: o.join, reply: o.reply, nodes: o.nodes },
            'gossip push-pull merged',
          );
          break;
        case 'leave-complete':
          this.#leaveComplete = true;
          for (const w of [...this.#leaveWaiters]) w(true);
          break;
        case 'conflict':
          this.#log.warn(
            {
              node: this.name,
              member: o.existing.name,
              mine: o.existing.addr,
              theirs: o.otherAddr,
            },
            'gossip name conflict',
          );
          break;
        case 'dropped':
          this.#transport.countDrop(dropReasonOf(o.error.code));
          this.#log.debug(
            { node: this.name, from: o.from, code: o.error.code, err: o.error.message },
            'gossip input dropped by the core',
          );
          break;
        case 'log':
          this.#log[o.level]({ node: this.name }, o.message);
          break;
      }
    }
    this.#arm();
  }

  async #tcpPing(o: Extract<Output, { type: 'tcp-ping' }>): Promise<void> {
    let reply: Uint8Array | undefined;
    let refused = false;
    try {
      reply = await this.#transport.request(o.to, o.request, Math.max(1, o.deadline - this.#now()));
    } catch (err) {
      refused = (err as { cause?: { code?: unknown } }).cause?.code === 'ECONNREFUSED';
      this.#log.debug({ node: this.name, to: o.to, err }, 'gossip TCP ping failed');
    }
    if (reply === undefined) this.#counters.tcpPingFailures++;
    else this.#counters.tcpPings++;
    this.#call((c, now) =>
      refused ? c.tcpPingRefused(o.seq, now) : c.handleTcpPingReply(o.seq, reply, now),
    );
  }

  /** Resolves true when the remote state was merged. Never rejects. */
  async #pushPull(o: Extract<Output, { type: 'push-pull' }>): Promise<boolean> {
    let reply: Uint8Array | undefined;
    try {
      reply = await this.#transport.request(o.to, o.request, Math.max(1, o.deadline - this.#now()));
    } catch (err) {
      this.#log.debug({ node: this.name, to: o.to, err }, 'gossip push-pull failed');
    }
    if (reply === undefined) {
      this.#counters.pushPullFailures++;
      this.#call((c, now) => c.pushPullFailed(o.to, o.join, now));
      return false;
    }
    const outs = this.#call((c, now) => c.handlePushPullReply(o.to, reply, now));
    const merged = outs.some((x) => x.type === 'push-pull-merged' && x.reply);
    if (merged) this.#counters.pushPulls++;
    else this.#counters.pushPullFailures++;
    return merged;
  }
}
