/**
 * Test fixtures for the HTTP layer: {@link DirectBackend}, a Backend over a real StateStore that
 * applies each command at once at the next index (no Raft, no gossip), with knobs for the
 * conditions the HTTP layer must map (no leader, unhealthy autopilot, …); and a raw HTTP client
 * that shows status, headers and bytes exactly as sent.
 */
import { randomUUID } from 'node:crypto';
import { Waiters } from '../../src/waiters.js';
import { request } from 'node:http';
import { StateStore, MessageType, type Command, type Session } from '@trellis/state';
import {
  BackendError,
  startHttpApi,
  type AgentSelfInfo,
  type ApplyOutcome,
  type AutopilotHealthInfo,
  type Backend,
  type FireEventRequest,
  type HttpApiOptions,
  type MemberInfo,
  type RaftConfigurationInfo,
  type ReadMeta,
  type ReadMode,
  type RunningHttpApi,
  type UserEventInfo,
} from '../../src/http/index.js';

/** Runs `fn` as a promise: a throw becomes a rejection (what an async backend does). */
function settle<T>(fn: () => T): Promise<T> {
  return new Promise<T>((resolve) => resolve(fn()));
}

const member: MemberInfo = {
  Name: 'node1',
  Addr: '127.0.0.1',
  Port: 8301,
  Tags: { role: 'consul', dc: 'dc1', port: '8300' },
  Status: 1,
  ProtocolMin: 1,
  ProtocolMax: 5,
  ProtocolCur: 2,
  DelegateMin: 2,
  DelegateMax: 5,
  DelegateCur: 4,
};

export class DirectBackend implements Backend {
  readonly store = new StateStore();
  readonly datacenter = 'dc1';
  readonly nodeName = 'node1';
  readonly isServer = true;
  meta: ReadMeta = { knownLeader: true, lastContactMs: 0 };
  leader = '127.0.0.1:8300';
  /** When set, readBarrier/apply/operator calls reject with it. */
  fail: BackendError | undefined;
  healthy = true;
  readonly barriers: ReadMode[] = [];
  readonly calls: string[] = [];

  readBarrier(mode: ReadMode, signal?: AbortSignal): Promise<ReadMeta> {
    return settle(() => {
      this.barriers.push(mode);
      signal?.throwIfAborted();
      if (this.fail !== undefined && mode !== 'stale') throw this.fail;
      return this.meta;
    });
  }

  apply(cmd: Command): Promise<ApplyOutcome> {
    return settle(() => {
      if (this.fail !== undefined) throw this.fail;
      const index = this.store.lastIndex + 1;
      const r = this.store.applyCommand(index, cmd);
      if (!r.ok) throw r.error;
      return { index, value: r.value };
    });
  }

  leaderAddress(): string {
    return this.leader;
  }
  peerAddresses(): string[] {
    return ['127.0.0.1:8300'];
  }
  members(): MemberInfo[] {
    return [member];
  }
  self(): AgentSelfInfo {
    return {
      Config: {
        Datacenter: 'dc1',
        PrimaryDatacenter: 'dc1',
        NodeName: 'node1',
        NodeID: '6d1e33c5-c18b-8a5a-cbf2-c2314031cc25',
        Revision: 'test',
        Server: true,
        Version: '1.22.0',
      },
      DebugConfig: {},
      Coord: null,
      Member: member,
      Stats: { raft: { state: 'Leader' } },
      Meta: {},
    };
  }
  raftConfiguration(): Promise<RaftConfigurationInfo> {
    return settle(() => {
      if (this.fail !== undefined) throw this.fail;
      return {
        Servers: [
          {
            ID: 'id-1',
            Node: 'node1',
            Address: '127.0.0.1:8300',
            Leader: true,
            Voter: true,
            ProtocolVersion: '3',
            LastIndex: this.store.lastIndex,
          },
        ],
        Index: 1,
      };
    });
  }
  removeRaftPeer(by: { id?: string; address?: string }): Promise<void> {
    return settle(() => {
      if (this.fail !== undefined) throw this.fail;
      if (by.id === 'missing')
        throw new BackendError(
          'BAD_REQUEST',
          'id "missing" was not found in the Raft configuration',
        );
      this.calls.push(`remove ${JSON.stringify(by)}`);
    });
  }
  transferLeader(id?: string): Promise<void> {
    return settle(() => {
      if (this.fail !== undefined) throw this.fail;
      this.calls.push(`transfer ${id ?? '(any)'}`);
    });
  }
  autopilotHealth(): Promise<AutopilotHealthInfo> {
    return settle(() => {
      return {
        Healthy: this.healthy,
        FailureTolerance: 0,
        Servers: [
          {
            ID: 'id-1',
            Name: 'node1',
            Address: '127.0.0.1:8300',
            SerfStatus: 'alive',
            Version: '1.22.0',
            Leader: true,
            LastContact: '0s',
            LastTerm: 2,
            LastIndex: 10,
            Healthy: this.healthy,
            Voter: true,
            StableSince: '2024-01-01T00:00:00Z',
          },
        ],
      };
    });
  }
  snapshotSave(): Promise<{ index: number; archive: Uint8Array }> {
    return settle(() => {
      if (this.fail !== undefined) throw this.fail;
      return { index: this.store.lastIndex, archive: this.store.snapshot() };
    });
  }
  snapshotRestore(archive: Uint8Array): Promise<void> {
    return settle(() => {
      try {
        this.store.restore(archive);
      } catch (e) {
        throw new BackendError('BAD_REQUEST', e instanceof Error ? e.message : String(e));
      }
    });
  }
  leave(): Promise<void> {
    return settle(() => {
      this.calls.push('leave');
    });
  }

  /** Sessions renewed (the leader's timers are the server's business, not the HTTP layer's). */
  readonly renewed: string[] = [];
  renewSession(id: string): Promise<Session | undefined> {
    return settle(() => {
      if (this.fail !== undefined) throw this.fail;
      this.renewed.push(id);
      return this.store.session(id).value;
    });
  }

  /** Events "gossiped": delivered to this agent's own buffer at once, in order. */
  readonly eventLog: UserEventInfo[] = [];
  readonly #eventWaiters = new Waiters();
  fireEvent(req: FireEventRequest): Promise<UserEventInfo> {
    return settle(() => {
      if (this.fail !== undefined) throw this.fail;
      const ev: UserEventInfo = {
        ID: randomUUID(),
        Name: req.name,
        Payload: req.payload.length === 0 ? null : req.payload,
        NodeFilter: req.nodeFilter,
        ServiceFilter: req.serviceFilter,
        TagFilter: req.tagFilter,
        Version: 1,
        LTime: this.eventLog.length + 1,
      };
      this.eventLog.push(ev);
      this.#eventWaiters.wake();
      return ev;
    });
  }
  events(): readonly UserEventInfo[] {
    return this.eventLog;
  }
  waitEvent(signal: AbortSignal): Promise<boolean> {
    return this.#eventWaiters.wait(signal);
  }

  /** Writes a KV entry directly (test setup). */
  put(key: string, value: string, flags = 0): number {
    const index = this.store.lastIndex + 1;
    const r = this.store.applyCommand(index, {
      type: MessageType.KVS,
      now: Date.now(),
      body: {
        Op: 'set',
        DirEnt: { Key: key, Flags: flags, Value: new TextEncoder().encode(value) },
      },
    });
    if (!r.ok) throw r.error;
    return index;
  }
}

export interface Server {
  readonly backend: DirectBackend;
  readonly api: RunningHttpApi;
  call(method: string, path: string, opts?: CallOptions): Promise<Res>;
}

export interface CallOptions {
  readonly body?: Uint8Array | string;
  readonly headers?: Record<string, string>;
  /** Aborts the request (the test then checks the server cleaned up). */
  readonly signal?: AbortSignal;
}

export interface Res {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  readonly text: string;
  json(): unknown;
}

/** Starts the API over a fresh DirectBackend on 127.0.0.1, port 0; closed when `t` ends. */
export async function serve(
  teardown: (fn: () => Promise<void>) => void,
  opts: HttpApiOptions = {},
  backend = new DirectBackend(),
): Promise<Server> {
  const api = await startHttpApi(backend, { host: '127.0.0.1', port: 0, ...opts });
  teardown(() => api.close());
  return {
    backend,
    api,
    call: (method, path, o = {}) => call(api.port, method, path, o),
  };
}

export function call(
  port: number,
  method: string,
  path: string,
  o: CallOptions = {},
): Promise<Res> {
  return new Promise((resolve, reject) => {
    // Node frames a GET/DELETE/HEAD body only with an explicit Content-Length.
    const headers: Record<string, string> = { ...o.headers };
    if (o.body !== undefined) headers['content-length'] = String(Buffer.byteLength(o.body));
    const req = request(
      { host: '127.0.0.1', port, method, path, headers, signal: o.signal, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          const text = body.toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            text,
            json: () => JSON.parse(text) as unknown,
          });
        });
      },
    );
    req.on('error', reject);
    if (o.body !== undefined) req.write(o.body);
    req.end();
  });
}

/** Polls `cond` every 5 ms until true (or fails after `ms`): waits for conditions, not time. */
export async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}
