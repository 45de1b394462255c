// A small key-value state machine for driver tests, simulations and the benchmark:
// commands are msgpack [op, key, value?, expected?].
import { Packr } from 'msgpackr';
import type { Entry, SnapshotMetadata, StateMachine } from '../src/index.js';

const packr = new Packr({ useRecords: false });

export type KvCommand =
  | { op: 'put'; key: string; value: string }
  | { op: 'delete'; key: string }
  | { op: 'cas'; key: string; expected: string | null; value: string };

export function encodeCommand(c: KvCommand): Uint8Array {
  return packr.pack(c);
}

export class KvStateMachine implements StateMachine {
  data = new Map<string, string>();
  appliedIndexes: number[] = [];

  apply(entry: Entry): unknown {
    this.appliedIndexes.push(entry.index);
    const c = packr.unpack(entry.data) as KvCommand;
    switch (c.op) {
      case 'put':
        this.data.set(c.key, c.value);
        return true;
      case 'delete':
        return this.data.delete(c.key);
      case 'cas': {
        const cur = this.data.get(c.key) ?? null;
        if (cur !== c.expected) return false;
        this.data.set(c.key, c.value);
        return true;
      }
    }
  }

  get(key: string): string | null {
    return this.data.get(key) ?? null;
  }

  snapshot(): Uint8Array {
    return packr.pack([...this.data.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  restore(data: Uint8Array, _meta: SnapshotMetadata): void {
    this.data = new Map(packr.unpack(data) as Array<[string, string]>);
  }
}
