/** Test harness: a store fed through encoded commands at increasing Raft indexes. */
import {
  MessageType,
  StateStore,
  encodeCommand,
  type ApplyResult,
  type CommandValue,
  type DeregisterRequest,
  type DirEntryInput,
  type KVOp,
  type RegisterRequest,
  type SessionInput,
  type TxnOp,
  type TxnResponse,
} from '../src/index.js';

export class Harness {
  readonly store = new StateStore();
  /** The next command's Raft index is index + 1. */
  index = 0;
  /** The leader clock stamped on commands (ms). */
  now = 1_700_000_000_000;

  register(body: RegisterRequest): ApplyResult {
    return this.send({ type: MessageType.Register, now: this.now, body });
  }

  deregister(body: DeregisterRequest): ApplyResult {
    return this.send({ type: MessageType.Deregister, now: this.now, body });
  }

  kv(Op: KVOp, DirEnt: DirEntryInput): ApplyResult {
    return this.send({ type: MessageType.KVS, now: this.now, body: { Op, DirEnt } });
  }

  set(key: string, value: string, extra: Partial<DirEntryInput> = {}): ApplyResult {
    return this.kv('set', { Key: key, Value: Buffer.from(value), ...extra });
  }

  createSession(Session: SessionInput): ApplyResult {
    return this.send({ type: MessageType.Session, now: this.now, body: { Op: 'create', Session } });
  }

  destroySession(ID: string): ApplyResult {
    return this.send({
      type: MessageType.Session,
      now: this.now,
      body: { Op: 'destroy', Session: { ID } },
    });
  }

  reap(ReapIndex: number): ApplyResult {
    return this.send({
      type: MessageType.Tombstone,
      now: this.now,
      body: { Op: 'reap', ReapIndex },
    });
  }

  txn(Ops: TxnOp[]): TxnResponse {
    return ok(this.send({ type: MessageType.Txn, now: this.now, body: { Ops } })) as TxnResponse;
  }

  send(cmd: Parameters<typeof encodeCommand>[0]): ApplyResult {
    return this.store.apply(++this.index, encodeCommand(cmd));
  }

  /** A node with a passing serfHealth check, as an agent's first registration leaves it. */
  node(name: string, address = '10.0.0.1'): void {
    ok(
      this.register({
        Node: name,
        Address: address,
        Check: { CheckID: 'serfHealth', Name: 'Serf Health Status', Status: 'passing' },
      }),
    );
  }
}

/** The value of a successful result; throws (failing the test) otherwise. */
export function ok(r: ApplyResult): CommandValue {
  if (!r.ok) throw new Error(`expected ok, got ${r.error.code}: ${r.error.message}`);
  return r.value;
}

export function text(v: Uint8Array | null | undefined): string | undefined {
  return v === null || v === undefined ? undefined : Buffer.from(v).toString();
}
