/**
 * One Trellis sidecar of the data-plane benchmark (proxy.ts), in a process of its own:
 *
 *     node [--cpu-prof] test/dist/bench/proxy-sidecar.js <snapshot.json>
 *
 * Starts a `Proxy` (no agent stream) for the snapshot's proxyId, applies the snapshot from
 * the file as version 1 and prints `{"ready":1}` on stdout. Each further line on stdin is a
 * snapshot (JSON) applied as the next version — the control channel of the rotation runs —
 * answered `{"applied":v}` or `{"nack":v,"error":"…"}`. On SIGTERM or the end of stdin the
 * proxy is closed and the process exits normally (so `--cpu-prof` writes its profile).
 *
 * Environment:
 * - TRELLIS_BENCH_PROXY=<a built @trellis/proxy's dist/src/index.js>: use that build instead
 *   (proxy.ts --baseline: before/after comparisons of proxy changes);
 * - TRELLIS_BENCH_ERRORS=1: the proxy's log (all levels) and the access-log entries of HTTP
 *   answers other than 2xx and of TCP connections ended for a reason go to stderr, one JSON
 *   line each (what wrk counted as errors, and why).
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import type { ProxySnapshot } from '@trellis/connect';
import type * as ProxyModule from '@trellis/proxy';

const alt = process.env['TRELLIS_BENCH_PROXY'];
const { Proxy } = (await import(
  alt !== undefined ? pathToFileURL(alt).href : '@trellis/proxy'
)) as typeof ProxyModule;

const file = process.argv[2];
if (file === undefined) {
  console.error('usage: proxy-sidecar.js <snapshot.json>');
  process.exit(2);
}
const first = JSON.parse(readFileSync(file, 'utf8')) as ProxySnapshot;
const errors = process.env['TRELLIS_BENCH_ERRORS'] === '1';
const log =
  (level: string) =>
  (o: object, msg?: string): void => {
    process.stderr.write(`${JSON.stringify({ at: new Date().toISOString(), level, msg, ...o })}\n`);
  };
const proxy = await Proxy.start({
  proxyId: first.proxyId,
  ...(errors
    ? {
        logger: {
          debug: log('debug'),
          info: log('info'),
          warn: log('warn'),
          error: log('error'),
        },
        accessLog: (e: ProxyModule.AccessLogEntry) => {
          if (e.kind === 'http' ? e.status < 200 || e.status > 299 : e.reason !== undefined)
            process.stderr.write(`${JSON.stringify({ at: new Date().toISOString(), ...e })}\n`);
        },
      }
    : {}),
});
const say = (m: unknown): void => {
  process.stdout.write(`${JSON.stringify(m)}\n`);
};
try {
  await proxy.apply(first, 1);
} catch (e) {
  console.error(`snapshot refused: ${(e as Error).message}`);
  process.exit(1);
}
say({ ready: 1 });

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void proxy.close().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
let last = 1;
lines.on('line', (line) => {
  if (line.trim() === '') return;
  const version = ++last;
  let snapshot: ProxySnapshot;
  try {
    snapshot = JSON.parse(line) as ProxySnapshot;
  } catch (e) {
    say({ nack: version, error: (e as Error).message });
    return;
  }
  proxy.apply(snapshot, version).then(
    () => {
      say({ applied: version });
      if (errors)
        process.stderr.write(
          `${JSON.stringify({ at: new Date().toISOString(), applied: version })}\n`,
        );
    },
    (e: unknown) => say({ nack: version, error: (e as Error).message }),
  );
});
lines.on('close', stop);
