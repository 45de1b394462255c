/**
 * Parked blocking queries on one Trellis server: `n` concurrent
 * GET /v1/kv/<key>?index=<current>&wait=5m (each on its own connection, as Consul's
 * blocking queries are), then one PUT to the key; every query must return within 1 s of
 * the PUT being sent, with an X-Consul-Index past the one it waited on. The server's RSS
 * (VmRSS, and the peak VmHWM, from /proc/<pid>/status) is sampled before, while parked and
 * after.
 *
 * The queries are raw HTTP/1.1 exchanges on `net` sockets, parsed just enough to check each
 * answer (status 200, X-Consul-Index, a complete body of Content-Length bytes) and to time
 * it when its last byte is read. The load generator shares the machine with the server and
 * must handle 10,000 answers within a second: node:http's client (a parser, an
 * IncomingMessage and a stream per answer) spends as much CPU per answer as the server does,
 * and its own event-loop lag was counted as the server's latency. The client's event-loop
 * delay during the answers is reported (`clientLoopDelayMs`) so a lagging generator shows.
 * Each request says `Connection: close`, as node:http's non-keep-alive agent did before:
 * the server's work per answer (write, shutdown, close) is unchanged.
 */
import { connect, type Socket } from 'node:net';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { TrellisAgent } from '@trellis/testkit';
import { Samples, percentile, round } from '../raft/stats.js';
import type { Agent } from 'node:http';
import { keepAliveAgent, send } from './http.js';
import { sleep } from './system.js';

/** Queries being opened (connected, not yet flushed) at once: stays below the listen backlog. */
const OPEN_WINDOW = 256;
const OPEN_TIMEOUT_MS = 120_000;
/** Bound of the wait for RSS to settle once every query is sent. */
const SETTLE_MAX_MS = 10_000;
/** Bound of the wait for answers after the change. */
const ANSWER_TIMEOUT_MS = 15_000;
/** A KV answer of the 256-byte value is ~600 bytes; anything past this is an error. */
const MAX_ANSWER_BYTES = 64 * 1024;
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
  /** The load generator's own event-loop delay from the change to the last answer. */
  clientLoopDelayMs: { p99: number; max: number };
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

/** A complete answer: its status, X-Consul-Index and when its last byte was read. */
interface Answer {
  readonly status: number;
  readonly index: number;
  readonly at: number;
}

/**
 * Opens one connection and sends one blocking GET on it. `onSent` runs once the request is
 * flushed; `onEnd` runs exactly once, with the answer or an error code, and the socket is
 * destroyed then.
 */
function parkOne(
  port: number,
  path: string,
  onSent: () => void,
  onEnd: (err: string | null, answer?: Answer) => void,
): Socket {
  const request = Buffer.from(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
    'latin1',
  );
  const sock = connect({ host: '127.0.0.1', port });
  let buf: Buffer | null = null;
  /** Bytes of the whole answer (head + body), once the head is parsed. */
  let total = -1;
  let status = 0;
  let index = NaN;
  let ended = false;
  const end = (err: string | null, answer?: Answer): void => {
    if (ended) return;
    ended = true;
    sock.destroy();
    onEnd(err, answer);
  };
  sock.on('connect', () => sock.write(request, () => onSent()));
  sock.on('data', (chunk: Buffer) => {
    const at = performance.now();
    buf = buf === null ? chunk : Buffer.concat([buf, chunk]);
    if (buf.length > MAX_ANSWER_BYTES) return end('EBODY');
    if (total < 0) {
      const headEnd = buf.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const lines = buf.toString('latin1', 0, headEnd).split('\r\n');
      status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(lines[0] ?? '')?.[1] ?? NaN);
      let length = NaN;
      for (const line of lines) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).toLowerCase();
        if (name === 'content-length') length = Number(line.slice(colon + 1).trim());
        else if (name === 'x-consul-index') index = Number(line.slice(colon + 1).trim());
      }
      if (!Number.isSafeInteger(length)) return end('no Content-Length');
      total = headEnd + 4 + length;
    }
    if (buf.length >= total) end(null, { status, index, at });
  });
  sock.on('error', (e: NodeJS.ErrnoException) => end(e.code ?? e.message));
  sock.on('close', () => end('closed before the answer'));
  return sock;
}

/** What the queries park on, and the change that must wake them. */
export interface ParkTarget {
  /** The blocking endpoint, with its own query string if any (index and wait are added). */
  readonly path: string;
  /** Puts the watched state in place before the queries park. */
  prepare(port: number, agent: Agent): Promise<void>;
  /** The one write that must wake every parked query. */
  change(port: number, agent: Agent): Promise<void>;
}

/** The KV benchmark's target: one key, rewritten. */
export const KV_TARGET: ParkTarget = {
  path: `/v1/kv/${KEY}`,
  async prepare(port, agent) {
    const put = await send(agent, port, 'PUT', `/v1/kv/${KEY}`, Buffer.alloc(256, 'a'), 10_000);
    if (put.body.toString().trim() !== 'true') throw new Error(`PUT ${KEY}: ${put.status}`);
  },
  async change(port, agent) {
    await send(agent, port, 'PUT', `/v1/kv/${KEY}`, Buffer.alloc(256, 'b'), 10_000);
  },
};

export async function parkedQueries(
  server: TrellisAgent,
  n: number,
  target: ParkTarget = KV_TARGET,
): Promise<ParkedResult> {
  const port = server.ports.http;
  const ka = keepAliveAgent();
  const socks: Socket[] = [];
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  try {
    await target.prepare(port, ka);
    const cur = await send(ka, port, 'GET', target.path, undefined, 10_000);
    const index = Number(cur.headers['x-consul-index']);
    if (!(index > 0)) throw new Error(`GET ${target.path}: no X-Consul-Index (${cur.status})`);
    const rssBefore = server.rssBytes();

    let sent = 0;
    let changeAt = Infinity;
    let premature = 0;
    let returned = 0;
    let within = 0;
    const errors: Record<string, number> = {};
    const count = (what: string) => (errors[what] = (errors[what] ?? 0) + 1);
    const lat = new Samples();
    let settled = 0;
    const onEnd = (err: string | null, a?: Answer) => {
      settled++;
      const at = a?.at ?? performance.now();
      if (at < changeAt) {
        premature++;
        count(err ?? 'answered before the change');
        return;
      }
      if (err !== null || a === undefined) return void count(err ?? 'no answer');
      if (a.status !== 200) return void count(`HTTP ${a.status}`);
      if (!(a.index > index)) return void count('stale index');
      returned++;
      const ms = at - changeAt;
      if (ms <= 1000) within++;
      lat.push(ms);
    };
    const path = `${target.path}${target.path.includes('?') ? '&' : '?'}index=${index}&wait=5m`;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      while (i - sent - premature >= OPEN_WINDOW && performance.now() - t0 < OPEN_TIMEOUT_MS) {
        await sleep(1);
      }
      socks.push(parkOne(port, path, () => sent++, onEnd));
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

    loopDelay.enable();
    changeAt = performance.now();
    await target.change(port, ka);
    const putAckMs = performance.now() - changeAt;
    for (
      let i = 0;
      i < 100_000 && settled < n && performance.now() - changeAt < ANSWER_TIMEOUT_MS;
      i++
    ) {
      await sleep(5);
      if (i % 50 === 0) maxRss = Math.max(maxRss, server.rssBytes() ?? 0);
    }
    loopDelay.disable();
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
      clientLoopDelayMs: {
        p99: round(loopDelay.percentile(99) / 1e6, 1),
        max: round(loopDelay.max / 1e6, 1),
      },
      rssMiB: {
        before: mib(rssBefore),
        parked: mib(rssParked),
        parkedMax: mib(maxRss),
        lifetimePeak: mib(peak),
        after: mib(server.rssBytes()),
      },
    };
  } finally {
    loopDelay.disable();
    for (const s of socks) s.destroy();
    ka.destroy();
  }
}
