// RaftNode over real RPC on loopback and real files: election, replication, reads,
// failover, restart from disk, snapshots, hostile peers.
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Handlers, RpcClient, RpcServer } from '@trellis/rpc';
import {
  NodeDisk,
  RaftNode,
  RpcRaftTransport,
  NotLeaderError,
  type NodeId,
  type RaftNodeOptions,
} from '../src/index.js';
import { KvStateMachine, encodeCommand } from './kv-sm.js';

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Member {
  id: NodeId;
  server: RpcServer;
  transport: RpcRaftTransport;
  node: RaftNode;
  sm: KvStateMachine;
  disk: NodeDisk;
}

class Cluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'trellis-raft-'));
  readonly members = new Map<NodeId, Member>();
  readonly ports = new Map<NodeId, number>();
  constructor(
    readonly ids: NodeId[],
    readonly extra: Partial<RaftNodeOptions> = {},
  ) {}

  async start(id: NodeId): Promise<Member> {
    const handlers = new Handlers();
    const server = await RpcServer.listen({ handlers, port: this.ports.get(id) ?? 0 });
    this.ports.set(id, server.address().port);
    const transport = new RpcRaftTransport({ self: id, handlers });
    const sm = new KvStateMachine();
    const disk = new NodeDisk();
    const node = new RaftNode({
      id,
      dataDir: join(this.dir, `n${id}`),
      disk,
      transport,
      stateMachine: sm,
      bootstrap: { voters: this.ids, learners: [] },
      tickMs: 20,
      raft: { randSeed: id * 7 },
      ...this.extra,
    });
    const m = { id, server, transport, node, sm, disk };
    this.members.set(id, m);
    return m;
  }

  connect(): void {
    for (const m of this.members.values()) {
      for (const [peer, port] of this.ports)
        if (peer !== m.id) m.transport.setPeer(peer, `ws://127.0.0.1:${port}/trellis/rpc`);
    }
  }

  async startAll(): Promise<void> {
    for (const id of this.ids) await this.start(id);
    this.connect();
    for (const m of this.members.values()) m.node.start();
  }

  leader(): Member | undefined {
    return [...this.members.values()].find((m) => m.node.isLeader);
  }

  async waitLeader(ms = 5000): Promise<Member> {
    await until(() => this.leader() !== undefined, ms, 'a leader');
    return this.leader()!;
  }

  async stop(id: NodeId): Promise<void> {
    const m = this.members.get(id)!;
    this.members.delete(id);
    await m.node.close();
    await m.server.close();
    m.disk.close();
  }

  async close(): Promise<void> {
    for (const id of [...this.members.keys()]) await this.stop(id);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const put = (key: string, value: string) => encodeCommand({ op: 'put', key, value });

test('three nodes elect one leader and replicate proposals to every state machine', async (t) => {
  const c = new Cluster([1, 2, 3]);
  await c.startAll();
  try {
    const leader = await c.waitLeader();
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => leader.node.propose(put(`k${i % 10}`, `v${i}`))),
    );
    t.true(results.every((r) => r.result === true));
    const last = results[results.length - 1]!.index;
    await until(
      () => [...c.members.values()].every((m) => m.node.appliedIndex >= last),
      5000,
      'all applied',
    );
    for (const m of c.members.values()) t.is(m.sm.get('k9'), 'v99');
    t.is([...c.members.values()].filter((m) => m.node.isLeader).length, 1);
  } finally {
    await c.close();
  }
});

test('a proposal on a follower fails fast with ERR_NOT_LEADER and the leader hint', async (t) => {
  const c = new Cluster([1, 2, 3]);
  await c.startAll();
  try {
    const leader = await c.waitLeader();
    const follower = [...c.members.values()].find((m) => !m.node.isLeader)!;
    await until(() => follower.node.leader === leader.id, 5000, 'the follower to learn the leader');
    const e = await t.throwsAsync(follower.node.propose(put('a', 'b')), {
      instanceOf: NotLeaderError,
    });
    t.is(e.code, 'ERR_NOT_LEADER');
    t.is(e.leaderHint, leader.id);
  } finally {
    await c.close();
  }
});

test('read barriers: ReadIndex on a follower and a lease read on the leader see prior writes', async (t) => {
  const c = new Cluster([1, 2, 3]);
  await c.startAll();
  try {
    const leader = await c.waitLeader();
    const w = await leader.node.propose(put('x', '1'));
    const follower = [...c.members.values()].find((m) => !m.node.isLeader)!;
    await until(() => follower.node.leader === leader.id, 5000, 'the follower to learn the leader');
    const idx = await follower.node.readBarrier();
    t.true(idx >= w.index);
    t.is(follower.sm.get('x'), '1');
    await until(() => leader.node.leaseRemaining() > 0, 5000, 'a leader lease');
    const li = await leader.node.readBarrier({ mode: 'lease' });
    t.true(li >= w.index);
  } finally {
    await c.close();
  }
});

test('leader crash: a new leader is elected, writes resume, the old leader restarts and catches up', async (t) => {
  const c = new Cluster([1, 2, 3]);
  await c.startAll();
  try {
    const old = await c.waitLeader();
    for (let i = 0; i < 20; i++) await old.node.propose(put(`before${i}`, 'x'));
    const killedAt = Date.now();
    await c.stop(old.id);
    const next = await c.waitLeader(5000);
    t.not(next.id, old.id);
    const w = await next.node.propose(put('after', 'y'));
    t.log(`failover: leader ${old.id} → ${next.id}, first write after ${Date.now() - killedAt} ms`);
    const back = await c.start(old.id);
    c.connect();
    back.node.start();
    await until(() => back.node.appliedIndex >= w.index, 5000, 'the old leader to catch up');
    t.is(back.sm.get('after'), 'y');
    t.is(back.sm.get('before19'), 'x');
  } finally {
    await c.close();
  }
});

test('a whole-cluster restart keeps every acknowledged write', async (t) => {
  const c = new Cluster([1, 2, 3]);
  await c.startAll();
  try {
    const leader = await c.waitLeader();
    const acked: number[] = [];
    for (let i = 0; i < 50; i++)
      acked.push((await leader.node.propose(put(`k${i}`, `v${i}`))).index);
    for (const id of c.ids) await c.stop(id);
    await c.startAll();
    const l2 = await c.waitLeader();
    await l2.node.readBarrier();
    for (let i = 0; i < 50; i++) t.is(l2.sm.get(`k${i}`), `v${i}`);
  } finally {
    await c.close();
  }
});

test('snapshots compact the log, and a node that missed them catches up by snapshot install', async (t) => {
  const c = new Cluster([1, 2, 3], {
    snapshotThreshold: 50,
    trailingLogs: 10,
    walSegmentBytes: 4096,
  });
  await c.startAll();
  try {
    const leader = await c.waitLeader();
    const lagger = [...c.members.values()].find((m) => !m.node.isLeader)!;
    await c.stop(lagger.id);
    let last = 0;
    for (let i = 0; i < 300; i++)
      last = (await leader.node.propose(put(`k${i}`, 'v'.repeat(100)))).index;
    t.true(leader.node.stats.snapshots >= 2);
    const back = await c.start(lagger.id);
    c.connect();
    back.node.start();
    await until(() => back.node.appliedIndex >= last, 10_000, 'the lagging node to catch up');
    t.is(back.sm.data.size, 300);
    // It received a snapshot: far fewer than 300 commands were applied one by one.
    t.true(
      back.sm.appliedIndexes.length < 300,
      `applied ${back.sm.appliedIndexes.length} entries individually`,
    );
  } finally {
    await c.close();
  }
});

test('hostile peers: malformed batches and messages are dropped and counted; the cluster keeps working', async (t) => {
  const c = new Cluster([1, 2, 3]);
  await c.startAll();
  try {
    const leader = await c.waitLeader();
    const target = c.members.get(leader.id === 1 ? 2 : 1)!;
    const rogue = new RpcClient({ url: `ws://127.0.0.1:${c.ports.get(target.id)}/trellis/rpc` });
    const bad: unknown[] = [
      null,
      'garbage',
      { msgs: 'x' },
      { msgs: [null, 1, 'x'] },
      { msgs: [{ type: 999, from: 1, to: target.id }] },
      { msgs: [{ type: 1, from: 0, to: target.id }] },
      { msgs: [{ type: 1, from: 3, to: 42 }] },
      { msgs: [{ type: 1, from: 3, to: target.id, term: -1 }] },
      {
        msgs: [
          {
            type: 1,
            from: 3,
            to: target.id,
            entries: [{ term: 1, index: 1, type: 7, data: Buffer.alloc(1) }],
          },
        ],
      },
      { msgs: [{ type: 1, from: 3, to: target.id, context: 'x'.repeat(10_000) }] },
      { msgs: Array.from({ length: 5000 }, () => ({})) },
    ];
    for (const b of bad) await rogue.call('Raft.Batch', b).catch(() => undefined);
    await rogue.close();
    t.true(target.transport.stats.rejected >= bad.length - 1);
    const w = await leader.node.propose(put('still', 'ok'));
    await until(() => target.node.appliedIndex >= w.index, 5000, 'replication to continue');
    t.is(target.sm.get('still'), 'ok');
  } finally {
    await c.close();
  }
});
