/**
 * A tiny load generator in the spirit of the seed's `fortio load -c 2 -qps 0 -n 2`: `c`
 * workers, each with one keep-alive connection of its own, send `n` GETs in all as fast as
 * they can, and the status codes are printed as one JSON line on stdout:
 *
 *     node test/dist/e2e/apps/loadgen.js -c 2 -n 4 http://127.0.0.1:9080/productpage
 *     {"calls":4,"codes":{"200":3,"503":1},"bodies":{"200":"…","503":"…"},"overloaded":1,
 *      "errors":[],"ms":12}
 *
 * `bodies` holds the first body seen per code (at most 200 characters), `overloaded` counts
 * answers with `x-envoy-overloaded: true`. A request that fails without a status (a reset,
 * a timeout) is counted under code "0" and its error listed. Exits 0 whatever the codes are.
 */
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  options: { c: { type: 'string', default: '2' }, n: { type: 'string', default: '2' } },
  allowPositionals: true,
});
const c = Number(values.c);
const n = Number(values.n);
const url = positionals[0];
if (!Number.isInteger(c) || c < 1 || !Number.isInteger(n) || n < 1 || url === undefined) {
  process.stderr.write('usage: loadgen.js -c CONNECTIONS -n CALLS URL\n');
  process.exit(2);
}
const TIMEOUT_MS = 10_000;

interface Outcome {
  code: number;
  body?: string;
  overloaded?: boolean;
  error?: string;
}

function call(agent: Agent): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = request(url as string, { agent, timeout: TIMEOUT_MS }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (body.length < 200) body = (body + c).slice(0, 200);
      });
      res.on('end', () =>
        resolve({
          code: res.statusCode ?? 0,
          body,
          overloaded: res.headers['x-envoy-overloaded'] === 'true',
        }),
      );
      res.on('error', (e) => resolve({ code: 0, error: e.message }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${TIMEOUT_MS} ms`)));
    req.on('error', (e) => resolve({ code: 0, error: e.message }));
    req.end();
  });
}

const codes: Record<string, number> = {};
const bodies: Record<string, string> = {};
const errors: string[] = [];
let overloaded = 0;
let next = 0;
const t0 = performance.now();
const agents = Array.from({ length: c }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
// Every worker starts its first call at once (the calls are concurrent), then goes on.
await Promise.all(
  agents.map(async (agent) => {
    while (next < n) {
      next++;
      const r = await call(agent);
      codes[r.code] = (codes[r.code] ?? 0) + 1;
      if (r.body !== undefined) bodies[r.code] ??= r.body;
      if (r.overloaded === true) overloaded++;
      if (r.error !== undefined) errors.push(r.error);
    }
  }),
);
for (const a of agents) a.destroy();
process.stdout.write(
  JSON.stringify({
    calls: n,
    codes,
    bodies,
    overloaded,
    errors,
    ms: Math.round(performance.now() - t0),
  }) + '\n',
);
