/**
 * The app behind every path of the data-plane benchmark (proxy.ts), in a process of its own
 * so that it never shares an event loop with a proxy:
 *
 *     node test/dist/bench/proxy-app.js
 *
 * A Node HTTP server on 127.0.0.1 (an ephemeral port, printed as `{"port":N}` on stdout)
 * answering every request `200` with the same 100-byte body. `GET /xfcc` answers instead the
 * x-forwarded-client-cert header it came with (the rotation check: which client leaf the
 * remote sidecar saw). Keep-alive connections are kept for 65 s, longer than any run, so no
 * pool ever races the app's idle close. Exits on SIGTERM or when stdin ends (parent gone).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const BODY = Buffer.from(`${'trellis '.repeat(12)}app\n`);
if (BODY.length !== 100) throw new Error(`body is ${BODY.length} bytes`);

const server = createServer((req, res) => {
  req.resume();
  if (req.url === '/xfcc') {
    res.end(req.headers['x-forwarded-client-cert'] ?? '');
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': BODY.length });
  res.end(BODY);
});
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
