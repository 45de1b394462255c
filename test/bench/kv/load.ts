/**
 * Load shapes of the KV benchmark, identical for both systems: closed-loop clients against
 * one member, and leader failover rounds measured by concurrent probe writers.
 */
import { performance } from 'node:perf_hooks';
import { Samples, median, percentile, round } from '../raft/stats.js';
import { errorCode } from './http.js';
import { sleep, type KvSystem } from './system.js';

/** Pause after a failed request before the client's next one (keeps an error from spinning). */
const ERROR_PAUSE_MS = 5;

export interface LoadResult {
  clients: number;
  ops: number;
  seconds: number;
  opsPerSec: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  errors: Record<string, number>;
  /** CPU of this (load generator) process over the window, % of one core. */
  benchCpuPct: number;
}

/**
 * `clients` concurrent loops, each awaiting `op(client, seq)` then issuing the next, for
 * `warmupMs + durationMs`; operations completing inside the measured window count.
 */
export async function closedLoop(
  clients: number,
  warmupMs: number,
  durationMs: number,
  op: (client: number, seq: number) => Promise<void>,
): Promise<LoadResult> {
  const samples = new Samples();
  const errors: Record<string, number> = {};
  const t0 = performance.now();
  const windowStart = t0 + warmupMs;
  const windowEnd = windowStart + durationMs;
  let cpuBefore: NodeJS.CpuUsage | undefined;
  let cpuAfter: NodeJS.CpuUsage | undefined;
  const sampler = (async () => {
    await sleep(windowStart - performance.now());
    cpuBefore = process.cpuUsage();
    await sleep(windowEnd - performance.now());
    cpuAfter = process.cpuUsage(cpuBefore);
  })();
  const loops = Array.from({ length: clients }, async (_, c) => {
    for (let seq = 0; seq < 100_000_000 && performance.now() < windowEnd; seq++) {
      const start = performance.now();
      try {
        await op(c, seq);
      } catch (e) {
        const code = errorCode(e);
        errors[code] = (errors[code] ?? 0) + 1;
        await sleep(ERROR_PAUSE_MS);
        continue;
      }
      const end = performance.now();
      if (end >= windowStart && end <= windowEnd) samples.push(end - start);
    }
  });
  await Promise.all([...loops, sampler]);
  const sorted = samples.sorted();
  const seconds = durationMs / 1000;
  const cpu = cpuAfter ? (cpuAfter.user + cpuAfter.system) / 1000 : NaN;
  return {
    clients,
    ops: samples.count,
    seconds,
    opsPerSec: round(samples.count / seconds, 0),
    latencyMs: {
      p50: round(percentile(sorted, 0.5), 3),
      p90: round(percentile(sorted, 0.9), 3),
      p99: round(percentile(sorted, 0.99), 3),
      max: round(percentile(sorted, 1), 3),
    },
    errors,
    benchCpuPct: round((100 * cpu) / durationMs, 1),
  };
}

export interface FailoverRound {
  round: number;
  killed: number;
  /** SIGKILL → the first acknowledged put sent after it. */
  toWriteMs: number;
  /** Probe puts that failed (connection refused, timeouts, no-leader errors). */
  failedAttempts: number;
  /** Restart of the killed member → every member healthy and caught up. */
  recoveryMs: number;
}

/** A new probe put is sent this often after a kill until one is acknowledged. */
const PROBE_EVERY_MS = 10;
/** Probe puts outstanding at once (older ones keep waiting; none is abandoned early). */
const PROBE_MAX_IN_FLIGHT = 200;
/** Bound of one probe put: longer than any election, far below the round's bound. */
const PROBE_TIMEOUT_MS = 5000;
const FAILOVER_TIMEOUT_MS = 15_000;
const HEALTHY_TIMEOUT_MS = 60_000;

/**
 * One round: wait until all members are healthy, check a write goes through, SIGKILL the
 * leader's process, then send a put every `PROBE_EVERY_MS` through the surviving members in
 * turn (each waits up to `PROBE_TIMEOUT_MS`) until one is acknowledged: the time from the
 * kill to that acknowledgement is what a client that keeps trying sees, resolved to the
 * probe interval whether the system fails requests fast or holds them through the
 * election. Then the killed member is restarted on its data dir and the round waits for
 * health.
 */
export async function failoverRound(
  sys: KvSystem,
  roundNo: number,
  value: Buffer,
): Promise<FailoverRound> {
  await sys.waitHealthy(HEALTHY_TIMEOUT_MS);
  const leader = await sys.leader(10_000);
  const key = `f${String(roundNo).padStart(7, '0')}`;
  await sys.put(leader, key, value, 5000);
  const survivors = Array.from({ length: sys.size }, (_, i) => i).filter((i) => i !== leader);
  const killed = sys.kill(leader);
  const deadline = killed.at + FAILOVER_TIMEOUT_MS;
  let ackAt = NaN;
  let failed = 0;
  let inFlight = 0;
  const probes: Promise<void>[] = [];
  for (let a = 0; a < 100_000 && Number.isNaN(ackAt) && performance.now() < deadline; a++) {
    if (inFlight < PROBE_MAX_IN_FLIGHT) {
      const m = survivors[a % survivors.length]!;
      inFlight++;
      probes.push(
        sys
          .put(m, key, value, Math.min(PROBE_TIMEOUT_MS, Math.max(1, deadline - performance.now())))
          .then(
            () => {
              if (Number.isNaN(ackAt)) ackAt = performance.now();
            },
            () => {
              failed++;
            },
          )
          .finally(() => inFlight--),
      );
    }
    await sleep(PROBE_EVERY_MS);
  }
  await Promise.all(probes);
  await killed.exited;
  if (Number.isNaN(ackAt)) {
    throw new Error(
      `${sys.name} failover round ${roundNo}: no write acknowledged within ${FAILOVER_TIMEOUT_MS} ms of the kill`,
    );
  }
  const r0 = performance.now();
  await sys.restart(leader);
  await sys.waitHealthy(HEALTHY_TIMEOUT_MS);
  return {
    round: roundNo,
    killed: leader,
    toWriteMs: round(ackAt - killed.at, 1),
    failedAttempts: failed,
    recoveryMs: round(performance.now() - r0, 0),
  };
}

export function failoverMedian(rounds: readonly FailoverRound[]): number {
  return round(median(rounds.map((r) => r.toWriteMs)), 1);
}
