/**
 * A small interaction harness for data-driven tests of the Raft core (after etcd-io/raft's
 * rafttest InteractionEnv): in-memory nodes, a message queue the script delivers by hand or
 * via `stabilize`, partitions, and a toy state machine (the list of applied payloads).
 *
 * Commands (ids are node ids; `[x]` optional):
 *   add-nodes <n> [voters=(…)] [learners=(…)] [prevote=b] [checkquorum=b] [election=n]
 *             [heartbeat=n] [lease=n] [max-inflight=n] [max-inflight-bytes=n]
 *             [max-size-per-msg=n] [max-uncommitted=n] [chunk=n] [chunk-window=n] [jitter=seed]
 *             nodes with `voters` get a bootstrap log (index 1, term 1); others start blank.
 *             Without `jitter`, node i's randomized election timeout is electionTick + i - 1
 *             (deterministic and distinct); with it, drawn from a Prng seeded by jitter and id.
 *   tick-election ticks until the node's election timer fires (leaders: electionTick).
 *   campaign <id> | tick-election <ids…> | tick-heartbeat <ids…> | tick <ids…> [n=k]
 *   propose <id> <data> | propose-conf-change <id> (add-voter|add-learner|remove)=<node>
 *   tick <ids…> until-change: tick them in lockstep until one changes role/term/leader
 *   process-ready [ids…] | deliver-msgs [ids…] [from=id] [drop=(…)] [type=…]
 *   drop-msg to=<id> [nth=k] [type=…]: lose the k-th queued message to a node
 *   stabilize [ids…]: process-ready and deliver until nothing moves
 *   partition <ids…> (the listed nodes vs the rest) | heal
 *   read-index <id> <ctx> | lease-read <id> <ctx> | lease <id>
 *   transfer-leadership from=<id> to=<id> | compact <id> [keep=k] | restart <id>
 *   status <id> | raft-log <id> | raft-state | applied <id> | reset (drop every node)
 *   set-log <id> terms=(1,1,4,…) [term=t] [commit=c]: replace the log (index i has the i-th
 *             term; index 1 stays the bootstrap configuration) and restart the node
 */
import { argValue, positional, Prng, type TestCase } from '@trellis/testkit';
import {
  bootstrapEntry,
  ConfChangeType,
  describeEntry,
  describeMessage,
  describeReady,
  EntryType,
  MemoryStorage,
  MessageType,
  RaftError,
  RawNode,
  NotLeaderError,
  decodeConfigEntry,
  type Config,
  type ConfChange,
  type ConfState,
  type Message,
} from '../src/index.js';

interface NodeEnv {
  node: RawNode;
  storage: MemoryStorage;
  config: Omit<Config, 'applied'>;
  /** The toy state machine: payloads applied, in order. */
  sm: string[];
  appliedIndex: number;
  /** The configuration as of appliedIndex (what a snapshot at appliedIndex records). */
  appliedConf: ConfState;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export class InteractionEnv {
  readonly nodes = new Map<number, NodeEnv>();
  /** Messages sent and not yet delivered. */
  queue: Message[] = [];
  /** Partition: the set of nodes on one side (empty: none). */
  partitionSide = new Set<number>();

  handle(tc: TestCase): string {
    try {
      return this.#dispatch(tc);
    } catch (e) {
      if (e instanceof RaftError && e.code !== 'ERR_INVARIANT') return errString(e);
      throw e;
    }
  }

  #dispatch(tc: TestCase): string {
    const pos = positional(tc);
    const ids = (): number[] => pos.map(Number).filter((n) => Number.isInteger(n));
    const one = (): number => {
      const i = ids()[0];
      if (i === undefined) throw new Error(`${tc.file}:${tc.line}: ${tc.cmd}: node id required`);
      return i;
    };
    switch (tc.cmd) {
      case 'add-nodes':
        return this.#addNodes(tc, Number(pos[0]));
      case 'campaign':
        return this.#watch([one()], () => this.#n(one()).node.campaign());
      case 'tick-election':
        return this.#watch(ids(), () => {
          for (const id of ids()) {
            // Until the election timer fires: the randomized timeout for followers and
            // candidates, one election timeout (a check-quorum round) for leaders.
            const r = this.#n(id).node.raftForTesting;
            const n = r.isLeaderForTesting()
              ? r.cfg.electionTick
              : Math.max(1, r.randomizedElectionTimeout - r.electionElapsed);
            this.#tick(id, n);
          }
        });
      case 'tick-heartbeat':
        return this.#watch(ids(), () => {
          for (const id of ids()) this.#tick(id, this.#n(id).config.heartbeatTick ?? 1);
        });
      case 'tick':
        if (tc.args.some((a) => a.key === 'until-change')) return this.#tickUntilChange(ids());
        return this.#watch(ids(), () => {
          for (const id of ids()) this.#tick(id, Number(argValue(tc, 'n', '1')));
        });
      case 'propose': {
        const ref = this.#n(one()).node.propose(enc.encode(pos[1] ?? ''));
        return `ok ${ref.term}/${ref.index}`;
      }
      case 'propose-conf-change': {
        const cc = this.#confChange(tc);
        const ref = this.#n(one()).node.proposeConfChange(cc);
        return `ok ${ref.term}/${ref.index}`;
      }
      case 'process-ready':
        return this.#processReady(ids().length > 0 ? ids() : this.#allIds()).join('\n');
      case 'deliver-msgs':
        return this.#deliver(tc, ids()).join('\n');
      case 'drop-msg': {
        // Drops the nth (1-based) queued message to `to` (optionally of a type).
        const to = Number(argValue(tc, 'to'));
        const nth = Number(argValue(tc, 'nth', '1'));
        const typeName = tc.args.find((a) => a.key === 'type')?.vals[0];
        let seen = 0;
        const i = this.queue.findIndex(
          (m) =>
            m.to === to &&
            (typeName === undefined || MessageType[m.type] === typeName) &&
            ++seen === nth,
        );
        if (i < 0) return 'no such message';
        const [m] = this.queue.splice(i, 1);
        return `dropped: ${describeMessage(m!)}`;
      }
      case 'stabilize':
        return this.#stabilize(ids().length > 0 ? ids() : this.#allIds()).join('\n');
      case 'partition':
        this.partitionSide = new Set(ids());
        return `partitioned (${[...this.partitionSide].join(' ')}) from the rest`;
      case 'heal':
        this.partitionSide.clear();
        return 'healed';
      case 'read-index':
        this.#n(one()).node.readIndex(pos[1] ?? '');
        return 'ok';
      case 'lease-read':
        this.#n(one()).node.leaseRead(pos[1] ?? '');
        return 'ok';
      case 'lease':
        return `lease remaining: ${this.#n(one()).node.leaseRemaining()} ticks`;
      case 'transfer-leadership': {
        const from = Number(argValue(tc, 'from'));
        const to = Number(argValue(tc, 'to'));
        this.#n(from).node.transferLeadership(to);
        return 'ok';
      }
      case 'compact':
        return this.#compact(one(), Number(argValue(tc, 'keep', '0')));
      case 'restart':
        return this.#restart(one());
      case 'set-log':
        return this.#setLog(tc, one());
      case 'reset':
        this.nodes.clear();
        this.queue = [];
        this.partitionSide.clear();
        return 'reset';
      case 'status':
        return this.#status(one());
      case 'raft-log': {
        const s = this.#n(one()).storage;
        const lines: string[] = [];
        const snap = s.snapshot().metadata;
        if (snap.index > 0) lines.push(`snapshot ${snap.term}/${snap.index}`);
        if (s.lastIndex() >= s.firstIndex()) {
          for (const e of s.entries(s.firstIndex(), s.lastIndex() + 1, Infinity)) {
            lines.push(describeEntry(e));
          }
        }
        return lines.length > 0 ? lines.join('\n') : 'log is empty';
      }
      case 'raft-state':
        return this.#allIds()
          .map((id) => this.#n(id).node.describe())
          .join('\n');
      case 'applied': {
        const n = this.#n(one());
        return `applied=${n.appliedIndex} [${n.sm.join(' ')}]`;
      }
      default:
        throw new Error(`${tc.file}:${tc.line}: unknown command ${tc.cmd}`);
    }
  }

  #n(id: number): NodeEnv {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  #allIds(): number[] {
    return [...this.nodes.keys()].sort((a, b) => a - b);
  }

  #tick(id: number, n: number): void {
    for (let i = 0; i < n; i++) this.#n(id).node.tick();
  }

  /** Ticks the nodes in lockstep, one tick each per round, until one changes role. */
  #tickUntilChange(ids: number[]): string {
    for (let round = 1; round <= 1000; round++) {
      const out = this.#watch(ids, () => {
        for (const id of ids) this.#tick(id, 1);
      });
      if (out !== '') return `after ${round} ticks:\n${out}`;
    }
    throw new Error('tick until-change: nothing changed in 1000 ticks');
  }

  /** Runs `fn` and reports role/term/leader changes of the given nodes. */
  #watch(ids: number[], fn: () => void): string {
    const brief = (id: number): string => {
      const s = this.#n(id).node.status();
      return `${s.softState.state} term=${s.hardState.term} lead=${s.softState.lead}`;
    };
    const before = new Map(ids.map((id) => [id, brief(id)]));
    fn();
    const out: string[] = [];
    for (const id of ids) {
      const a = brief(id);
      if (a !== before.get(id)) out.push(`${id}: ${before.get(id)} -> ${a}`);
    }
    return out.join('\n');
  }

  #addNodes(tc: TestCase, n: number): string {
    const list = (key: string): number[] =>
      tc.args.find((a) => a.key === key)?.vals.map(Number) ?? [];
    const voters = list('voters');
    const learners = list('learners');
    const bool = (key: string, d: boolean): boolean => argValue(tc, key, String(d)) === 'true';
    const num = (key: string): number | undefined => {
      const v = tc.args.find((a) => a.key === key)?.vals[0];
      return v === undefined ? undefined : Number(v);
    };
    const jitter = num('jitter');
    const out: string[] = [];
    const first = this.nodes.size + 1;
    for (let id = first; id < first + n; id++) {
      const storage = new MemoryStorage();
      const bootstrapped = voters.length > 0;
      if (bootstrapped) {
        storage.append([bootstrapEntry({ voters, learners })]);
        storage.setHardState({ term: 1, vote: 0, commit: 1 });
      }
      const prng = jitter === undefined ? undefined : new Prng(jitter * 1000 + id);
      const config: Omit<Config, 'applied'> = {
        id,
        storage,
        preVote: bool('prevote', true),
        checkQuorum: bool('checkquorum', true),
        rand: prng === undefined ? (k: number) => (id - 1) % k : (k: number) => prng.int(k),
        ...opt('electionTick', num('election')),
        ...opt('heartbeatTick', num('heartbeat')),
        ...opt('leaseTicks', num('lease')),
        ...opt('maxInflightMsgs', num('max-inflight')),
        ...opt('maxInflightBytes', num('max-inflight-bytes')),
        ...opt('maxSizePerMsg', num('max-size-per-msg')),
        ...opt('maxUncommittedEntriesSize', num('max-uncommitted')),
        ...opt('snapshotChunkSize', num('chunk')),
        ...opt('maxSnapshotInflightChunks', num('chunk-window')),
      };
      const node = new RawNode({ ...config, applied: bootstrapped ? 1 : 0 });
      this.nodes.set(id, {
        node,
        storage,
        config,
        sm: [],
        appliedIndex: bootstrapped ? 1 : 0,
        appliedConf: bootstrapped ? { voters, learners } : { voters: [], learners: [] },
      });
      out.push(node.describe());
    }
    return out.join('\n');
  }

  /**
   * Replaces a node's durable log with entries of the given terms (index 1 keeps the
   * bootstrap configuration), sets its hard state (term: `term=` or the last entry's term,
   * commit: `commit=` or 1), and restarts it. Payloads are "<term>.<index>".
   */
  #setLog(tc: TestCase, id: number): string {
    const n = this.#n(id);
    const terms = tc.args.find((a) => a.key === 'terms')?.vals.map(Number) ?? [];
    const boot = n.storage.entries(1, 2, Infinity)[0]!;
    const storage = new MemoryStorage();
    const ents = terms.slice(1).map((t, i) => ({
      term: t,
      index: i + 2,
      type: EntryType.Normal,
      data: enc.encode(`${t}.${i + 2}`),
    }));
    storage.append([boot, ...ents]);
    const term = Number(argValue(tc, 'term', String(terms[terms.length - 1] ?? 1)));
    storage.setHardState({ term, vote: 0, commit: Number(argValue(tc, 'commit', '1')) });
    n.storage = storage;
    n.config = { ...n.config, storage };
    n.sm = [];
    n.appliedIndex = 1;
    return this.#restart(id);
  }

  #restart(id: number): string {
    const n = this.#n(id);
    n.node = new RawNode({ ...n.config, applied: n.appliedIndex });
    this.queue = this.queue.filter((m) => m.to !== id && m.from !== id);
    return n.node.describe();
  }

  #confChange(tc: TestCase): ConfChange {
    for (const [key, type] of [
      ['add-voter', ConfChangeType.AddVoter],
      ['add-learner', ConfChangeType.AddLearner],
      ['remove', ConfChangeType.RemoveNode],
    ] as const) {
      const v = tc.args.find((a) => a.key === key)?.vals[0];
      if (v !== undefined) return { type, nodeId: Number(v) };
    }
    throw new Error(
      `${tc.file}:${tc.line}: propose-conf-change needs add-voter=, add-learner= or remove=`,
    );
  }

  /** One Ready per node: persist, queue messages, apply, advance. */
  #processReady(ids: number[]): string[] {
    const out: string[] = [];
    for (const id of ids) {
      const n = this.#n(id);
      if (!n.node.hasReady()) continue;
      const rd = n.node.ready();
      out.push(`> ${id} handling Ready`);
      out.push(...indent(describeReady(rd)));
      // 1. persist
      if (rd.snapshot !== undefined) n.storage.applySnapshot(rd.snapshot);
      n.storage.append(rd.entries);
      if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
      // 2. send
      this.queue.push(...rd.messages);
      // 3. apply
      if (rd.snapshot !== undefined) {
        const s = dec.decode(rd.snapshot.data);
        n.sm = s === '' ? [] : s.split(',');
        n.appliedIndex = rd.snapshot.metadata.index;
        n.appliedConf = rd.snapshot.metadata.confState;
      }
      for (const e of rd.committedEntries) {
        if (e.type === EntryType.Normal && e.data.length > 0) n.sm.push(dec.decode(e.data));
        if (e.type === EntryType.Config) n.appliedConf = decodeConfigEntry(e.data).conf;
        n.appliedIndex = e.index;
      }
      // 4. advance
      n.node.advance();
    }
    return out;
  }

  #blocked(m: Message): boolean {
    if (this.partitionSide.size === 0) return false;
    return this.partitionSide.has(m.from) !== this.partitionSide.has(m.to);
  }

  #deliver(tc: TestCase, ids: number[]): string[] {
    const drop = new Set(tc.args.find((a) => a.key === 'drop')?.vals.map(Number) ?? []);
    const typeName = tc.args.find((a) => a.key === 'type')?.vals[0];
    const fromArg = tc.args.find((a) => a.key === 'from')?.vals[0];
    const out: string[] = [];
    const keep: Message[] = [];
    const batch = this.queue;
    this.queue = [];
    for (const m of batch) {
      const selected =
        (ids.length === 0 || ids.includes(m.to) || drop.has(m.to)) &&
        (typeName === undefined || MessageType[m.type] === typeName) &&
        (fromArg === undefined || m.from === Number(fromArg));
      if (!selected) {
        keep.push(m);
        continue;
      }
      if (drop.has(m.to)) {
        out.push(`dropped: ${describeMessage(m)}`);
        continue;
      }
      out.push(...this.#deliverOne(m));
    }
    this.queue = [...keep, ...this.queue];
    return out;
  }

  #deliverOne(m: Message): string[] {
    if (this.#blocked(m)) return [`dropped (partition): ${describeMessage(m)}`];
    const target = this.nodes.get(m.to);
    if (target === undefined) return [`dropped (no node): ${describeMessage(m)}`];
    target.node.step(m);
    return [describeMessage(m)];
  }

  #stabilize(ids: number[]): string[] {
    const out: string[] = [];
    for (let round = 0; round < 1000; round++) {
      const ready = this.#processReady(ids);
      out.push(...ready);
      const pending = this.queue.filter((m) => ids.includes(m.to));
      this.queue = this.queue.filter((m) => !ids.includes(m.to));
      const byNode = new Map<number, Message[]>();
      for (const m of pending) byNode.set(m.to, [...(byNode.get(m.to) ?? []), m]);
      for (const id of [...byNode.keys()].sort((a, b) => a - b)) {
        out.push(`> ${id} receiving messages`);
        for (const m of byNode.get(id)!) out.push(...indent(this.#deliverOne(m).join('\n')));
      }
      if (ready.length === 0 && pending.length === 0) return out;
    }
    throw new Error('stabilize: no quiescence after 1000 rounds');
  }

  #compact(id: number, keep: number): string {
    const n = this.#n(id);
    const at = n.appliedIndex;
    n.storage.createSnapshot(at, n.appliedConf, enc.encode(n.sm.join(',')));
    const upTo = at - keep;
    if (upTo >= n.storage.firstIndex()) n.storage.compact(upTo);
    return `snapshot at ${at}, log now [${n.storage.firstIndex()}, ${n.storage.lastIndex()}]`;
  }

  #status(id: number): string {
    const n = this.#n(id);
    const lines = [n.node.describe()];
    const r = n.node.raftForTesting;
    if (r.prs.size > 0) {
      for (const [pid, pr] of [...r.prs].sort((a, b) => a[0] - b[0])) {
        lines.push(`  ${pid}: ${pr.describe()}`);
      }
    }
    if (r.leadTransferee !== 0) lines.push(`  transferring to ${r.leadTransferee}`);
    return lines.join('\n');
  }
}

function opt<K extends string>(key: K, v: number | undefined): { [P in K]?: number } {
  return (v === undefined ? {} : { [key]: v }) as { [P in K]?: number };
}

function indent(s: string): string[] {
  return s === '' ? [] : s.split('\n').map((l) => `  ${l}`);
}

function errString(e: RaftError): string {
  if (e instanceof NotLeaderError) return `error ${e.code} leaderHint=${e.leaderHint}`;
  return `error ${e.message}`;
}
