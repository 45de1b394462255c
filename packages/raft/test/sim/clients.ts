/**
 * Simulated clients: processes issuing put / cas / get on a few keys through the node they
 * believe leads (following NotLeader hints), recording every operation in a HistoryRecorder
 * with virtual time, for the linearizability checker.
 *
 * Outcomes:
 * - a proposal refused by the node (NotLeader, transfer in progress, dropped) → `fail`
 *   (it was never appended, or an entry of another term won its index);
 * - ERR_TIMEOUT, or the node crashing with the proposal pending → `info` (unknown);
 * - a read that does not complete → `fail` (reads have no effect);
 * - a node that is down refuses the connection: nothing is recorded.
 * Reads are `readBarrier()` (ReadIndex, on any node) or `readBarrier({ mode: 'lease' })`
 * (on the leader), then a read of that node's state machine.
 *
 * Every continuation is one `.then` deep, so it runs right after the step that settled it.
 */
import {
  HistoryRecorder,
  kv,
  type GetOp,
  type KvValue,
  type OpHandle,
  type Prng,
} from '@trellis/testkit';
import type { RaftNode } from '../../src/driver/node.js';
import { NotLeaderError, RaftError } from '../../src/errors.js';
import { NONE, type NodeId } from '../../src/types.js';
import { encodeCommand, type KvStateMachine } from '../kv-sm.js';
import { InvariantViolation } from './checker.js';
import type { Member, SimCluster } from './cluster.js';

export interface ClientOptions {
  readonly keys: readonly string[];
  /** Probabilities of the operation kinds (the rest are ReadIndex gets). */
  readonly putRate: number;
  readonly casRate: number;
  readonly leaseReadRate: number;
  /** Pause between operations, uniform in [0, thinkMs]. */
  readonly thinkMs: number;
  /**
   * A client gives up waiting after this long (an RPC deadline): a write is then `info`, a
   * read `fail`, and the client moves on while the request stays pending in the driver.
   */
  readonly deadlineMs: number;
}

/** The refusals a proposal may meet: fail (not applied) or, for the last two, unknown. */
const WRITE_OUTCOMES: ReadonlySet<string> = new Set([
  'ERR_NOT_LEADER',
  'ERR_TRANSFER_IN_PROGRESS',
  'ERR_PROPOSAL_DROPPED',
  'ERR_TIMEOUT',
  'ERR_NODE_CLOSED',
]);
/** The refusals a read barrier may meet (all: the read did not happen). */
const READ_OUTCOMES: ReadonlySet<string> = new Set([
  'ERR_NOT_LEADER',
  'ERR_TIMEOUT',
  'ERR_NODE_CLOSED',
]);

/** Hands a request to a node's process: at once, or when it resumes from a pause. */
type Gate = (fn: () => void) => void;

function gateOf(m: Member): Gate {
  const sched = m.sched;
  return sched === undefined ? (fn) => fn() : (fn) => sched.run(fn);
}

export interface Pin {
  readonly node: () => NodeId | undefined;
  readonly kind: 'put' | 'lease' | 'read-index';
  readonly gapMs: number;
  readonly untilMs: number;
}

interface Pending {
  readonly since: number;
  readonly node: RaftNode;
  readonly what: string;
  readonly process: number;
}

export class ClientPool {
  readonly history: HistoryRecorder;
  active = true;
  readonly #clients: Client[] = [];
  /** Requests handed to a driver and not settled yet (clients may have given up on them). */
  readonly inDriver = new Set<Pending>();

  constructor(
    readonly cluster: SimCluster,
    readonly rng: Prng,
    readonly o: ClientOptions,
    count: number,
  ) {
    this.history = new HistoryRecorder({ now: () => cluster.clock.now() });
    const ids = [...cluster.members.keys()];
    for (let p = 1; p <= count; p++) {
      this.#clients.push(new Client(this, p, rng.pick(ids)));
    }
  }

  start(): void {
    for (const c of this.#clients) c.schedule(this.rng.int(20));
  }

  /**
   * Adds a process pinned to one kind of operation on whatever node `node()` names (none:
   * it waits), until virtual time `untilMs`: for targeted scenarios, e.g. lease reads on an
   * isolated leader while another process writes through the new one.
   */
  spawnPinned(process: number, pin: Pin): void {
    const c = new Client(this, process, pin.node() ?? NONE, pin);
    this.#clients.push(c);
    c.schedule(0);
  }

  /** Requests still waiting for their outcome in a driver. */
  pending(): number {
    return this.inDriver.size;
  }

  /**
   * A request pending longer than every driver timeout on a node that is still running was
   * lost by the driver: its promise would never settle.
   */
  checkNoHungRequests(limitMs: number): void {
    const now = this.cluster.clock.now();
    for (const p of this.inDriver) {
      if (now - p.since <= limitMs) continue;
      const alive = [...this.cluster.members.values()].some((m) => m.node === p.node);
      if (alive) {
        throw new InvariantViolation(
          'request never settled',
          `client ${p.process}: ${p.what} invoked at ${p.since} ms on a node that is still running ` +
            `has had no outcome for ${now - p.since} ms`,
        );
      }
    }
  }
}

class Client {
  /** The operation the client waits for; cleared when it completes or gives up. */
  #current: { readonly complete: () => void } | undefined;
  #n = 0;
  readonly #seen = new Map<string, KvValue>();

  constructor(
    readonly pool: ClientPool,
    readonly process: number,
    public target: NodeId,
    readonly pin?: Pin,
  ) {}

  schedule(delayMs: number): void {
    this.pool.cluster.clock.setTimeout(() => this.pool.cluster.guard(() => this.#next()), delayMs);
  }

  #trace(kind: string, detail: string): void {
    this.pool.cluster.trace.record(
      this.pool.cluster.clock.now(),
      kind,
      `p${this.process} ${detail}`,
    );
  }

  #retarget(hint: NodeId): void {
    const ids = [...this.pool.cluster.members.values()]
      .filter((m) => m.status !== 'retired')
      .map((m) => m.id);
    this.target = hint !== NONE && ids.includes(hint) ? hint : this.pool.rng.pick(ids);
  }

  #next(): void {
    const { cluster, rng, o } = this.pool;
    if (!this.pool.active) return;
    if (this.pin !== undefined) {
      this.#nextPinned(this.pin);
      return;
    }
    const m = cluster.members.get(this.target);
    if (m === undefined || m.node === undefined || m.sm === undefined) {
      // Connection refused: try another node.
      this.#retarget(NONE);
      this.schedule(5 + rng.int(20));
      return;
    }
    const key = rng.pick(o.keys);
    const roll = rng.float();
    if (roll < o.putRate) this.#write(m.node, gateOf(m), kv.put(key, this.#value()));
    else if (roll < o.putRate + o.casRate) {
      this.#write(m.node, gateOf(m), kv.cas(key, this.#seen.get(key) ?? null, this.#value()));
    } else {
      const lease = roll < o.putRate + o.casRate + o.leaseReadRate;
      // ReadIndex reads go to any node now and then (a follower forwards them).
      let target = m;
      if (!lease && rng.chance(0.3)) target = rng.pick(cluster.up());
      if (target.node !== undefined && target.sm !== undefined) {
        this.#read(target.node, gateOf(target), target.sm, key, lease);
      } else this.#read(m.node, gateOf(m), m.sm, key, lease);
    }
  }

  #value(): string {
    return `${this.process}.${++this.#n}`;
  }

  #done(delay?: number): void {
    this.#current = undefined;
    if (this.pin !== undefined) delay = this.pin.gapMs;
    this.schedule(delay ?? this.pool.rng.int(this.pool.o.thinkMs + 1));
  }

  #nextPinned(pin: Pin): void {
    const { cluster, rng, o } = this.pool;
    if (cluster.clock.now() >= pin.untilMs) return;
    const m = cluster.members.get(pin.node() ?? NONE);
    if (m?.node === undefined || m.sm === undefined) {
      this.schedule(pin.gapMs);
      return;
    }
    const key = rng.pick(o.keys);
    if (pin.kind === 'put') this.#write(m.node, gateOf(m), kv.put(key, this.#value()));
    else this.#read(m.node, gateOf(m), m.sm, key, pin.kind === 'lease');
  }

  /**
   * Starts waiting for a request: returns `settle`, which runs `onOutcome` unless the client
   * already gave up (at its deadline, when `onDeadline` ran instead). Either way the request
   * leaves the driver watch when the driver settles it.
   */
  #begin(node: RaftNode, what: string, onDeadline: () => void): (onOutcome: () => void) => void {
    const { cluster } = this.pool;
    const p: Pending = { since: cluster.clock.now(), node, what, process: this.process };
    this.pool.inDriver.add(p);
    const cur = {
      complete: () => {
        onDeadline();
        this.#retarget(NONE);
        this.#done();
      },
    };
    this.#current = cur;
    const timer = cluster.clock.setTimeout(
      () =>
        cluster.guard(() => {
          if (this.#current === cur) cur.complete();
        }),
      this.pool.o.deadlineMs,
    );
    return (onOutcome) => {
      this.pool.inDriver.delete(p);
      if (this.#current !== cur) return; // the client gave up on it
      cluster.clock.clearTimeout(timer);
      onOutcome();
    };
  }

  #write(
    node: RaftNode,
    gate: Gate,
    op: ReturnType<typeof kv.put> | ReturnType<typeof kv.cas>,
  ): void {
    const { history } = this.pool;
    const h = history.invoke(this.process, op);
    const what =
      op.f === 'put'
        ? `put ${op.key}=${op.value}`
        : `cas ${op.key} ${String(op.expected)}->${String(op.value)}`;
    this.#trace('client.invoke', `${what} @n${node.id}`);
    const settle = this.#begin(node, what, () => {
      h.info();
      this.#trace('client.info', `${what} client deadline`);
    });
    const cmd =
      op.f === 'put'
        ? encodeCommand({ op: 'put', key: op.key, value: op.value })
        : encodeCommand({ op: 'cas', key: op.key, expected: op.expected, value: op.value ?? '' });
    gate(() => this.#proposeNow(node, cmd, op, what, h, settle));
  }

  #proposeNow(
    node: RaftNode,
    cmd: Uint8Array,
    op: ReturnType<typeof kv.put> | ReturnType<typeof kv.cas>,
    what: string,
    h: OpHandle,
    settle: (onOutcome: () => void) => void,
  ): void {
    const { cluster } = this.pool;
    void node.propose(cmd).then(
      (r) =>
        cluster.guard(() => {
          cluster.checker.onAck(r.index, r.term);
          settle(() => {
            if (op.f === 'put') {
              h.ok();
              this.#seen.set(op.key, op.value);
            } else {
              const swapped = r.result === true;
              (h as { ok(result: boolean): void }).ok(swapped);
              if (swapped) this.#seen.set(op.key, op.value);
            }
            this.#trace('client.ok', `${what} at ${r.index}@t${r.term} -> ${String(r.result)}`);
            this.#done();
          });
        }),
      (e: unknown) =>
        cluster.guard(() => {
          const code = e instanceof RaftError ? e.code : 'unexpected';
          if (!WRITE_OUTCOMES.has(code)) {
            // Even when the client gave up on it already.
            throw new InvariantViolation(
              'unexpected error',
              `${what} failed with ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
            );
          }
          settle(() => {
            switch (code) {
              case 'ERR_NOT_LEADER':
              case 'ERR_TRANSFER_IN_PROGRESS':
              case 'ERR_PROPOSAL_DROPPED':
                h.fail();
                break;
              default: // ERR_TIMEOUT, ERR_NODE_CLOSED: unknown
                h.info();
                break;
            }
            this.#trace(
              'client.' + (code === 'ERR_TIMEOUT' || code === 'ERR_NODE_CLOSED' ? 'info' : 'fail'),
              `${what} ${code}`,
            );
            if (e instanceof NotLeaderError) this.#retarget(e.leaderHint);
            else if (code !== 'ERR_TRANSFER_IN_PROGRESS') this.#retarget(NONE);
            this.#done(code === 'ERR_NOT_LEADER' ? undefined : 5 + this.pool.rng.int(30));
          });
        }),
    );
  }

  #read(node: RaftNode, gate: Gate, sm: KvStateMachine, key: string, lease: boolean): void {
    const { history } = this.pool;
    const h = history.invoke(this.process, kv.get(key));
    const what = `get ${key} (${lease ? 'lease' : 'read-index'})`;
    this.#trace('client.invoke', `${what} @n${node.id}`);
    const settle = this.#begin(node, what, () => {
      h.fail();
      this.#trace('client.fail', `${what} client deadline`);
    });
    gate(() => this.#readNow(node, sm, key, lease, what, h, settle));
  }

  #readNow(
    node: RaftNode,
    sm: KvStateMachine,
    key: string,
    lease: boolean,
    what: string,
    h: OpHandle<GetOp>,
    settle: (onOutcome: () => void) => void,
  ): void {
    const { cluster } = this.pool;
    void node.readBarrier(lease ? { mode: 'lease' } : {}).then(
      (index) =>
        cluster.guard(() =>
          settle(() => {
            const v = sm.get(key);
            h.ok(v);
            this.#seen.set(key, v);
            this.#trace('client.ok', `${what} at ${index} -> ${String(v)}`);
            this.#done();
          }),
        ),
      (e: unknown) =>
        cluster.guard(() => {
          const code = e instanceof RaftError ? e.code : 'unexpected';
          if (!READ_OUTCOMES.has(code)) {
            throw new InvariantViolation(
              'unexpected error',
              `${what} failed with ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
            );
          }
          settle(() => {
            h.fail();
            this.#trace('client.fail', `${what} ${code}`);
            if (e instanceof NotLeaderError) this.#retarget(e.leaderHint);
            else this.#retarget(NONE);
            this.#done(5 + this.pool.rng.int(30));
          });
        }),
    );
  }
}
