/**
 * The deterministic gossip simulator: N pure cores over a testkit SimNetwork, driven by a
 * VirtualClock, every random choice from a seeded Prng stream.
 *
 * Driver model (what a real transport + timers would do around each core):
 * - UDP: each 'udp' output is one SimNetwork message (delay, loss, duplication,
 *   reordering, partitions and isolation apply; loss applies to UDP only).
 * - TCP ('tcp-ping', 'push-pull'): a reliable request/reply with a sampled delay each way.
 *   A peer that is down (crashed, or stopped after a leave) while the link is open
 *   refuses the connection: the refusal arrives after the two delays (tcp-ping:
 *   tcpPingRefused; push-pull: pushPullFailed), as a host's kernel answers for a closed
 *   port. If the link is blocked (partition, isolation), the peer goes down after
 *   accepting, or the reply would arrive after the output's deadline, the exchange fails
 *   at its deadline (push-pull: pushPullFailed; tcp-ping: ignored, which the core treats
 *   as failed at its deadline). A paused peer accepts (its kernel does) and answers when
 *   it resumes.
 * - Timers: one per node, at core.nextDeadline(), re-armed after every call.
 * - Crash: the node stops (its timers cancelled) and leaves the network (mail to it lost).
 * - Pause ("CPU-starved host", SIGSTOP): for D ms the node runs nothing: packets, stream
 *   requests and replies that reach it and its timers are held and run, in arrival order,
 *   when it resumes, with the clock's time at that moment.
 * - Leave: core.leave(); on 'leave-complete' the node shuts down (leaves the network).
 *
 * Everything notable goes to the trace (member events, faults, node state changes, and
 * with `traceNetwork` every packet sent, delivered and dropped), whose hash identifies a run.
 */
import {
  Prng,
  SimNetwork,
  VirtualClock,
  sampleDelay,
  type DelayDistribution,
  type TimerHandle,
  type Trace,
} from '@trellis/testkit';
import {
  GossipCore,
  MessageType,
  NodeState,
  PROTOCOL_VERSION_MAX,
  PROTOCOL_VERSION_MIN,
  encodeCompound,
  encodeMessage,
  type Member,
  type MemberEventKind,
  type Message,
  type Output,
  type PresetName,
  type PushNodeState,
  type Tags,
  type Timing,
} from '../../src/index.js';

/** One UDP datagram in flight: the bytes, and the messages inside (for the trace). */
export interface Packet {
  readonly bytes: Uint8Array;
  readonly messages: readonly Message[];
}

export interface SimOptions {
  readonly seed: number;
  readonly trace: Trace;
  /** Core preset (default 'lan'). */
  readonly preset?: PresetName;
  /** Overrides applied to every core. */
  readonly timing?: Partial<Timing>;
  /** UDP loss probability (default 0). */
  readonly udpLoss?: number;
  /** UDP one-way delay (default uniform 1–10 ms, SimNetwork's default). */
  readonly udpDelay?: DelayDistribution;
  /** TCP one-way delay, request and reply each (default uniform 2–20 ms). */
  readonly tcpDelay?: DelayDistribution;
  /** Trace every packet (sent / delivered / dropped). Default true. */
  readonly traceNetwork?: boolean;
}

export type NodeStatus = 'running' | 'crashed' | 'stopped';

export interface SimNode {
  readonly name: string;
  readonly core: GossipCore;
  status: NodeStatus;
  /** Held until this time (exclusive); 0 when running normally. */
  pausedUntil: number;
  readonly held: (() => void)[];
  timer: TimerHandle | undefined;
  timerAt: number | undefined;
  joined: boolean;
  leaving: boolean;
  leaveComplete: boolean;
  /** Highest Lifeguard health score seen after any of this node's calls. */
  maxHealth: number;
}

export interface MemberEventRecord {
  readonly at: number;
  readonly observer: string;
  readonly kind: MemberEventKind;
  readonly member: Member;
}

export type MemberListener = (e: MemberEventRecord) => void;

/** A protocol-level violation raised by the harness itself (bad bytes, conflicts). */
export class SimViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimViolation';
  }
}

const VSN = { min: PROTOCOL_VERSION_MIN, max: PROTOCOL_VERSION_MAX, cur: PROTOCOL_VERSION_MAX };

/** Short text of one message, for trace lines. */
export function describeMessage(m: Message): string {
  switch (m.type) {
    case MessageType.Ping:
      return `ping(${m.seq},${m.target})`;
    case MessageType.IndirectPing:
      return `iping(${m.seq},${m.target})`;
    case MessageType.Ack:
      return `ack(${m.seq})`;
    case MessageType.Nack:
      return `nack(${m.seq})`;
    case MessageType.Suspect:
      return `suspect(${m.node},${m.incarnation},${m.from})`;
    case MessageType.Alive:
      return `alive(${m.node},${m.incarnation})`;
    case MessageType.Dead:
      return `dead(${m.node},${m.incarnation},${m.from})`;
    case MessageType.UserEvent:
      return `event(${m.name},${m.ltime})`;
    case MessageType.PushPull:
      return `push-pull(${m.nodes.length})`;
    case MessageType.Compound:
      return `compound(${m.parts.length})`;
  }
}

export function describePacket(p: Packet): string {
  return p.messages.map(describeMessage).join(' ');
}

const PROBE_TYPES: ReadonlySet<number> = new Set([
  MessageType.Ping,
  MessageType.IndirectPing,
  MessageType.Ack,
  MessageType.Nack,
]);

/**
 * A UDP filter that keeps only probe traffic (ping, indirect ping, ack, nack) and drops the
 * piggybacked membership news: used to warm up a cluster whose views were installed out
 * of band, so that the install-time broadcasts drain without spreading.
 */
export function probeOnly(p: Packet): Packet | undefined {
  const kept = p.messages.filter((m) => PROBE_TYPES.has(m.type));
  if (kept.length === p.messages.length) return p;
  if (kept.length === 0) return undefined;
  return { bytes: encodeCompound(kept.map((m) => encodeMessage(m))), messages: kept };
}

export class GossipSim {
  readonly clock = new VirtualClock(0);
  readonly seed: number;
  readonly trace: Trace;
  readonly net: SimNetwork<Packet>;
  readonly nodes = new Map<string, SimNode>();
  readonly options: SimOptions;
  /** Every member event, in order (kept small: scenarios read 'fail' / 'leave' ones). */
  readonly failEvents: MemberEventRecord[] = [];
  readonly listeners: MemberListener[] = [];
  /** Applied to every UDP packet at send time; undefined = drop it. */
  udpFilter: ((p: Packet) => Packet | undefined) | undefined;
  /** Suspect messages sent in UDP packets, by accused member (every transmission). */
  readonly suspectsSent = new Map<string, number>();
  /** Record member 'join' events in the trace (off while installing views at scale). */
  traceJoins = true;
  udpSent = 0;
  tcpExchanges = 0;
  readonly #tcpRng: Prng;
  readonly #tcpDelay: DelayDistribution;
  readonly #traceNet: boolean;

  constructor(options: SimOptions) {
    this.options = options;
    this.seed = options.seed;
    this.trace = options.trace;
    this.#traceNet = options.traceNetwork ?? true;
    this.#tcpRng = Prng.derive(options.seed, 'tcp');
    this.#tcpDelay = options.tcpDelay ?? { kind: 'uniform', minMs: 2, maxMs: 20 };
    this.net = new SimNetwork<Packet>({
      clock: this.clock,
      rng: Prng.derive(options.seed, 'network'),
      ...(this.#traceNet ? { trace: options.trace } : {}),
      describe: describePacket,
      defaults: {
        dropRate: options.udpLoss ?? 0,
        ...(options.udpDelay !== undefined ? { delay: options.udpDelay } : {}),
      },
    });
  }

  // ------------------------------------------------------------------- nodes

  /** Creates and starts a member (named = addressed `name`). */
  add(name: string, overrides: Partial<Timing> = {}, tags: Tags = {}): SimNode {
    const prng = Prng.derive(this.seed, `core/${name}`);
    const core = new GossipCore({
      name,
      addr: name,
      tags,
      rand: (n) => prng.int(n),
      preset: this.options.preset ?? 'lan',
      ...this.options.timing,
      ...overrides,
    });
    const node: SimNode = {
      name,
      core,
      status: 'running',
      pausedUntil: 0,
      held: [],
      timer: undefined,
      timerAt: undefined,
      joined: false,
      leaving: false,
      leaveComplete: false,
      maxHealth: 0,
    };
    this.nodes.set(name, node);
    this.net.register(name, (from, p) =>
      this.#input(node, (now) => core.handlePacket(from, p.bytes, now)),
    );
    this.#record('sim.start', name);
    this.#dispatch(node, core.start(this.clock.now()));
    return node;
  }

  node(name: string): SimNode {
    const n = this.nodes.get(name);
    if (n === undefined) throw new Error(`no node ${name}`);
    return n;
  }

  /** Running, not leaving (paused nodes are live: they are only slow). */
  isLive(name: string): boolean {
    const n = this.nodes.get(name);
    return n !== undefined && n.status === 'running' && !n.leaving;
  }

  liveNames(): string[] {
    return [...this.nodes.values()].filter((n) => this.isLive(n.name)).map((n) => n.name);
  }

  /** Joins through `seeds` (push-pull, join = true); retried every second until it works. */
  join(name: string, seeds: readonly string[]): void {
    const n = this.node(name);
    this.#input(n, (now) => n.core.join(seeds, now));
  }

  /** Runs a core call on the node (held if the node is paused). */
  call(name: string, fn: (core: GossipCore, now: number) => readonly Output[]): void {
    const n = this.node(name);
    this.#input(n, (now) => fn(n.core, now));
  }

  leave(name: string): void {
    const n = this.node(name);
    n.leaving = true;
    this.#record('sim.leave', name);
    this.#input(n, (now) => n.core.leave(now));
  }

  /** Crash-stop: silent from now on; mail in flight to it is lost. */
  crash(name: string): void {
    const n = this.node(name);
    if (n.status !== 'running') return;
    n.status = 'crashed';
    this.#cancelTimer(n);
    n.held.length = 0;
    this.net.unregister(name);
    this.#record('sim.crash', name);
  }

  /** Holds all of the node's processing for `ms` (SIGSTOP / a CPU-starved host). */
  pause(name: string, ms: number): void {
    const n = this.node(name);
    if (n.status !== 'running') return;
    const until = Math.max(n.pausedUntil, this.clock.now() + ms);
    n.pausedUntil = until;
    this.#cancelTimer(n);
    this.#record('sim.pause', `${name} until=${until.toFixed(3)}`);
    this.clock.at(until, () => this.#resume(n));
  }

  isPaused(name: string): boolean {
    return this.clock.now() < this.node(name).pausedUntil;
  }

  /**
   * Installs a member table out of band: merges a push-pull listing `members` (alive,
   * incarnation 1, no tags) into the node. Used to build large clusters without the cost of
   * joins; the broadcasts it queues must then be drained (see {@link probeOnly}).
   */
  installView(name: string, members: readonly string[]): void {
    const n = this.node(name);
    const nodes: PushNodeState[] = members.map((m) => ({
      name: m,
      addr: m,
      tags: {},
      incarnation: 1,
      state: NodeState.Alive,
      vsn: VSN,
    }));
    const bytes = encodeMessage({
      type: MessageType.PushPull,
      join: false,
      nodes,
      eventLTime: 0,
      events: [],
    });
    const outs = n.core.handlePushPullReply('install', bytes, this.clock.now());
    for (const o of outs) {
      if (o.type === 'dropped') throw new SimViolation(`${name}: install: ${o.error.message}`);
    }
    n.joined = true;
    this.#arm(n);
  }

  // ------------------------------------------------------------------- time

  run(ms: number): void {
    this.clock.advance(ms);
  }

  runUntil(done: () => boolean, limitMs: number): boolean {
    return this.clock.runUntil(done, limitMs);
  }

  /**
   * Runs for up to `limitMs`, testing `done` every `everyMs` of virtual time (for checks too
   * expensive to run after every event). Returns whether it held.
   */
  runUntilPolled(done: () => boolean, limitMs: number, everyMs = 100): boolean {
    const end = this.clock.now() + limitMs;
    for (;;) {
      if (done()) return true;
      const now = this.clock.now();
      if (now >= end) return false;
      this.clock.advance(Math.min(everyMs, end - now));
    }
  }

  // ------------------------------------------------------------------- internals

  #record(kind: string, detail: string): void {
    this.trace.record(this.clock.now(), kind, detail);
  }

  /** Runs `fn` on the node now, or when it resumes if paused; nothing if it is down. */
  #input(n: SimNode, fn: (now: number) => readonly Output[]): void {
    if (n.status !== 'running') return;
    if (this.clock.now() < n.pausedUntil) {
      n.held.push(() => this.#input(n, fn));
      return;
    }
    this.#dispatch(n, fn(this.clock.now()));
  }

  #resume(n: SimNode): void {
    if (n.status !== 'running' || this.clock.now() < n.pausedUntil) return;
    n.pausedUntil = 0;
    const held = n.held.splice(0);
    this.#record('sim.resume', `${n.name} held=${held.length}`);
    for (const h of held) h();
    this.#input(n, (now) => n.core.tick(now));
  }

  #cancelTimer(n: SimNode): void {
    if (n.timer !== undefined) this.clock.clearTimeout(n.timer);
    n.timer = undefined;
    n.timerAt = undefined;
  }

  #arm(n: SimNode): void {
    if (n.status !== 'running' || this.clock.now() < n.pausedUntil) {
      this.#cancelTimer(n);
      return;
    }
    const at = n.core.nextDeadline();
    if (at === n.timerAt && n.timer !== undefined) return;
    this.#cancelTimer(n);
    if (at === undefined) return;
    n.timerAt = at;
    n.timer = this.clock.at(at, () => {
      n.timer = undefined;
      n.timerAt = undefined;
      this.#input(n, (now) => n.core.tick(now));
    });
  }

  #dispatch(n: SimNode, outs: readonly Output[]): void {
    let shutdown = false;
    for (const o of outs) {
      switch (o.type) {
        case 'udp': {
          this.udpSent++;
          for (const m of o.messages) {
            if (m.type === MessageType.Suspect) {
              this.suspectsSent.set(m.node, (this.suspectsSent.get(m.node) ?? 0) + 1);
            }
          }
          let p: Packet | undefined = { bytes: o.packet, messages: o.messages };
          if (this.udpFilter !== undefined) p = this.udpFilter(p);
          if (p !== undefined) this.net.send(n.name, o.to, p);
          break;
        }
        case 'tcp-ping':
          this.#tcp(n, o.to, o.request, o.deadline, (reply) => {
            // A failed TCP ping needs no call: the probe concludes at its deadline.
            if (reply === 'refused') {
              this.#input(n, (now) => n.core.tcpPingRefused(o.seq, now));
            } else if (reply !== undefined) {
              this.#input(n, (now) => n.core.handleTcpPingReply(o.seq, reply, now));
            }
          });
          break;
        case 'push-pull':
          this.#tcp(n, o.to, o.request, o.deadline, (reply) => {
            if (reply !== undefined && reply !== 'refused') {
              this.#input(n, (now) => n.core.handlePushPullReply(o.to, reply, now));
            } else {
              this.#input(n, (now) => n.core.pushPullFailed(o.to, o.join, now));
              if (o.join && !n.joined && !n.leaving) {
                this.clock.setTimeout(() => {
                  if (!n.joined && n.status === 'running' && !n.leaving) this.join(n.name, [o.to]);
                }, 1_000);
              }
            }
          });
          break;
        case 'member': {
          const e: MemberEventRecord = {
            at: this.clock.now(),
            observer: n.name,
            kind: o.kind,
            member: o.member,
          };
          if (o.kind !== 'join' || this.traceJoins) {
            this.#record(
              'member',
              `${n.name} ${o.kind} ${o.member.name} inc=${o.member.incarnation}`,
            );
          }
          if (o.kind === 'fail' || o.kind === 'leave') this.failEvents.push(e);
          for (const l of this.listeners) l(e);
          break;
        }
        case 'user-event':
          this.#record('user-event', `${n.name} ${o.name}@${o.ltime}`);
          break;
        case 'push-pull-merged':
          if (o.reply && o.join && !n.joined) {
            n.joined = true;
            this.#record('sim.joined', `${n.name} via ${o.from}`);
          }
          break;
        case 'leave-complete':
          n.leaveComplete = true;
          shutdown = true;
          break;
        case 'conflict':
          throw new SimViolation(
            `${n.name}: name conflict for ${o.existing.name} (${o.existing.addr} vs ${o.otherAddr})`,
          );
        case 'dropped':
          throw new SimViolation(`${n.name} dropped input from ${o.from}: ${o.error.message}`);
        case 'log':
          break;
      }
    }
    const h = n.core.healthScore();
    if (h > n.maxHealth) n.maxHealth = h;
    if (shutdown && n.status === 'running') {
      n.status = 'stopped';
      this.#cancelTimer(n);
      this.net.unregister(n.name);
      this.#record('sim.stopped', `${n.name} (leave complete)`);
      return;
    }
    this.#arm(n);
  }

  /**
   * A TCP request/reply from `n` to `to`. `done(reply)` runs when the reply arrives, with
   * 'refused' when the peer is down and the link open (after the two delays), or with
   * undefined at the deadline when the exchange failed.
   */
  #tcp(
    n: SimNode,
    to: string,
    request: Uint8Array,
    deadline: number,
    done: (reply: Uint8Array | 'refused' | undefined) => void,
  ): void {
    this.tcpExchanges++;
    const from = n.name;
    let finished = false;
    const fail = this.clock.at(deadline, () => {
      if (finished) return;
      finished = true;
      if (this.#traceNet) this.#record('tcp.fail', `${from}->${to}`);
      done(undefined);
    });
    const open = (a: string, b: string): boolean =>
      this.net.isRegistered(a) &&
      this.net.isRegistered(b) &&
      this.net.blockedBy(a, b) === undefined;
    const d1 = sampleDelay(this.#tcpDelay, this.#tcpRng.float());
    const d2 = sampleDelay(this.#tcpDelay, this.#tcpRng.float());
    const peerDown = this.nodes.get(to)?.status !== 'running';
    const linkOpen = (a: string, b: string): boolean =>
      this.net.isRegistered(a) && this.net.blockedBy(a, b) === undefined;
    if (peerDown && linkOpen(from, to) && this.net.blockedBy(to, from) === undefined) {
      this.clock.setTimeout(() => {
        if (finished || !this.net.isRegistered(from)) return;
        finished = true;
        this.clock.clearTimeout(fail);
        if (this.#traceNet) this.#record('tcp.refused', `${from}->${to}`);
        done('refused');
      }, d1 + d2);
      return;
    }
    if (!open(from, to)) return;
    this.clock.setTimeout(() => {
      const peer = this.nodes.get(to);
      if (peer === undefined || !open(from, to)) return;
      // The peer handles the request when it runs (later if it is paused).
      this.#input(peer, (now) => {
        const res = peer.core.handleStream(from, request, now);
        const reply = res.reply;
        if (reply !== undefined) {
          this.clock.setTimeout(() => {
            if (finished || !open(to, from)) return;
            finished = true;
            this.clock.clearTimeout(fail);
            if (this.#traceNet) this.#record('tcp.reply', `${to}->${from}`);
            done(reply);
          }, d2);
        }
        return res.outputs;
      });
    }, d1);
  }
}
