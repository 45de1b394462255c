/**
 * A small randomized safety check of the core (not the full simulator, which comes later):
 * six node slots, random ticks, message delivery with loss, duplication and reordering,
 * partitions, crashes/restarts from storage, compaction with snapshot transfer, and
 * single-server membership changes. After every step it checks Raft's safety properties
 * (§5.2 Election Safety, §5.4.3 State Machine Safety); at the end it heals the network
 * and checks that a leader emerges and commits.
 */
import test from 'ava';
import { Prng, seedsFromEnv } from '@trellis/testkit';
import {
  bootstrapEntry,
  ConfChangeType,
  EntryType,
  MemoryStorage,
  RaftError,
  RawNode,
  decodeConfigEntry,
  type Config,
  type ConfState,
  type Message,
} from '../src/index.js';

interface SimNode {
  id: number;
  /** A Ready persisted and applied but not yet acknowledged with advance(). */
  outstanding: boolean;
  storage: MemoryStorage;
  node: RawNode;
  /** Applied entries: index → "term:data". */
  applied: Map<number, string>;
  appliedIndex: number;
  /** The configuration as of appliedIndex (what a snapshot at appliedIndex records). */
  appliedConf: ConfState;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

class Sim {
  readonly rng: Prng;
  readonly nodes = new Map<number, SimNode>();
  queue: Message[] = [];
  side = new Set<number>();
  /** Election Safety: the leader of each term. */
  readonly leaders = new Map<number, number>();
  /** State Machine Safety: what was applied at each index, by anyone. */
  readonly appliedAt = new Map<number, string>();
  proposals = 0;
  readonly log: string[] = [];

  constructor(seed: number) {
    this.rng = new Prng(seed);
    for (let id = 1; id <= 6; id++) {
      const storage = new MemoryStorage();
      if (id <= 3) {
        storage.append([bootstrapEntry({ voters: [1, 2, 3], learners: [] })]);
        storage.setHardState({ term: 1, vote: 0, commit: 1 });
      }
      const n: SimNode = {
        id,
        outstanding: false,
        storage,
        node: this.#newNode(id, storage, id <= 3 ? 1 : 0),
        applied: new Map(),
        appliedIndex: id <= 3 ? 1 : 0,
        appliedConf: { voters: id <= 3 ? [1, 2, 3] : [], learners: [] },
      };
      this.nodes.set(id, n);
    }
  }

  #newNode(id: number, storage: MemoryStorage, applied: number): RawNode {
    const rng = Prng.derive(this.rng.seed, `node${id}/${this.rng.nextUint32()}`);
    const cfg: Config = {
      id,
      storage,
      applied,
      rand: (k) => rng.int(k),
      maxSizePerMsg: 16,
      maxInflightMsgs: 4,
      snapshotChunkSize: 16,
    };
    return new RawNode(cfg);
  }

  blocked(m: Message): boolean {
    return this.side.size > 0 && this.side.has(m.from) !== this.side.has(m.to);
  }

  /** Reads in flight: context → the highest commit index anywhere when it was issued. */
  readonly reads = new Map<string, number>();
  readsServed = 0;

  globalCommit(): number {
    let c = 0;
    for (const n of this.nodes.values()) c = Math.max(c, n.node.status().hardState.commit);
    return c;
  }

  processReady(n: SimNode, allowDefer = false): void {
    if (n.outstanding) {
      n.node.advance();
      n.outstanding = false;
      return;
    }
    if (!n.node.hasReady()) return;
    const rd = n.node.ready();
    if (rd.snapshot !== undefined) n.storage.applySnapshot(rd.snapshot);
    n.storage.append(rd.entries);
    if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
    this.queue.push(...rd.messages);
    if (rd.snapshot !== undefined) {
      const entries = JSON.parse(dec.decode(rd.snapshot.data)) as [number, string][];
      n.applied = new Map(entries);
      for (const [i, v] of entries) this.checkApplied(n, i, v);
      n.appliedIndex = rd.snapshot.metadata.index;
      n.appliedConf = rd.snapshot.metadata.confState;
    }
    for (const e of rd.committedEntries) {
      if (e.index !== n.appliedIndex + 1) {
        throw new Error(`node ${n.id} applies ${e.index} after ${n.appliedIndex}`);
      }
      const v = `${e.term}:${e.type === EntryType.Config ? 'conf' : dec.decode(e.data)}`;
      this.checkApplied(n, e.index, v);
      n.applied.set(e.index, v);
      n.appliedIndex = e.index;
      if (e.type === EntryType.Config) n.appliedConf = decodeConfigEntry(e.data).conf;
    }
    for (const r of rd.readStates) {
      // Linearizable read: it must observe every write committed before it was issued.
      const floor = this.reads.get(r.context);
      if (floor === undefined) throw new Error(`node ${n.id}: unknown read ${r.context}`);
      if (r.index < floor) {
        throw new Error(`stale read ${r.context} on ${n.id}: index ${r.index} < commit ${floor}`);
      }
      this.readsServed++; // (kept: a duplicated ReadIndexResp yields the read state twice)
    }
    // Sometimes acknowledge later: the node keeps running with a Ready outstanding.
    if (allowDefer && this.rng.chance(0.3)) n.outstanding = true;
    else n.node.advance();
  }

  checkApplied(n: SimNode, index: number, v: string): void {
    const prev = this.appliedAt.get(index);
    if (prev === undefined) this.appliedAt.set(index, v);
    else if (prev !== v) {
      throw new Error(
        `state machine safety: node ${n.id} applied ${v} at ${index}, others ${prev}`,
      );
    }
  }

  checkLeaders(): void {
    for (const n of this.nodes.values()) {
      if (!n.node.isLeader) continue;
      const term = n.node.status().hardState.term;
      const l = this.leaders.get(term);
      if (l === undefined) this.leaders.set(term, n.id);
      else if (l !== n.id)
        throw new Error(`election safety: ${l} and ${n.id} both lead term ${term}`);
    }
  }

  deliverOne(): void {
    if (this.queue.length === 0) return;
    const i = this.rng.int(this.queue.length);
    const m = this.queue[i]!;
    if (!this.rng.chance(0.1)) this.queue.splice(i, 1); // else: duplicate later
    if (this.blocked(m) || this.rng.chance(0.05)) return; // lost
    this.nodes.get(m.to)?.node.step(m);
  }

  /** A node that believes it leads (there may be a stale one too: pick at random). */
  leader(): SimNode | undefined {
    const ls = [...this.nodes.values()].filter((n) => n.node.isLeader);
    return ls.length === 0 ? undefined : this.rng.pick(ls);
  }

  step(): void {
    const r = this.rng.float();
    const n = this.rng.pick([...this.nodes.values()]);
    // Clocks advance together (bounded drift is what leases assume).
    if (r < 0.04) for (const x of this.nodes.values()) x.node.tick();
    else if (r < 0.5) this.deliverOne();
    else if (r < 0.8) this.processReady(n, true);
    else if (r < 0.88) this.propose(n);
    else if (r < 0.8815) this.partition();
    else if (r < 0.883) this.restart(n);
    else if (r < 0.895) this.compact(n);
    else if (r < 0.9) this.changeMembership();
    else if (r < 0.95) this.tryRead(this.rng.chance(0.7) ? (this.leader() ?? n) : n);
    this.checkLeaders();
  }

  /** Heals, or cuts a random subset of nodes off from the rest. */
  partition(): void {
    this.side = new Set();
    const r = this.rng.float();
    if (r < 0.3) return;
    const l = this.leader();
    if (r < 0.7 && l !== undefined) {
      // Cut the leader off (possibly with one other node): the case leases and
      // ReadIndex must get right.
      this.side.add(l.id);
      if (this.rng.chance(0.3)) this.side.add(this.rng.int(6) + 1);
      return;
    }
    for (const id of this.nodes.keys()) if (this.rng.chance(0.35)) this.side.add(id);
  }

  propose(n: SimNode): void {
    try {
      n.node.propose(enc.encode(`p${++this.proposals}`));
    } catch (e) {
      if (!(e instanceof RaftError) || e.code === 'ERR_INVARIANT') throw e;
    }
  }

  tryRead(n: SimNode): void {
    const ctx = `r${this.rng.nextUint32()}`;
    this.reads.set(ctx, this.globalCommit());
    try {
      if (this.rng.chance(0.5)) n.node.readIndex(ctx);
      else n.node.leaseRead(ctx);
    } catch (e) {
      if (!(e instanceof RaftError) || e.code === 'ERR_INVARIANT') throw e;
    }
  }

  restart(n: SimNode): void {
    // Crash: unpersisted state and the state machine are lost; recover from storage.
    const snap = n.storage.snapshot();
    n.applied = new Map(
      snap.metadata.index > 0 ? (JSON.parse(dec.decode(snap.data)) as [number, string][]) : [],
    );
    n.appliedIndex = snap.metadata.index;
    n.appliedConf = snap.metadata.confState;
    n.node = this.#newNode(n.id, n.storage, n.appliedIndex);
    n.outstanding = false;
    this.queue = this.queue.filter((m) => m.to !== n.id);
  }

  compact(n: SimNode): void {
    const at = n.appliedIndex;
    if (at <= n.storage.snapshot().metadata.index) return;
    const entries = [...n.applied].filter(([i]) => i <= at);
    n.storage.createSnapshot(at, n.appliedConf, enc.encode(JSON.stringify(entries)));
    const keep = this.rng.int(3);
    if (at - keep >= n.storage.firstIndex()) n.storage.compact(at - keep);
  }

  changeMembership(): void {
    const l = this.leader();
    if (l === undefined) return;
    const { voters, learners } = l.node.config;
    const options: { type: ConfChangeType; nodeId: number }[] = [];
    for (let id = 1; id <= 6; id++) {
      if (!voters.includes(id) && !learners.includes(id)) {
        options.push({ type: ConfChangeType.AddLearner, nodeId: id });
      }
    }
    for (const id of learners) {
      options.push({ type: ConfChangeType.AddVoter, nodeId: id });
      options.push({ type: ConfChangeType.RemoveNode, nodeId: id });
    }
    if (voters.length > 3) {
      for (const id of voters) options.push({ type: ConfChangeType.RemoveNode, nodeId: id });
    }
    if (options.length === 0) return;
    try {
      l.node.proposeConfChange(this.rng.pick(options));
    } catch (e) {
      if (!(e instanceof RaftError) || e.code === 'ERR_INVARIANT') throw e;
    }
  }

  describe(): string {
    const lines: string[] = [];
    for (const n of this.nodes.values()) {
      lines.push(n.node.describe());
      const r = n.node.raftForTesting;
      for (const [id, pr] of r.prs) lines.push(`    ${id}: ${pr.describe()}`);
      lines.push(
        `    electionElapsed=${r.electionElapsed} timeout=${r.randomizedElectionTimeout} tick=${r.tickCount} first=${n.storage.firstIndex()}`,
      );
    }
    return lines.join('\n');
  }

  /** Heals everything and runs until a leader commits a fresh proposal. */
  converge(): boolean {
    this.side = new Set();
    let marker: { index: number; term: number } | undefined;
    for (let round = 0; round < 3000; round++) {
      for (const n of this.nodes.values()) {
        this.processReady(n);
        this.processReady(n);
      }
      const batch = this.queue;
      this.queue = [];
      for (const m of batch) this.nodes.get(m.to)?.node.step(m);
      if (round % 3 === 0) for (const n of this.nodes.values()) n.node.tick();
      this.checkLeaders();
      if (marker !== undefined) {
        const v = this.appliedAt.get(marker.index);
        if (v === `${marker.term}:final`) return true;
        if (v !== undefined) marker = undefined; // overwritten before commit: propose again
      }
      const l = this.leader();
      if (
        l !== undefined &&
        (marker === undefined || l.node.status().hardState.term !== marker.term)
      ) {
        try {
          marker = l.node.propose(enc.encode('final'));
        } catch {
          // e.g. a transfer in progress: try again later
        }
      }
    }
    return false;
  }
}

const seeds = seedsFromEnv(40);

test('randomized safety: election safety and state machine safety hold', (t) => {
  let commits = 0;
  let reads = 0;
  for (const seed of seeds) {
    const sim = new Sim(seed);
    try {
      for (let i = 0; i < 5000; i++) sim.step();
      if (!sim.converge()) {
        t.fail(`seed ${seed}: no leader committed after healing\n${sim.describe()}`);
        return;
      }
    } catch (e) {
      t.fail(`seed ${seed} (replay: TRELLIS_SEED=${seed}): ${(e as Error).stack ?? String(e)}`);
      return;
    }
    commits += sim.appliedAt.size;
    reads += sim.readsServed;
  }
  t.true(commits > seeds.length * 5, `too little progress: ${commits}`);
  t.true(reads > seeds.length, `too few reads served: ${reads}`);
});
