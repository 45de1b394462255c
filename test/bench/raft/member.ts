/**
 * One member of the Raft benchmark's cluster, as its own OS process: an RpcServer on
 * 127.0.0.1, the RPC Raft transport, real files with fdatasync (NodeDisk) and a RaftNode
 * with the driver's DEFAULT timing (NODE_DEFAULTS: 40 ms tick, election after 10 ticks),
 * running a trivial key-value state machine. Clients reach it through the `Bench.*` methods
 * of ./protocol.ts.
 *
 *     node test/dist/bench/raft/member.js --id 1 --port 7001 --dir /tmp/x/n1 \
 *       --peers 1=7001,2=7002,3=7003 [--fsync real|none|sleep:MS] [--verbose]
 *
 * Prints `ready <port>` on stdout once it listens and the node runs. Stops cleanly on
 * SIGTERM/SIGINT or when its stdin closes (the parent went away); SIGKILL is the crash the
 * benchmark measures. The data dir holds `wal/` and `snap/`; a restart with the same dir
 * recovers from it.
 *
 * `--fsync` is a diagnostic for a noisy or shared disk: `none` skips fdatasync (NOT
 * durable: it shows what the CPU and network path alone cost), `sleep:MS` blocks the thread
 * for MS milliseconds instead of syncing (a disk with a fixed, known flush latency, for
 * comparing driver changes). The default, `real`, is the benchmark.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Handlers, RpcError, RpcServer, type Logger } from '@trellis/rpc';
import {
  NodeDisk,
  RaftNode,
  RpcRaftTransport,
  isRaftError,
  NotLeaderError,
  type Disk,
  type Entry,
  type NodeId,
  type SnapshotMetadata,
  type StateMachine,
} from '@trellis/raft';
import { COMMAND_BYTES, KEY_BYTES, METHOD, VALUE_BYTES, type MemberStatus } from './protocol.js';

const { values } = parseArgs({
  options: {
    id: { type: 'string' },
    port: { type: 'string' },
    dir: { type: 'string' },
    peers: { type: 'string' },
    fsync: { type: 'string', default: 'real' },
    verbose: { type: 'boolean', default: false },
  },
  strict: true,
});

function die(msg: string): never {
  process.stderr.write(`member: ${msg}\n`);
  process.exit(2);
}

const id = Number(values.id);
const port = Number(values.port);
const dir = values.dir ?? die('--dir is required');
if (!Number.isSafeInteger(id) || id <= 0) die('--id must be a positive integer');
if (!Number.isSafeInteger(port) || port <= 0 || port > 65535) die('--port must be a port');
const peers = new Map<NodeId, number>();
for (const p of (values.peers ?? die('--peers is required')).split(',')) {
  const [pid, pport] = p.split('=').map(Number);
  if (!Number.isSafeInteger(pid) || !Number.isSafeInteger(pport)) die(`bad --peers item ${p}`);
  peers.set(pid!, pport!);
}
if (peers.get(id) !== port) die('--peers must list this member with its --port');
const fsyncMode = values.fsync;
const fsyncSleepMs = fsyncMode.startsWith('sleep:') ? Number(fsyncMode.slice(6)) : 0;
if (
  fsyncMode !== 'real' &&
  fsyncMode !== 'none' &&
  !(fsyncMode.startsWith('sleep:') && fsyncSleepMs >= 0 && fsyncSleepMs <= 1000)
)
  die('--fsync: real, none or sleep:MS (0–1000)');
const sleepCell = new Int32Array(new SharedArrayBuffer(4));
/** Stands in for fdatasync: blocks the thread like a synchronous flush would. */
function flush(real: () => void): void {
  if (fsyncMode === 'real') real();
  else if (fsyncSleepMs > 0) Atomics.wait(sleepCell, 0, 0, fsyncSleepMs);
}

const logger: Logger = {
  debug: () => undefined,
  info: (o, m) => {
    if (values.verbose) process.stderr.write(`[n${id}] info ${m ?? ''} ${JSON.stringify(o)}\n`);
  },
  warn: (o, m) => process.stderr.write(`[n${id}] warn ${m ?? ''} ${JSON.stringify(o)}\n`),
  error: (o, m) => process.stderr.write(`[n${id}] error ${m ?? ''} ${JSON.stringify(o)}\n`),
};

/** NodeDisk with counters: how many fsyncs the log issues and how long they block. */
class CountingDisk implements Disk {
  readonly inner = new NodeDisk();
  fsyncs = 0;
  fsyncNs = 0n;
  appends = 0;
  appendBytes = 0;
  create(path: string): void {
    this.inner.create(path);
  }
  open(path: string): void {
    this.inner.open(path);
  }
  writeFile(path: string, bytes: Uint8Array): void {
    this.inner.writeFile(path, bytes);
  }
  append(path: string, bytes: Uint8Array): void {
    this.appends++;
    this.appendBytes += bytes.length;
    this.inner.append(path, bytes);
  }
  read(path: string): Uint8Array {
    return this.inner.read(path);
  }
  size(path: string): number {
    return this.inner.size(path);
  }
  truncate(path: string, length: number): void {
    this.inner.truncate(path, length);
  }
  fsync(path: string): void {
    const t = process.hrtime.bigint();
    flush(() => this.inner.fsync(path));
    this.fsyncNs += process.hrtime.bigint() - t;
    this.fsyncs++;
  }
  fsyncDir(d: string): void {
    const t = process.hrtime.bigint();
    flush(() => this.inner.fsyncDir(d));
    this.fsyncNs += process.hrtime.bigint() - t;
    this.fsyncs++;
  }
  rename(from: string, to: string): void {
    this.inner.rename(from, to);
  }
  unlink(path: string): void {
    this.inner.unlink(path);
  }
  exists(path: string): boolean {
    return this.inner.exists(path);
  }
  list(d: string): string[] {
    return this.inner.list(d);
  }
}

/** key (8 bytes, latin1) → value (256 bytes). Snapshots are fixed 264-byte records. */
class KvMachine implements StateMachine {
  data = new Map<string, Buffer>();
  apply(entry: Entry): unknown {
    if (entry.data.length !== COMMAND_BYTES) return false;
    const d = Buffer.from(entry.data.buffer, entry.data.byteOffset, entry.data.length);
    this.data.set(d.toString('latin1', 0, KEY_BYTES), Buffer.from(d.subarray(KEY_BYTES)));
    return true;
  }
  snapshot(): Uint8Array {
    const out = Buffer.allocUnsafe(this.data.size * COMMAND_BYTES);
    let off = 0;
    for (const [k, v] of this.data) {
      off += out.write(k, off, KEY_BYTES, 'latin1');
      off += v.copy(out, off);
    }
    return out;
  }
  restore(data: Uint8Array, _meta: SnapshotMetadata): void {
    const b = Buffer.from(data.buffer, data.byteOffset, data.length);
    if (b.length % COMMAND_BYTES !== 0) throw new Error('bench snapshot: bad length');
    this.data = new Map();
    for (let off = 0; off < b.length; off += COMMAND_BYTES) {
      this.data.set(
        b.toString('latin1', off, off + KEY_BYTES),
        Buffer.from(b.subarray(off + KEY_BYTES, off + COMMAND_BYTES)),
      );
    }
  }
  digest(): string {
    const h = createHash('sha256');
    for (const k of [...this.data.keys()].sort()) {
      h.update(Buffer.from(k, 'latin1'));
      h.update(this.data.get(k)!);
    }
    return h.digest('hex');
  }
}

function toRpcError(e: unknown): RpcError {
  if (e instanceof NotLeaderError)
    return new RpcError('ERR_NOT_LEADER', e.message, { leader: e.leaderHint });
  if (isRaftError(e)) return new RpcError(e.code, e.message);
  if (e instanceof RpcError) return e;
  return new RpcError('ERR_MEMBER', e instanceof Error ? e.message : String(e));
}

const handlers = new Handlers();
const server = await RpcServer.listen({ handlers, host: '127.0.0.1', port, logger });
const transport = new RpcRaftTransport({ self: id, handlers, logger });
for (const [pid, pport] of peers)
  if (pid !== id) transport.setPeer(pid, `ws://127.0.0.1:${pport}/trellis/rpc`);
const disk = new CountingDisk();
const sm = new KvMachine();
const openStart = performance.now();
const node = new RaftNode({
  id,
  dataDir: dir,
  disk,
  transport,
  stateMachine: sm,
  logger,
  bootstrap: { voters: [...peers.keys()].sort((a, b) => a - b), learners: [] },
});
const startup = {
  /** Opening the node: snapshot load, WAL replay, state machine restore. */
  raftOpenMs: performance.now() - openStart,
  /** Process start → ready (node start-up and module loading included). */
  readyMs: 0,
  recoveredLastIndex: node.lastIndex,
};

handlers.request(METHOD.propose, async (body) => {
  if (!(body instanceof Uint8Array) || body.length !== COMMAND_BYTES)
    throw new RpcError('ERR_BAD_REQUEST', `a command is ${COMMAND_BYTES} bytes`);
  try {
    const r = await node.propose(body);
    return { index: r.index };
  } catch (e) {
    throw toRpcError(e);
  }
});

handlers.request(METHOD.status, (): MemberStatus => {
  const st = node.status();
  const elu = performance.eventLoopUtilization();
  const mem = process.memoryUsage();
  return {
    id,
    pid: process.pid,
    leader: node.leader,
    isLeader: node.isLeader,
    term: st.hardState.term,
    commit: st.hardState.commit,
    applied: node.appliedIndex,
    lastIndex: node.lastIndex,
    keys: sm.data.size,
    raft: { ...node.stats },
    transport: { ...transport.stats },
    disk: {
      fsyncs: disk.fsyncs,
      fsyncMs: Number(disk.fsyncNs) / 1e6,
      appends: disk.appends,
      appendBytes: disk.appendBytes,
    },
    cpu: process.cpuUsage(),
    elu: { idle: elu.idle, active: elu.active },
    rssBytes: mem.rss,
    nowMs: performance.now(),
    startup,
  };
});

handlers.request(METHOD.get, async (body) => {
  const keys = (body as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length > 10_000)
    throw new RpcError('ERR_BAD_REQUEST', 'keys: a list of at most 10,000 keys');
  let index: number;
  try {
    index = await node.readBarrier();
  } catch (e) {
    throw toRpcError(e);
  }
  const out = keys.map((k: unknown) => {
    if (!(k instanceof Uint8Array) || k.length !== KEY_BYTES) return null;
    const v = sm.data.get(Buffer.from(k.buffer, k.byteOffset, k.length).toString('latin1'));
    return v && v.length === VALUE_BYTES ? v : null;
  });
  return { index, values: out };
});

handlers.request(METHOD.digest, () => ({
  applied: node.appliedIndex,
  count: sm.data.size,
  digest: sm.digest(),
}));

node.start();
startup.readyMs = performance.now();
process.stdout.write(`ready ${server.address().port}\n`);

let stopping = false;
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  const force = setTimeout(() => process.exit(code === 0 ? 1 : code), 3000);
  force.unref();
  try {
    await node.close();
    await server.close();
    disk.inner.close();
  } finally {
    clearTimeout(force);
    process.exit(code);
  }
}
process.on('SIGTERM', () => void stop(0));
process.on('SIGINT', () => void stop(0));
// The parent holds our stdin open; its end means the benchmark is gone.
process.stdin.on('end', () => void stop(0));
process.stdin.on('error', () => void stop(0));
process.stdin.resume();
