/**
 * TCP checks against real loopback listeners (Consul's CheckTCP, TCP and TCP+TLS).
 */
import net from 'node:net';
import tls from 'node:tls';
import test, { type ExecutionContext } from 'ava';
import { createRunner, type RunnerDeps } from '../../src/checks/index.js';
import { splitHostPort } from '../../src/checks/tcp.js';
import type { CheckDefinition } from '../../src/local/types.js';
import { Recorder, TEST_CERT, TEST_KEY, def, listen, noStagger, unusedPort } from './helpers.js';

function run(t: ExecutionContext, d: CheckDefinition, deps: Partial<RunnerDeps> = {}): Recorder {
  const rec = new Recorder();
  const runner = createRunner(d, { notify: rec.notify, random: noStagger, ...deps });
  t.teardown(() => runner.stop());
  runner.start();
  return rec;
}

const tcpCheck = (over: Partial<CheckDefinition>): CheckDefinition => def({ kind: 'tcp', ...over });

/** A listener that accepts and then does nothing (never speaks TLS). */
async function silent(
  t: ExecutionContext,
  host = '127.0.0.1',
): Promise<{ port: number; accepted: () => number }> {
  let n = 0;
  const server = net.createServer(() => void n++);
  return { port: await listen(t, server, host), accepted: () => n };
}

test('a connection that opens is passing (TestCheckTCPPassing, IPv4 and IPv6)', async (t) => {
  const v4 = await silent(t);
  const u4 = await run(t, tcpCheck({ TCP: `127.0.0.1:${v4.port}` })).next();
  t.deepEqual([u4.status, u4.output], ['passing', `TCP connect 127.0.0.1:${v4.port}: Success`]);
  const named = await run(t, tcpCheck({ TCP: `localhost:${v4.port}` })).next();
  t.is(named.status, 'passing', 'a host name resolves');
  const v6 = await silent(t, '::1');
  const u6 = await run(t, tcpCheck({ TCP: `[::1]:${v6.port}` })).next();
  t.deepEqual([u6.status, u6.output], ['passing', `TCP connect [::1]:${v6.port}: Success`]);
});

test('a refused connection is critical with the reason (TestCheckTCPCritical)', async (t) => {
  const port = await unusedPort();
  const u = await run(t, tcpCheck({ TCP: `127.0.0.1:${port}` })).next();
  t.is(u.status, 'critical');
  t.is(u.output, `dial tcp 127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`);
});

test('malformed addresses are critical with Go’s wording', async (t) => {
  const cases: [string, string][] = [
    ['nope', 'dial tcp nope: address nope: missing port in address'],
    ['127.0.0.1:99999', 'dial tcp 127.0.0.1:99999: address 127.0.0.1:99999: invalid port'],
    ['::1:80', 'dial tcp ::1:80: address ::1:80: too many colons in address'],
    ['[::1', "dial tcp [::1: address [::1: missing ']' in address"],
  ];
  for (const [addr, output] of cases) {
    const u = await run(t, tcpCheck({ TCP: addr })).next();
    t.deepEqual([u.status, u.output], ['critical', output], addr);
  }
  t.deepEqual(splitHostPort('[::1]:8080'), { host: '::1', port: 8080 });
  t.deepEqual(splitHostPort(':8080'), { host: '', port: 8080 });
});

test('TCPUseTLS completes a handshake; TLSSkipVerify accepts a self-signed certificate', async (t) => {
  const server = tls.createServer({ key: TEST_KEY, cert: TEST_CERT }, (s) => s.end());
  const port = await listen(t, server);
  const addr = `127.0.0.1:${port}`;
  const skip = await run(t, tcpCheck({ TCP: addr, TCPUseTLS: true, TLSSkipVerify: true })).next();
  t.deepEqual([skip.status, skip.output], ['passing', `TCP+TLS connect ${addr}: Success`]);
  const verify = await run(t, tcpCheck({ TCP: addr, TCPUseTLS: true })).next();
  t.deepEqual(
    [verify.status, verify.output],
    ['critical', `TCP+TLS connect ${addr}: self-signed certificate`],
  );
  const withCa = await run(t, tcpCheck({ TCP: `localhost:${port}`, TCPUseTLS: true }), {
    tls: { ca: TEST_CERT },
  }).next();
  t.is(withCa.status, 'passing', 'the agent’s CA verifies the certificate');
  const wrongName = await run(
    t,
    tcpCheck({ TCP: addr, TCPUseTLS: true, TLSServerName: 'db.example' }),
    {
      tls: { ca: TEST_CERT },
    },
  ).next();
  t.is(wrongName.status, 'critical');
  t.regex(wrongName.output, /does not match certificate's altnames/);
});

test('a listener that accepts but never handshakes is cut at Timeout → critical', async (t) => {
  const { port, accepted } = await silent(t);
  const addr = `127.0.0.1:${port}`;
  const u = await run(
    t,
    tcpCheck({ TCP: addr, TCPUseTLS: true, TLSSkipVerify: true, Timeout: 500 }),
  ).next();
  t.is(u.status, 'critical');
  t.is(u.output, `TCP+TLS connect ${addr}: TLS handshake timed out after 500ms`);
  t.true(accepted() >= 1);
});

test('a peer that answers TLS with garbage is critical', async (t) => {
  const server = net.createServer((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
  const port = await listen(t, server);
  const u = await run(
    t,
    tcpCheck({ TCP: `127.0.0.1:${port}`, TCPUseTLS: true, TLSSkipVerify: true }),
  ).next();
  t.is(u.status, 'critical');
  t.true(u.output.startsWith(`TCP+TLS connect 127.0.0.1:${port}: `), u.output);
});
