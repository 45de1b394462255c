/** Small numeric helpers for the Raft benchmark. */
import type { MemberStatus } from './protocol.js';

/** A growable list of latencies in milliseconds. */
export class Samples {
  #a = new Float64Array(1 << 14);
  #n = 0;
  push(v: number): void {
    if (this.#n === this.#a.length) {
      const b = new Float64Array(this.#a.length * 2);
      b.set(this.#a);
      this.#a = b;
    }
    this.#a[this.#n++] = v;
  }
  get count(): number {
    return this.#n;
  }
  /** Sorted copy. */
  sorted(): Float64Array {
    return this.#a.slice(0, this.#n).sort();
  }
}

/** Nearest-rank percentile of sorted values (q in [0, 1]); NaN when empty. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const h = s.length >> 1;
  return s.length % 2 === 1 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

export const round = (v: number, digits = 2): number => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};

/** What one member did between two status samples. */
export interface MemberDelta {
  id: number;
  wasLeader: boolean;
  seconds: number;
  applied: number;
  proposals: number;
  readies: number;
  /** fsyncs the driver counted (one per Ready that must sync). */
  raftFsyncs: number;
  /** fdatasync + directory fsync calls that reached the disk. */
  diskFsyncs: number;
  fsyncMs: number;
  appendBytes: number;
  msgsSent: number;
  msgsReceived: number;
  cpuMs: number;
  eluActiveMs: number;
  eluIdleMs: number;
}

export function delta(a: MemberStatus, b: MemberStatus): MemberDelta {
  return {
    id: b.id,
    wasLeader: a.isLeader && b.isLeader,
    seconds: (b.nowMs - a.nowMs) / 1000,
    applied: b.applied - a.applied,
    proposals: b.raft.proposals - a.raft.proposals,
    readies: b.raft.readies - a.raft.readies,
    raftFsyncs: b.raft.fsyncs - a.raft.fsyncs,
    diskFsyncs: b.disk.fsyncs - a.disk.fsyncs,
    fsyncMs: b.disk.fsyncMs - a.disk.fsyncMs,
    appendBytes: b.disk.appendBytes - a.disk.appendBytes,
    msgsSent: b.transport.sent - a.transport.sent,
    msgsReceived: b.transport.received - a.transport.received,
    cpuMs: (b.cpu.user + b.cpu.system - a.cpu.user - a.cpu.system) / 1000,
    eluActiveMs: b.elu.active - a.elu.active,
    eluIdleMs: b.elu.idle - a.elu.idle,
  };
}
