/**
 * Parked blocking queries on one Trellis server: `n` concurrent
 * GET /v1/kv/<key>?index=<current>&wait=5m (each on its own connection, as Consul's
 * blocking queries are), then one PUT to the key; every query must return within 1 s of
 * the PUT being sent, with an X-Consul-Index past the one it waited on. The server's RSS
 * (VmRSS, and the peak VmHWM, from /proc/<pid>/status) is sampled before, while parked and
 * after.
 */
import { Agent, request, type ClientRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { TrellisAgent } from '@trellis/testkit';
import { Samples, percentile, round } from '../raft/stats.js';
import { keepAliveAgent, send } from './http.js';
import { sleep } from './system.js';

/** Queries being opened (connected, not yet flushed) at once: stays below the listen backlog. */
const OPEN_WINDOW = 256;
const OPEN_TIMEOUT_MS = 120_000;
/** Bound of the wait for RSS to settle once every query is sent. */
const SETTLE_MAX_MS = 10_000;
/** Bound of the wait for answers after the change. */
const ANSWER_TIMEOUT_MS = 15_000;
const KEY = 'parked01';

export interface ParkedResult {
  queries: number;
  /** Sent (flushed) before the change. */
  sent: number;
  /** Answered before the change: they were not parked (an error or a premature answer). */
  premature: number;
  errors: Record<string, number>;
  /** Answered after the change with a newer index. */
  returned: number;
  within1s: number;
  /** From sending the PUT to each answer. */
  latencyMs: { p50: number; p99: number; max: number };
  putAckMs: number;
  openMs: number;
  /**
   * VmRSS before, once parked, the highest sampled from parking to the last answer (the
   * goal's figure), after; and VmHWM, the process's lifetime peak (earlier load included).
   */
  rssMiB: {
    before: number;
    parked: number;
    parkedMax: number;
    after: number;
    lifetimePeak: number;
  };
}

const mib = (b: number | undefined) => (b === undefined ? NaN : round(b / (1 << 20), 1));

export async function parkedQueries(server: TrellisAgent, n: number): Promise<ParkedResult> {
  const port = server.ports.http;
  const ka = keepAliveAgent();
  const conns = new Agent({ keepAlive: false, maxSockets: Infinity });
  const reqs: ClientRequest[] = [];
  try {
    const put = await send(ka, port, 'PUT', `/v1/kv/${KEY}`, Buffer.alloc(256, 'a'), 10_000);
    if (put.body.toString().trim() !== 'true') throw new Error(`PUT ${KEY}: ${put.status}`);
    const cur = await send(ka, port, 'GET', `/v1/kv/${KEY}`, undefined, 10_000);
    const index = Number(cur.headers['x-consul-index']);
    if (!(index > 0)) throw new Error(`GET ${KEY}: no X-Consul-Index (${cur.status})`);
    const rssBefore = server.rssBytes();

    let sent = 0;
    let changeAt = Infinity;
    let premature = 0;
    let returned = 0;
    let within = 0;
    const errors: Record<string, number> = {};
    const lat = new Samples();
    const onAnswer = (newIndex: number) => {
      const at = performance.now();
      if (at < changeAt) {
        premature++;
        errors['answered before the change'] = (errors['answered before the change'] ?? 0) + 1;
        return;
      }
      if (!(newIndex > index)) {
        errors['stale index'] = (errors['stale index'] ?? 0) + 1;
        return;
      }
      returned++;
      const ms = at - changeAt;
      if (ms <= 1000) within++;
      lat.push(ms);
    };
    let settled = 0;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      while (i - sent >= OPEN_WINDOW && performance.now() - t0 < OPEN_TIMEOUT_MS) await sleep(1);
      const req = request(
        { host: '127.0.0.1', port, path: `/v1/kv/${KEY}?index=${index}&wait=5m`, agent: conns },
        (res) => {
          res.resume();
          res.on('end', () => {
            settled++;
            onAnswer(Number(res.headers['x-consul-index']));
          });
        },
      );
      req.on('finish', () => sent++);
      req.on('error', (e: NodeJS.ErrnoException) => {
        settled++;
        const code = e.code ?? e.message;
        errors[code] = (errors[code] ?? 0) + 1;
        if (performance.now() < changeAt) premature++;
      });
      req.end();
      reqs.push(req);
    }
    for (
      let i = 0;
      i < 100_000 && sent + premature < n && performance.now() - t0 < OPEN_TIMEOUT_MS;
      i++
    ) {
      await sleep(5);
    }
    const openMs = performance.now() - t0;
    // The server has read the queries once its memory stops growing (bounded).
    let peak = server.peakRssBytes() ?? 0;
    let maxRss = server.rssBytes() ?? 0;
    let prev = -1;
    const s0 = performance.now();
    for (let i = 0; i < 1000 && performance.now() - s0 < SETTLE_MAX_MS; i++) {
      await sleep(250);
      const rss = server.rssBytes() ?? 0;
      maxRss = Math.max(maxRss, rss);
      if (prev >= 0 && Math.abs(rss - prev) < 1 << 20) break;
      prev = rss;
    }
    const rssParked = server.rssBytes();
    peak = Math.max(peak, server.peakRssBytes() ?? 0);

    changeAt = performance.now();
    await send(ka, port, 'PUT', `/v1/kv/${KEY}`, Buffer.alloc(256, 'b'), 10_000);
    const putAckMs = performance.now() - changeAt;
    for (
      let i = 0;
      i < 100_000 && settled < n && performance.now() - changeAt < ANSWER_TIMEOUT_MS;
      i++
    ) {
      await sleep(5);
      if (i % 50 === 0) maxRss = Math.max(maxRss, server.rssBytes() ?? 0);
    }
    maxRss = Math.max(maxRss, server.rssBytes() ?? 0);
    peak = Math.max(peak, server.peakRssBytes() ?? 0);
    const sorted = lat.sorted();
    return {
      queries: n,
      sent,
      premature,
      errors,
      returned,
      within1s: within,
      latencyMs: {
        p50: round(percentile(sorted, 0.5), 1),
        p99: round(percentile(sorted, 0.99), 1),
        max: round(percentile(sorted, 1), 1),
      },
      putAckMs: round(putAckMs, 1),
      openMs: round(openMs, 0),
      rssMiB: {
        before: mib(rssBefore),
        parked: mib(rssParked),
        parkedMax: mib(maxRss),
        lifetimePeak: mib(peak),
        after: mib(server.rssBytes()),
      },
    };
  } finally {
    for (const r of reqs) r.destroy();
    conns.destroy();
    ka.destroy();
  }
}
