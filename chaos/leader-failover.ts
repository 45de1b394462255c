/**
 * Chaos drill: leader failover under load, against real server processes.
 *
 *     node chaos/dist/leader-failover.js [--failovers 5] [--pause] [--pause-ms 3000]
 *       [--clients 6] [--keys 4] [--max-ops 20000] [--settle-ms 2000]
 *       [--timeout-ms 5000] [--failover-timeout-ms 20000] [--check-timeout-ms 60000]
 *       [--seed N] [--cli PATH] [--keep-dir] [--addrs 127.0.0.1:8500,127.0.0.1:8501,…]
 *
 * 1. Starts three `trellis agent -server` processes on loopback with the testkit launcher
 *    (or, with `--addrs`, uses the servers listening at those HTTP addresses on this
 *    machine: see ./leader-failover/target.ts for how their processes are found, signalled
 *    and restarted).
 * 2. `--clients` clients run Consul KV requests over HTTP keep-alive on `--keys` keys
 *    (put 35 %, delete 10 %, consistent get 15 %, consistent get + check-and-set 40 %),
 *    spread over all servers, every operation recorded in a history
 *    (./leader-failover/workload.ts says how answers map to ok / fail / info).
 * 3. `--failovers` times: after `--settle-ms` of load, SIGKILL the leader's process (by
 *    PID) — or with `--pause`, SIGSTOP it for `--pause-ms`, then SIGCONT — and measure the
 *    failover time: from the signal to the acknowledgement of the first write invoked after
 *    it (a client's put, delete or successful cas, or one of the probe puts sent every
 *    10 ms through the other servers, so the figure does not hinge on the clients'
 *    `--timeout-ms`). A killed server is restarted on its data dir;
 *    the round ends when all servers agree on a leader again.
 * 4. Stops the clients, reads every key once more (consistent, recorded), and checks that
 *    no acknowledged write was lost (./leader-failover/verify.ts) and that the whole
 *    history is linearizable (testkit's checker; unknown outcomes are `info`).
 *
 * Prints a line per round and a summary table. Exit status: 0 all good; 1 a write was
 * lost, the history is not linearizable, or a failover never completed; 3 the checker ran
 * out of its budget (no verdict); 4 the cluster could not be started or never recovered;
 * 2 bad arguments. Bounded: `--max-ops` operations, and a watchdog on the whole run.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { HistoryRecorder, checkLinearizability, kv, randomSeed } from '@trellis/testkit';
import type { Agent } from 'node:http';
import { RequestError, keepAliveAgent, send, type Endpoint } from './leader-failover/http.js';
import { ExistingTarget, LaunchedTarget, type Target } from './leader-failover/target.js';
import { verifyWrites, type WriteVerdicts } from './leader-failover/verify.js';
import { Workload, parseEntry } from './leader-failover/workload.js';

const { values } = parseArgs({
  options: {
    failovers: { type: 'string', default: '5' },
    pause: { type: 'boolean', default: false },
    'pause-ms': { type: 'string', default: '3000' },
    clients: { type: 'string', default: '6' },
    keys: { type: 'string', default: '4' },
    'max-ops': { type: 'string', default: '20000' },
    'settle-ms': { type: 'string', default: '2000' },
    'timeout-ms': { type: 'string', default: '5000' },
    'failover-timeout-ms': { type: 'string', default: '20000' },
    'check-timeout-ms': { type: 'string', default: '60000' },
    seed: { type: 'string' },
    cli: { type: 'string' },
    'keep-dir': { type: 'boolean', default: false },
    addrs: { type: 'string' },
  },
  strict: true,
});

function num(name: string, s: string, min: number, max: number): number {
  const v = Number(s);
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    console.error(`--${name}: an integer in [${min}, ${max}] expected, got ${s}`);
    process.exit(2);
  }
  return v;
}

const failovers = num('failovers', values.failovers, 0, 100);
const pauseMs = num('pause-ms', values['pause-ms'], 10, 600_000);
const clients = num('clients', values.clients, 1, 256);
const keyCount = num('keys', values.keys, 1, 1000);
const maxOps = num('max-ops', values['max-ops'], 1, 1_000_000);
const settleMs = num('settle-ms', values['settle-ms'], 0, 600_000);
const timeoutMs = num('timeout-ms', values['timeout-ms'], 10, 600_000);
const failoverTimeoutMs = num('failover-timeout-ms', values['failover-timeout-ms'], 100, 600_000);
const checkTimeoutMs = num('check-timeout-ms', values['check-timeout-ms'], 100, 3_600_000);
const seed = values.seed === undefined ? randomSeed() : num('seed', values.seed, 0, 2 ** 32 - 1);
const addrs = values.addrs?.split(',').filter((a) => a !== '');
if (addrs && addrs.length < 3) {
  console.error('--addrs: at least three HTTP addresses (host:port) expected');
  process.exit(2);
}
/** chaos/dist/leader-failover.js → cmd/trellis/bin/trellis.js */
const CLI =
  values.cli ?? fileURLToPath(new URL('../../cmd/trellis/bin/trellis.js', import.meta.url));
const KEYS = Array.from({ length: keyCount }, (_, i) => `chaos/k${i}`);
const RECOVERY_TIMEOUT_MS = 60_000;
const FINAL_READ_ATTEMPTS = 10;
/** The failover probe writes here (also read back and checked at the end). */
const PROBE_KEY = 'chaos/probe';
const PROBE_EVERY_MS = 10;
const PROBE_MAX_IN_FLIGHT = 200;
/** History process ids of probes (clients use 0…clients-1, final reads the ones after). */
let nextProbeProcess = 1_000_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

interface Round {
  round: number;
  fault: 'SIGKILL' | 'SIGSTOP';
  server: string;
  /** Signal → first acknowledged write invoked after it; NaN if none within the bound. */
  failoverMs: number;
  newLeader: string;
  /** Signal → all servers agree on a leader again (after the restart or SIGCONT). */
  recoveredMs: number;
}

/** Resolves waiters with the ack time of the first client write invoked at or after `since`. */
class WriteWatch {
  #waiters: Array<{ since: number; resolve: (ackAt: number) => void }> = [];
  readonly onAck = (invokeAt: number, ackAt: number): void => {
    this.#waiters = this.#waiters.filter((w) => {
      if (invokeAt < w.since) return true;
      w.resolve(ackAt);
      return false;
    });
  };
  /** The ack time, or NaN once `cancel` is called first. */
  next(since: number): { acked: Promise<number>; cancel: () => void } {
    let done: (ackAt: number) => void = () => {};
    const acked = new Promise<number>((resolve) => (done = resolve));
    this.#waiters.push({ since, resolve: done });
    return {
      acked,
      cancel: () => {
        this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
        done(NaN);
      },
    };
  }
}

/**
 * After a fault, sends a put of a fresh value to `PROBE_KEY` every `PROBE_EVERY_MS` through
 * the other servers in turn (each its own history process, each waiting up to the request
 * timeout) until one is acknowledged or `deadline` passes; returns the first ack time
 * (NaN if none). So the failover time does not depend on the clients' request timeout:
 * whether a server fails requests fast or holds them through the election, a probe sent
 * right after the new leader is ready answers right away.
 */
async function probeWrites(
  history: HistoryRecorder,
  agent: Agent,
  servers: readonly Endpoint[],
  deadline: number,
): Promise<number> {
  let ackAt = NaN;
  let inFlight = 0;
  const probes: Promise<void>[] = [];
  for (let a = 0; a < 100_000 && Number.isNaN(ackAt) && performance.now() < deadline; a++) {
    if (inFlight < PROBE_MAX_IN_FLIGHT) {
      const proc = nextProbeProcess++;
      const value = `probe-${proc}`;
      const h = history.invoke(proc, kv.put(PROBE_KEY, value));
      inFlight++;
      probes.push(
        send(agent, servers[a % servers.length]!, 'PUT', `/v1/kv/${PROBE_KEY}`, value, timeoutMs)
          .then(
            (r) => {
              if (r.status === 200 && r.body.trim() === 'true') {
                h.ok();
                if (Number.isNaN(ackAt)) ackAt = performance.now();
              } else if (r.status >= 400 && r.status < 500) h.fail();
              else h.info();
            },
            (e: unknown) => {
              if (e instanceof RequestError && !e.sent) h.fail();
              else h.info();
            },
          )
          .finally(() => inFlight--),
      );
    }
    await sleep(PROBE_EVERY_MS);
  }
  await Promise.all(probes);
  return ackAt;
}

const median = (xs: readonly number[]): number => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const h = s.length >> 1;
  return s.length % 2 === 1 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
};
const ms = (v: number) => (Number.isFinite(v) ? `${Math.round(v)} ms` : 'none');

async function main(): Promise<number> {
  const mode = values.pause ? 'SIGSTOP' : 'SIGKILL';
  console.log(
    `leader-failover: ${failovers} × ${mode}${values.pause ? ` for ${pauseMs} ms` : ''} of the leader; ` +
      `${clients} clients on ${keyCount} keys, at most ${maxOps} operations; seed ${seed}`,
  );
  let target: Target;
  let label: (i: number) => string;
  try {
    if (addrs) {
      const t = new ExistingTarget(addrs, mkdtempSync(join(tmpdir(), 'trellis-chaos-')));
      const unseen = t.unseen();
      if (unseen.length > 0) {
        console.error(
          `--addrs: no process found listening on ${unseen.join(', ')} (same machine required)`,
        );
        return 2;
      }
      target = t;
      label = (i) => `${t.servers[i]!.host}:${t.servers[i]!.port}`;
    } else {
      const t = await LaunchedTarget.start(CLI, values['keep-dir']);
      target = t;
      label = (i) => t.cluster.agents[i]!.name;
      console.log(`cluster up; data and logs in ${t.cluster.dir}`);
    }
    await target.leader(30_000, true);
  } catch (e) {
    console.error(
      `leader-failover: the cluster did not come up: ${e instanceof Error ? e.message : String(e)}`,
    );
    return 4;
  }
  let stopping = false;
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    console.error('interrupted; stopping');
    void target.close().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const history = new HistoryRecorder({ now: () => performance.now() });
  const agent = keepAliveAgent();
  const watch = new WriteWatch();
  const workload = new Workload(
    { clients, keys: KEYS, timeoutMs, maxOps, seed },
    target.servers,
    agent,
    history,
    watch.onAck,
  );
  const rounds: Round[] = [];
  let recoveryFailure: string | undefined;
  workload.start();
  try {
    for (let r = 0; r < failovers && !workload.done; r++) {
      await sleep(settleMs);
      const leader = await target.leader(RECOVERY_TIMEOUT_MS, true);
      let at: number;
      if (values.pause) at = target.pause(leader);
      else at = await target.kill(leader);
      const others = target.servers.filter((_, i) => i !== leader);
      const clientAck = watch.next(at);
      const probeAck = await probeWrites(history, agent, others, at + failoverTimeoutMs);
      clientAck.cancel();
      const acks = [probeAck, await clientAck.acked].filter((v) => Number.isFinite(v));
      const ackAt = acks.length > 0 ? Math.min(...acks) : NaN;
      let newLeader = '?';
      if (values.pause) {
        await sleep(at + pauseMs - performance.now());
        target.resume(leader);
      } else {
        newLeader = label(await target.leader(RECOVERY_TIMEOUT_MS).catch(() => -1));
        await target.restart(leader);
      }
      const after = await target.leader(RECOVERY_TIMEOUT_MS, true);
      if (values.pause) newLeader = label(after);
      const round: Round = {
        round: r + 1,
        fault: mode,
        server: label(leader),
        failoverMs: ackAt - at,
        newLeader,
        recoveredMs: performance.now() - at,
      };
      rounds.push(round);
      console.log(
        `round ${round.round}: ${mode} ${round.server} → first acknowledged write after ` +
          `${ms(round.failoverMs)}; leader ${round.newLeader}; all servers agree again after ${ms(round.recoveredMs)}`,
      );
    }
    await sleep(settleMs);
  } catch (e) {
    recoveryFailure = e instanceof Error ? e.message : String(e);
    console.error(`leader-failover: ${recoveryFailure}\n${target.describe()}`);
  }
  await workload.stop();

  // Final reads, recorded in the history: what every acknowledged write is checked against.
  const finals = new Map<string, string | null>();
  let proc = clients;
  try {
    const leader = await target.leader(RECOVERY_TIMEOUT_MS, true);
    for (const key of [...KEYS, PROBE_KEY]) {
      for (let a = 0; a < FINAL_READ_ATTEMPTS && !finals.has(key); a++) {
        const h = history.invoke(proc++, kv.get(key));
        try {
          const r = await send(
            agent,
            target.servers[leader]!,
            'GET',
            `/v1/kv/${encodeURIComponent(key)}?consistent`,
            undefined,
            timeoutMs,
          );
          const e = r.status === 200 || r.status === 404 ? parseEntry(r) : undefined;
          if (e) {
            h.ok(e.value);
            finals.set(key, e.value);
          } else h.info();
        } catch {
          h.info();
        }
      }
    }
  } catch (e) {
    recoveryFailure ??= e instanceof Error ? e.message : String(e);
  }
  agent.destroy();
  await target.close();

  const verdicts: WriteVerdicts = verifyWrites(history.events, finals);
  const t0 = performance.now();
  const lin = checkLinearizability(history.events, { timeoutMs: checkTimeoutMs });
  const checkMs = performance.now() - t0;

  // --- summary ---------------------------------------------------------------------------
  const c = workload.counters;
  console.log(
    '\nround  fault    server                failover    new leader            recovered',
  );
  for (const r of rounds) {
    console.log(
      `${String(r.round).padStart(5)}  ${r.fault.padEnd(7)}  ${r.server.padEnd(20)}  ${ms(r.failoverMs).padStart(9)}   ` +
        `${r.newLeader.padEnd(20)}  ${ms(r.recoveredMs).padStart(9)}`,
    );
  }
  const fo = rounds.map((r) => r.failoverMs);
  const missing = fo.filter((v) => !Number.isFinite(v)).length;
  const rows: Array<[string, string]> = [
    [
      'failover (signal → next acked write)',
      `median ${ms(median(fo))}, max ${ms(Math.max(...fo.filter(Number.isFinite)))}` +
        (missing ? `, ${missing} rounds without a write within ${failoverTimeoutMs} ms` : ''),
    ],
    ['operations', `${c.ops} (ok ${c.ok}, fail ${c.fail}, unknown ${c.info})`],
    ['errors', Object.keys(c.byError).length > 0 ? JSON.stringify(c.byError) : 'none'],
    ['keys read back', `${finals.size} of ${KEYS.length + 1} (with the probe key)`],
    ['acknowledged writes', String(verdicts.acknowledged)],
    ['  found afterwards', String(verdicts.found)],
    ['  overwritten per history', String(verdicts.overwritten)],
    ['  LOST', String(verdicts.lost)],
    ['phantom values', String(verdicts.phantom)],
    [
      'linearizable',
      lin.outcome === 'ok'
        ? `yes (${lin.operations} operations, ${Math.round(checkMs)} ms)`
        : lin.outcome === 'violation'
          ? `NO (key ${lin.key})`
          : `unknown (checker budget of ${checkTimeoutMs} ms ran out)`,
    ],
  ];
  console.log('');
  for (const [k, v] of rows) console.log(`${k.padEnd(38)} ${v}`);
  for (const p of verdicts.problems) console.log(`  ${p}`);
  if (lin.outcome !== 'ok') console.log(lin.explanation);
  if (recoveryFailure) console.log(`recovery failure: ${recoveryFailure}`);
  if (target instanceof ExistingTarget) console.log(target.describe());

  if (verdicts.lost > 0 || verdicts.phantom > 0 || lin.outcome === 'violation' || missing > 0)
    return 1;
  if (recoveryFailure || finals.size < KEYS.length + 1) return 4;
  if (lin.outcome === 'unknown') return 3;
  return 0;
}

const budgetMs =
  120_000 +
  (failovers + 2) * settleMs +
  failovers * (failoverTimeoutMs + pauseMs + 3 * RECOVERY_TIMEOUT_MS) +
  checkTimeoutMs;
const watchdog = setTimeout(() => {
  console.error(`leader-failover: exceeded its ${budgetMs} ms budget; exiting`);
  process.exit(1);
}, budgetMs);
watchdog.unref();

process.exitCode = await main();
