/**
 * A simulated network between named nodes, driven by a {@link Clock} and a {@link Prng}.
 *
 * Every message is a value of type M handed to the receiver's callback on a clock timer; the
 * network never copies or serialises it (the sender must not mutate a message after sending).
 * Per-link settings give a delay distribution, random loss, duplication and reordering; faults
 * (partitions, one-way partitions, isolation, clogging) are switched on and off by the test.
 * Every decision is drawn from the injected generator in a fixed order (see
 * {@link SimNetwork.send}), so a seed and a scenario determine the run, trace included.
 *
 * Delivery rules, in the order they are checked:
 * 1. At send time: a message from or to a node that is not registered is dropped
 *    (`unregistered`); a message over a blocked link is dropped (`isolated`, then
 *    `partition`); then random loss (`random-drop`). Blocked messages never leave the sender.
 * 2. In flight: a message is lost when its link becomes blocked, or its receiver is
 *    unregistered, at any instant before it arrives — as packets on a cut cable are. It is
 *    dropped (and traced) at the instant of that fault, so healing before its due time does
 *    not revive it. A message is delivered only to the registration of its receiver that
 *    existed when it was sent: a restarted node never receives its previous life's mail.
 * 3. A link to the node itself (from === to) is never blocked by a fault.
 *
 * Times are virtual milliseconds. Delays are rounded to whole microseconds so that traces
 * (printed with three decimals) do not depend on floating-point noise.
 */
import type { Clock, TimerHandle } from './clock.js';
import type { Prng } from './prng.js';
import type { Trace } from './trace.js';

/**
 * A delay distribution in milliseconds. Each is sampled by inverse transform from exactly
 * one uniform draw, so every kind consumes the same number of draws.
 * - `fixed`: always `ms`.
 * - `uniform`: uniform in [minMs, maxMs).
 * - `exponential`: `minMs` plus an exponential tail, with overall mean `meanMs` (≥ minMs);
 *   `maxMs`, when given, caps the sample (a long tail without unbounded outliers).
 */
export type DelayDistribution =
  | { readonly kind: 'fixed'; readonly ms: number }
  | { readonly kind: 'uniform'; readonly minMs: number; readonly maxMs: number }
  | {
      readonly kind: 'exponential';
      readonly minMs: number;
      readonly meanMs: number;
      readonly maxMs?: number;
    };

/** Settings of one directed link (from → to). */
export interface LinkConfig {
  /** Transit time of each message. */
  readonly delay: DelayDistribution;
  /** Probability in [0, 1] that a message is lost. */
  readonly dropRate: number;
  /** Probability in [0, 1] that a (not lost) message is delivered twice. */
  readonly duplicateRate: number;
  /**
   * Probability in [0, 1] that a message straggles: it gets an extra delay uniform in
   * [0, reorderMaxExtraMs), so later messages overtake it even under a fixed delay.
   */
  readonly reorderRate: number;
  /** Upper bound of a straggler's extra delay, in ms. */
  readonly reorderMaxExtraMs: number;
  /**
   * When true the link is FIFO, like one TCP stream: a message is never delivered before
   * one sent earlier on the same link (it waits for it: head-of-line blocking, so stragglers
   * and random delays hold back later messages instead of being overtaken). When false,
   * messages arrive in order of their sampled delays, so a random delay reorders them.
   */
  readonly fifo: boolean;
}

/**
 * Built-in link defaults:
 * - delay uniform in [1, 10) ms: a LAN-like latency with enough spread that orderings vary
 *   with the seed;
 * - no loss, duplication or stragglers: faults are opt-in, so a failing default run points
 *   at the protocol rather than at a lossy network the test did not ask for;
 * - reorderMaxExtraMs 50: several default delays, so a straggler is overtaken by what follows;
 * - fifo false: Raft and SWIM are specified over networks that reorder (and the uniform delay
 *   does), so the simulator exercises reordering unless a link asks for a stream.
 */
export const DEFAULT_LINK: LinkConfig = Object.freeze({
  delay: Object.freeze({ kind: 'uniform', minMs: 1, maxMs: 10 }),
  dropRate: 0,
  duplicateRate: 0,
  reorderRate: 0,
  reorderMaxExtraMs: 50,
  fifo: false,
});

/** Why a message was not delivered. */
export type DropReason = 'partition' | 'isolated' | 'random-drop' | 'unregistered';

export const DROP_REASONS: readonly DropReason[] = Object.freeze([
  'partition',
  'isolated',
  'random-drop',
  'unregistered',
]);

export interface NetworkStats {
  /** Calls to send(). */
  readonly sent: number;
  /** Messages handed to a receiver (duplicates count once per delivery). */
  readonly delivered: number;
  /** Extra copies created by duplication. */
  readonly duplicated: number;
  /** Messages (or copies) lost, by reason. */
  readonly dropped: Readonly<Record<DropReason, number>>;
  /**
   * Copies scheduled and not yet delivered or dropped. Invariant:
   * sent + duplicated = delivered + Σ dropped + inFlight.
   */
  readonly inFlight: number;
}

/** A fault that can be undone on its own. Healing twice, or after {@link SimNetwork.heal}, is a no-op. */
export interface FaultHandle {
  readonly id: number;
  heal(): void;
}

export type NetworkErrorCode =
  'ERR_NETWORK_CONFIG' | 'ERR_NETWORK_NODE_REGISTERED' | 'ERR_NETWORK_GROUPS_OVERLAP';

export class NetworkError extends Error {
  constructor(
    readonly code: NetworkErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'NetworkError';
  }
}

export interface SimNetworkOptions<M> {
  readonly clock: Clock;
  /**
   * Usually a stream of its own (e.g. `Prng.derive(seed, 'network')`), so that a change in
   * traffic does not shift other components' draws. The draws per message are listed at
   * {@link SimNetwork.send}.
   */
  readonly rng: Prng;
  /** Receives a line per send, delivery, drop, duplicate and fault change. */
  readonly trace?: Trace;
  /** Message text for trace lines. Default: JSON, or String() when JSON fails. */
  readonly describe?: (msg: M) => string;
  /** Overrides of {@link DEFAULT_LINK} for every link without its own setting. */
  readonly defaults?: Partial<LinkConfig>;
}

type Deliver<M> = (from: string, msg: M) => void;

interface Registration<M> {
  readonly deliver: Deliver<M>;
  readonly incarnation: number;
}

interface InFlight<M> {
  readonly id: string;
  readonly from: string;
  readonly to: string;
  readonly msg: M;
  readonly incarnation: number;
  readonly timer: TimerHandle;
}

type Rule =
  | {
      readonly id: number;
      readonly kind: 'partition';
      readonly from: ReadonlySet<string>;
      readonly to: ReadonlySet<string>;
    }
  | { readonly id: number; readonly kind: 'isolate'; readonly node: string };

interface Clog {
  readonly id: number;
  readonly extra: DelayDistribution;
}

function defaultDescribe(msg: unknown): string {
  try {
    const s = JSON.stringify(msg);
    if (s !== undefined) return s;
  } catch {
    // Fall through: cycles, bigints.
  }
  return String(msg);
}

function linkKey(from: string, to: string): string {
  return `${from}\u0000${to}`;
}

function roundMicros(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** Maps one uniform draw u ∈ [0, 1) to a sample of `d` (inverse transform). */
export function sampleDelay(d: DelayDistribution, u: number): number {
  switch (d.kind) {
    case 'fixed':
      return d.ms;
    case 'uniform':
      return d.minMs + (d.maxMs - d.minMs) * u;
    case 'exponential': {
      const v = d.minMs - (d.meanMs - d.minMs) * Math.log(1 - u);
      return d.maxMs === undefined ? v : Math.min(v, d.maxMs);
    }
  }
}

function describeDelay(d: DelayDistribution): string {
  switch (d.kind) {
    case 'fixed':
      return `fixed(${d.ms})`;
    case 'uniform':
      return `uniform(${d.minMs},${d.maxMs})`;
    case 'exponential':
      return `exponential(${d.minMs},${d.meanMs}${d.maxMs === undefined ? '' : ',' + d.maxMs})`;
  }
}

function checkDelay(d: DelayDistribution, what: string): void {
  const bad = (why: string): never => {
    throw new NetworkError('ERR_NETWORK_CONFIG', `${what}: ${why}`);
  };
  const finite = (x: number) => Number.isFinite(x) && x >= 0;
  switch (d.kind) {
    case 'fixed':
      if (!finite(d.ms)) bad(`fixed delay must be a finite number ≥ 0, got ${d.ms}`);
      return;
    case 'uniform':
      if (!finite(d.minMs) || !finite(d.maxMs) || d.maxMs < d.minMs)
        bad(`uniform delay needs 0 ≤ minMs ≤ maxMs, got [${d.minMs}, ${d.maxMs}]`);
      return;
    case 'exponential':
      if (!finite(d.minMs) || !finite(d.meanMs) || d.meanMs < d.minMs)
        bad(`exponential delay needs 0 ≤ minMs ≤ meanMs, got ${d.minMs}, ${d.meanMs}`);
      if (d.maxMs !== undefined && !(finite(d.maxMs) && d.maxMs >= d.minMs))
        bad(`exponential delay needs maxMs ≥ minMs, got ${d.maxMs}`);
      return;
    default:
      bad(`unknown delay kind ${(d as { kind: unknown }).kind as string}`);
  }
}

function checkLink(c: LinkConfig, what: string): void {
  checkDelay(c.delay, what);
  for (const k of ['dropRate', 'duplicateRate', 'reorderRate'] as const) {
    const v = c[k];
    if (!(v >= 0 && v <= 1))
      throw new NetworkError('ERR_NETWORK_CONFIG', `${what}: ${k} must be in [0, 1], got ${v}`);
  }
  if (!(Number.isFinite(c.reorderMaxExtraMs) && c.reorderMaxExtraMs >= 0))
    throw new NetworkError(
      'ERR_NETWORK_CONFIG',
      `${what}: reorderMaxExtraMs must be a finite number ≥ 0, got ${c.reorderMaxExtraMs}`,
    );
}

function merge(base: LinkConfig, over: Partial<LinkConfig>): LinkConfig {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) if (v !== undefined) out[k] = v;
  return Object.freeze(out) as unknown as LinkConfig;
}

function list(nodes: Iterable<string>): string {
  return `[${[...nodes].join(',')}]`;
}

export class SimNetwork<M> {
  readonly #clock: Clock;
  readonly #rng: Prng;
  readonly #trace: Trace | undefined;
  readonly #describe: (msg: M) => string;
  #defaults: LinkConfig;
  /** Per-link overrides, merged over the defaults at send time. */
  readonly #overrides = new Map<string, Partial<LinkConfig>>();
  readonly #nodes = new Map<string, Registration<M>>();
  /** Insertion (= send) order, so in-flight drops at a fault are traced in send order. */
  readonly #inFlight = new Map<string, InFlight<M>>();
  /** Latest due time per FIFO link. */
  readonly #lastDue = new Map<string, number>();
  #rules: Rule[] = [];
  readonly #clogs = new Map<string, Clog>();
  #seq = 0;
  #faultSeq = 0;
  #incarnations = 0;
  #sent = 0;
  #delivered = 0;
  #duplicated = 0;
  readonly #dropped: Record<DropReason, number> = {
    partition: 0,
    isolated: 0,
    'random-drop': 0,
    unregistered: 0,
  };

  constructor(options: SimNetworkOptions<M>) {
    this.#clock = options.clock;
    this.#rng = options.rng;
    this.#trace = options.trace;
    this.#describe = options.describe ?? defaultDescribe;
    this.#defaults = merge(DEFAULT_LINK, options.defaults ?? {});
    checkLink(this.#defaults, 'defaults');
  }

  // ---------------------------------------------------------------- nodes

  /**
   * Attaches a node. `deliver` is called from a clock timer for each arriving message. Throws
   * ERR_NETWORK_NODE_REGISTERED if the node is already attached.
   */
  register(node: string, deliver: Deliver<M>): void {
    if (this.#nodes.has(node))
      throw new NetworkError('ERR_NETWORK_NODE_REGISTERED', `node ${node} is already registered`);
    this.#nodes.set(node, { deliver, incarnation: ++this.#incarnations });
    this.#record('net.up', node);
  }

  /**
   * Detaches a node (it crashed or stopped). Messages in flight to it are dropped now
   * (`unregistered`); messages it sent earlier still arrive. Returns false if it was not attached.
   */
  unregister(node: string): boolean {
    if (!this.#nodes.delete(node)) return false;
    this.#record('net.down', node);
    this.#cutInFlight((f) => (f.to === node ? 'unregistered' : undefined));
    return true;
  }

  isRegistered(node: string): boolean {
    return this.#nodes.has(node);
  }

  /** Registered nodes in registration order. */
  nodes(): string[] {
    return [...this.#nodes.keys()];
  }

  // ---------------------------------------------------------------- links

  /** The settings in force on the directed link from → to. */
  link(from: string, to: string): LinkConfig {
    const o = this.#overrides.get(linkKey(from, to));
    return o === undefined ? this.#defaults : merge(this.#defaults, o);
  }

  /** Changes the defaults for every link (per-link overrides still win). Applies to later sends. */
  setDefaults(config: Partial<LinkConfig>): void {
    const next = merge(this.#defaults, config);
    checkLink(next, 'defaults');
    this.#defaults = next;
    this.#record('net.link', `* ${this.#describeLink(config)}`);
  }

  /**
   * Overrides settings of the directed link from → to (merged with earlier overrides of that
   * link). Applies to messages sent afterwards; messages in flight keep their schedule.
   */
  setLink(from: string, to: string, config: Partial<LinkConfig>): void {
    const key = linkKey(from, to);
    const next = { ...this.#overrides.get(key), ...config };
    checkLink(merge(this.#defaults, next), `link ${from}->${to}`);
    this.#overrides.set(key, next);
    this.#record('net.link', `${from}->${to} ${this.#describeLink(config)}`);
  }

  /** Removes the overrides of from → to: it follows the defaults again. */
  resetLink(from: string, to: string): void {
    if (this.#overrides.delete(linkKey(from, to))) this.#record('net.link', `${from}->${to} reset`);
  }

  // ---------------------------------------------------------------- faults

  /**
   * Blocks traffic both ways between the two groups (not within a group). Messages in flight
   * across it are lost now. Throws ERR_NETWORK_GROUPS_OVERLAP if a node is in both groups.
   */
  partition(groupA: readonly string[], groupB: readonly string[]): FaultHandle {
    this.#checkDisjoint(groupA, groupB);
    const id = ++this.#faultSeq;
    const a = new Set(groupA);
    const b = new Set(groupB);
    this.#rules.push({ id, kind: 'partition', from: a, to: b });
    this.#rules.push({ id, kind: 'partition', from: b, to: a });
    this.#record('net.partition', `#${id} ${list(a)} <-> ${list(b)}`);
    this.#cutBlocked();
    return this.#handle(id);
  }

  /**
   * Blocks traffic from any node of `from` to any node of `to`; the reverse direction still
   * works. Messages in flight on the blocked direction are lost now.
   */
  partitionOneWay(from: readonly string[], to: readonly string[]): FaultHandle {
    this.#checkDisjoint(from, to);
    const id = ++this.#faultSeq;
    const f = new Set(from);
    const t = new Set(to);
    this.#rules.push({ id, kind: 'partition', from: f, to: t });
    this.#record('net.partition', `#${id} ${list(f)} -> ${list(t)}`);
    this.#cutBlocked();
    return this.#handle(id);
  }

  /** Cuts a node off from every other node, registered now or later; in-flight messages to and from it are lost. */
  isolate(node: string): FaultHandle {
    const id = ++this.#faultSeq;
    this.#rules.push({ id, kind: 'isolate', node });
    this.#record('net.isolate', `#${id} ${node}`);
    this.#cutBlocked();
    return this.#handle(id);
  }

  /** Ends every isolation of `node`. */
  unisolate(node: string): void {
    for (const r of this.#rules) if (r.kind === 'isolate' && r.node === node) this.#healFault(r.id);
  }

  /**
   * Slows a node: every message sent to or from it while clogged gets an extra delay, a fixed
   * number of ms or a sample of a distribution (once per clogged endpoint). Replaces an
   * earlier clog of the same node. Messages already in flight keep their schedule.
   */
  clog(node: string, extra: number | DelayDistribution): FaultHandle {
    const dist: DelayDistribution =
      typeof extra === 'number' ? { kind: 'fixed', ms: extra } : extra;
    checkDelay(dist, `clog ${node}`);
    const id = ++this.#faultSeq;
    this.#clogs.set(node, { id, extra: dist });
    this.#record('net.clog', `#${id} ${node} extra=${describeDelay(dist)}`);
    return this.#handle(id);
  }

  /** Removes the clog of `node`, if any. Messages already in flight keep their delay. */
  unclog(node: string): void {
    const c = this.#clogs.get(node);
    if (c !== undefined) this.#healFault(c.id);
  }

  /** Removes every partition, isolation and clog. Link settings are kept; nothing lost is revived. */
  heal(): void {
    this.#rules = [];
    this.#clogs.clear();
    this.#record('net.heal', 'all');
  }

  /** Why from → to is blocked right now (`isolated` before `partition`), or undefined if open. */
  blockedBy(from: string, to: string): 'isolated' | 'partition' | undefined {
    if (from === to) return undefined;
    let partitioned = false;
    for (const r of this.#rules) {
      if (r.kind === 'isolate') {
        if (r.node === from || r.node === to) return 'isolated';
      } else if (r.from.has(from) && r.to.has(to)) partitioned = true;
    }
    return partitioned ? 'partition' : undefined;
  }

  // ---------------------------------------------------------------- traffic

  /**
   * Sends `msg` from → to and returns its sequence number (the `#n` of its trace lines).
   *
   * Draw order (fixed, for reproducibility): nothing is drawn for a message dropped because
   * of registration or a blocked link. Otherwise one draw decides loss; a surviving message
   * takes one draw for duplication, then each copy (the original, then the duplicate) takes
   * one draw for its delay, two for straggling (whether, and how much; both always drawn),
   * and one per clogged endpoint (sender first) for the clog's extra delay.
   */
  send(from: string, to: string, msg: M): number {
    const seq = ++this.#seq;
    this.#sent++;
    const id = String(seq);
    const toReg = this.#nodes.get(to);
    if (!this.#nodes.has(from) || toReg === undefined) {
      this.#drop(from, to, id, msg, 'unregistered', '');
      return seq;
    }
    const blocked = this.blockedBy(from, to);
    if (blocked !== undefined) {
      this.#drop(from, to, id, msg, blocked, '');
      return seq;
    }
    const cfg = this.link(from, to);
    if (this.#rng.float() < cfg.dropRate) {
      this.#drop(from, to, id, msg, 'random-drop', '');
      return seq;
    }
    const duplicate = this.#rng.float() < cfg.duplicateRate;
    this.#schedule(cfg, from, to, id, msg, toReg.incarnation, 'net.send');
    if (duplicate) {
      this.#duplicated++;
      this.#schedule(cfg, from, to, `${id}'`, msg, toReg.incarnation, 'net.dup');
    }
    return seq;
  }

  stats(): NetworkStats {
    return {
      sent: this.#sent,
      delivered: this.#delivered,
      duplicated: this.#duplicated,
      dropped: { ...this.#dropped },
      inFlight: this.#inFlight.size,
    };
  }

  /** Copies scheduled and not yet delivered or dropped. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  // ---------------------------------------------------------------- internals

  #schedule(
    cfg: LinkConfig,
    from: string,
    to: string,
    id: string,
    msg: M,
    incarnation: number,
    kind: string,
  ): void {
    let delay = sampleDelay(cfg.delay, this.#rng.float());
    const straggle = this.#rng.float() < cfg.reorderRate;
    const extra = this.#rng.float() * cfg.reorderMaxExtraMs;
    if (straggle) delay += extra;
    for (const end of from === to ? [from] : [from, to]) {
      const c = this.#clogs.get(end);
      if (c !== undefined) delay += sampleDelay(c.extra, this.#rng.float());
    }
    const now = this.#clock.now();
    let due = Math.max(now, roundMicros(now + delay));
    if (cfg.fifo) {
      const key = linkKey(from, to);
      due = Math.max(due, this.#lastDue.get(key) ?? due);
      this.#lastDue.set(key, due);
    }
    const timer = this.#clock.setTimeout(() => this.#arrive(id), due - now);
    this.#inFlight.set(id, { id, from, to, msg, incarnation, timer });
    if (this.#trace !== undefined) {
      const tag = straggle ? ' straggler' : '';
      this.#record(
        kind,
        `${from}->${to} #${id} due=${due.toFixed(3)}${tag} ${this.#describe(msg)}`,
      );
    }
  }

  #arrive(id: string): void {
    const f = this.#inFlight.get(id);
    if (f === undefined) return;
    this.#inFlight.delete(id);
    const reg = this.#nodes.get(f.to);
    if (reg === undefined || reg.incarnation !== f.incarnation) {
      // Unreachable while unregister() cuts in-flight mail; kept as a guard.
      this.#drop(f.from, f.to, id, f.msg, 'unregistered', ' in-flight');
      return;
    }
    this.#delivered++;
    if (this.#trace !== undefined)
      this.#record('net.deliver', `${f.from}->${f.to} #${id} ${this.#describe(f.msg)}`);
    reg.deliver(f.from, f.msg);
  }

  #drop(from: string, to: string, id: string, msg: M, reason: DropReason, note: string): void {
    this.#dropped[reason]++;
    if (this.#trace !== undefined)
      this.#record('net.drop', `${from}->${to} #${id} ${reason}${note} ${this.#describe(msg)}`);
  }

  /** Drops in-flight copies for which `why` gives a reason, in send order. */
  #cutInFlight(why: (f: InFlight<M>) => DropReason | undefined): void {
    for (const f of [...this.#inFlight.values()]) {
      const reason = why(f);
      if (reason === undefined) continue;
      this.#clock.clearTimeout(f.timer);
      this.#inFlight.delete(f.id);
      this.#drop(f.from, f.to, f.id, f.msg, reason, ' in-flight');
    }
  }

  #cutBlocked(): void {
    this.#cutInFlight((f) => this.blockedBy(f.from, f.to));
  }

  #handle(id: number): FaultHandle {
    return { id, heal: () => this.#healFault(id) };
  }

  #healFault(id: number): void {
    const before = this.#rules.length;
    this.#rules = this.#rules.filter((r) => r.id !== id);
    let healed = this.#rules.length !== before;
    for (const [node, c] of this.#clogs) {
      if (c.id === id) {
        this.#clogs.delete(node);
        healed = true;
      }
    }
    if (healed) this.#record('net.heal', `#${id}`);
  }

  #checkDisjoint(a: readonly string[], b: readonly string[]): void {
    const both = a.filter((n) => b.includes(n));
    if (both.length > 0)
      throw new NetworkError(
        'ERR_NETWORK_GROUPS_OVERLAP',
        `a node cannot be on both sides of a partition: ${both.join(', ')}`,
      );
  }

  #describeLink(c: Partial<LinkConfig>): string {
    const parts: string[] = [];
    for (const [k, v] of Object.entries(c) as [keyof LinkConfig, LinkConfig[keyof LinkConfig]][]) {
      if (v === undefined) continue;
      parts.push(`${k}=${typeof v === 'object' ? describeDelay(v) : String(v)}`);
    }
    return parts.join(' ');
  }

  #record(kind: string, detail: string): void {
    this.#trace?.record(this.#clock.now(), kind, detail);
  }
}
