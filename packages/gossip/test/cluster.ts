/**
 * A small deterministic cluster for tests: several cores connected by a perfect in-memory
 * network (fixed latency, no loss), time from a VirtualClock, randomness from seeded
 * Prngs. Stopped members neither send nor receive. (The randomized lossy simulation is a
 * separate, later harness.)
 */
import { Prng, VirtualClock, type TimerHandle } from '@trellis/testkit';
import { GossipCore, type GossipConfigInput, type Output } from '../src/index.js';

export interface Node {
  readonly name: string;
  readonly core: GossipCore;
  stopped: boolean;
  timer: TimerHandle | undefined;
  /** Member and user events this node's subscribers saw, in order. */
  readonly events: string[];
  leaveComplete: boolean;
}

export class Cluster {
  readonly clock = new VirtualClock(0);
  readonly nodes = new Map<string, Node>();
  readonly latencyMs: number;
  readonly seed: number;
  /** Probability that a UDP packet is lost (0 = the perfect network of the tests). */
  readonly lossRate: number;
  readonly #net: Prng;
  packets = 0;

  constructor(seed: number, latencyMs = 1, lossRate = 0) {
    this.seed = seed;
    this.latencyMs = latencyMs;
    this.lossRate = lossRate;
    this.#net = Prng.derive(seed, 'net');
  }

  add(
    name: string,
    overrides: Partial<Omit<GossipConfigInput, 'name' | 'addr' | 'rand'>> = {},
  ): Node {
    const prng = Prng.derive(this.seed, name);
    const core = new GossipCore({ name, addr: name, rand: (n) => prng.int(n), ...overrides });
    const node: Node = {
      name,
      core,
      stopped: false,
      timer: undefined,
      events: [],
      leaveComplete: false,
    };
    this.nodes.set(name, node);
    this.#dispatch(node, core.start(this.clock.now()));
    return node;
  }

  node(name: string): Node {
    const n = this.nodes.get(name);
    if (n === undefined) throw new Error(`no node ${name}`);
    return n;
  }

  join(name: string, seeds: string[]): void {
    const n = this.node(name);
    this.#dispatch(n, n.core.join(seeds, this.clock.now()));
  }

  leave(name: string): void {
    const n = this.node(name);
    this.#dispatch(n, n.core.leave(this.clock.now()));
  }

  /** Runs a core call at the current time and dispatches its outputs like any others. */
  do(name: string, call: (core: GossipCore, now: number) => readonly Output[]): void {
    const n = this.node(name);
    this.#dispatch(n, call(n.core, this.clock.now()));
  }

  /** Crash-stop: the member goes silent. */
  stop(name: string): void {
    const n = this.node(name);
    n.stopped = true;
    if (n.timer !== undefined) this.clock.clearTimeout(n.timer);
    n.timer = undefined;
  }

  run(ms: number): void {
    this.clock.advance(ms);
  }

  runUntil(done: () => boolean, limitMs: number): boolean {
    return this.clock.runUntil(done, limitMs);
  }

  #live(name: string): Node | undefined {
    const n = this.nodes.get(name);
    return n === undefined || n.stopped ? undefined : n;
  }

  #arm(n: Node): void {
    if (n.timer !== undefined) this.clock.clearTimeout(n.timer);
    n.timer = undefined;
    if (n.stopped) return;
    const at = n.core.nextDeadline();
    if (at === undefined) return;
    n.timer = this.clock.at(at, () => {
      n.timer = undefined;
      if (!n.stopped) this.#dispatch(n, n.core.tick(this.clock.now()));
    });
  }

  #later(fn: () => void): void {
    this.clock.setTimeout(fn, this.latencyMs);
  }

  #dispatch(n: Node, outs: readonly Output[]): void {
    for (const o of outs) {
      switch (o.type) {
        case 'udp':
          this.packets++;
          if (this.lossRate > 0 && this.#net.chance(this.lossRate)) break;
          this.#later(() => {
            const to = this.#live(o.to);
            if (to !== undefined && !n.stopped) {
              this.#dispatch(to, to.core.handlePacket(n.name, o.packet, this.clock.now()));
            }
          });
          break;
        case 'tcp-ping':
          this.#later(() => {
            const to = this.#live(o.to);
            const res = to?.core.handleStream(n.name, o.request, this.clock.now());
            if (to !== undefined && res !== undefined) this.#dispatch(to, res.outputs);
            this.#later(() => {
              if (!n.stopped) {
                this.#dispatch(n, n.core.handleTcpPingReply(o.seq, res?.reply, this.clock.now()));
              }
            });
          });
          break;
        case 'push-pull':
          this.#later(() => {
            const to = this.#live(o.to);
            const res = to?.core.handleStream(n.name, o.request, this.clock.now());
            if (to !== undefined && res !== undefined) this.#dispatch(to, res.outputs);
            this.#later(() => {
              if (n.stopped) return;
              const now = this.clock.now();
              this.#dispatch(
                n,
                res?.reply !== undefined
                  ? n.core.handlePushPullReply(o.to, res.reply, now)
                  : n.core.pushPullFailed(o.to, o.join, now),
              );
            });
          });
          break;
        case 'member':
          n.events.push(`${o.kind} ${o.member.name}`);
          break;
        case 'user-event':
          n.events.push(`event ${o.name}@${o.ltime}`);
          break;
        case 'leave-complete':
          n.leaveComplete = true;
          break;
        case 'dropped':
          throw new Error(`${n.name} dropped input from ${o.from}: ${o.error.message}`);
        default:
          break;
      }
    }
    this.#arm(n);
  }

  /** Each live node's view: name → status of every member it knows. */
  view(name: string): Record<string, string> {
    const res: Record<string, string> = {};
    for (const m of this.node(name).core.members()) res[m.name] = m.status;
    return res;
  }

  /** True when every live node sees exactly `expected` (name → status) for these members. */
  agree(expected: Record<string, string>): boolean {
    for (const n of this.nodes.values()) {
      if (n.stopped) continue;
      const v = this.view(n.name);
      for (const [k, s] of Object.entries(expected)) if (v[k] !== s) return false;
    }
    return true;
  }
}
