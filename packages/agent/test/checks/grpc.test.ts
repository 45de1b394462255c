/**
 * gRPC checks against a real grpc.health.v1 server built with @grpc/grpc-js (Consul's
 * CheckGRPC / GrpcHealthProbe).
 */
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import test, { type ExecutionContext } from 'ava';
import { createRunner, type RunnerDeps } from '../../src/checks/index.js';
import { GRPC_HEALTH_CHECK_PATH } from '../../src/checks/constants.js';
import {
  decodeHealthCheckRequest,
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  encodeHealthCheckResponse,
} from '../../src/checks/grpc-health-codec.js';
import { grpcErrorText, parseGrpcTarget } from '../../src/checks/grpc.js';
import type { CheckDefinition } from '../../src/local/types.js';
import { Recorder, TEST_CERT, TEST_KEY, def, listen, noStagger, unusedPort } from './helpers.js';

interface HealthServer {
  port: number;
  /** Services asked about, in order. */
  asked: string[];
}

/**
 * A health server: `statuses` maps a service name to its ServingStatus; unknown services get
 * NOT_FOUND as grpc-go's health server answers. `serialize` may replace the response encoding.
 */
async function healthServer(
  t: ExecutionContext,
  statuses: Record<string, number>,
  o: { tls?: boolean; serialize?: (r: { status: number }) => Buffer } = {},
): Promise<HealthServer> {
  const asked: string[] = [];
  const server = new grpc.Server();
  server.addService(
    {
      Check: {
        path: GRPC_HEALTH_CHECK_PATH,
        requestStream: false,
        responseStream: false,
        requestSerialize: encodeHealthCheckRequest,
        requestDeserialize: decodeHealthCheckRequest,
        responseSerialize: o.serialize ?? encodeHealthCheckResponse,
        responseDeserialize: decodeHealthCheckResponse,
      },
    },
    {
      Check: (
        call: grpc.ServerUnaryCall<{ service: string }, { status: number }>,
        cb: grpc.sendUnaryData<{ status: number }>,
      ) => {
        asked.push(call.request.service);
        const status = statuses[call.request.service];
        if (status === undefined) cb({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
        else cb(null, { status });
      },
    },
  );
  const creds = o.tls
    ? grpc.ServerCredentials.createSsl(
        null,
        [{ private_key: Buffer.from(TEST_KEY), cert_chain: Buffer.from(TEST_CERT) }],
        false,
      )
    : grpc.ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', creds, (err, p) => (err === null ? resolve(p) : reject(err))),
  );
  t.teardown(() => server.forceShutdown());
  return { port, asked };
}

function run(t: ExecutionContext, d: CheckDefinition, deps: Partial<RunnerDeps> = {}): Recorder {
  const rec = new Recorder();
  const runner = createRunner(d, { notify: rec.notify, random: noStagger, ...deps });
  t.teardown(() => runner.stop());
  runner.start();
  return rec;
}

const grpcCheck = (over: Partial<CheckDefinition>): CheckDefinition =>
  def({ kind: 'grpc', ...over });

test('SERVING is passing; the part after the first "/" names the service asked about', async (t) => {
  const s = await healthServer(t, { '': 1, web: 1, 'a/b': 1 });
  const whole = await run(t, grpcCheck({ GRPC: `127.0.0.1:${s.port}` })).next();
  t.deepEqual([whole.status, whole.output], ['passing', `gRPC check 127.0.0.1:${s.port}: success`]);
  const web = await run(t, grpcCheck({ GRPC: `127.0.0.1:${s.port}/web` })).next();
  t.deepEqual([web.status, web.output], ['passing', `gRPC check 127.0.0.1:${s.port}/web: success`]);
  await run(t, grpcCheck({ GRPC: `localhost:${s.port}/a/b` })).next();
  t.deepEqual([...new Set(s.asked)], ['', 'web', 'a/b']);
  t.deepEqual(parseGrpcTarget('h:1/x/y'), { server: 'h:1', service: 'x/y' });
});

test('any other serving status is critical, named as Consul names it', async (t) => {
  const s = await healthServer(t, { db: 2, cache: 0, queue: 3 });
  for (const [service, name] of [
    ['db', 'NOT_SERVING'],
    ['cache', 'UNKNOWN'],
    ['queue', 'SERVICE_UNKNOWN'],
  ] as const) {
    const target = `127.0.0.1:${s.port}/${service}`;
    const u = await run(t, grpcCheck({ GRPC: target })).next();
    t.deepEqual([u.status, u.output], ['critical', `gRPC ${target} serving status: ${name}`]);
  }
});

test('a failed call is critical with grpc-go’s status error text', async (t) => {
  const s = await healthServer(t, {});
  const u = await run(t, grpcCheck({ GRPC: `127.0.0.1:${s.port}/nope` })).next();
  t.deepEqual(
    [u.status, u.output],
    ['critical', 'rpc error: code = NotFound desc = unknown service'],
  );
  t.is(grpcErrorText({ code: 99, details: 'x' }), 'rpc error: code = Code(99) desc = x');
});

test('an unreachable server is critical (Unavailable)', async (t) => {
  const port = await unusedPort();
  const u = await run(t, grpcCheck({ GRPC: `127.0.0.1:${port}` })).next();
  t.is(u.status, 'critical');
  t.true(u.output.startsWith('rpc error: code = Unavailable desc = '), u.output);
});

test('a server that accepts but never speaks HTTP/2 is cut at Timeout → critical', async (t) => {
  let accepted = 0;
  const port = await listen(
    t,
    net.createServer(() => void accepted++),
  );
  const u = await run(t, grpcCheck({ GRPC: `127.0.0.1:${port}`, Timeout: 300 })).next();
  t.is(u.status, 'critical');
  t.is(u.output, 'rpc error: code = DeadlineExceeded desc = context deadline exceeded (300ms)');
  t.true(accepted >= 1);
});

test('a response that is not a HealthCheckResponse is critical, not misread', async (t) => {
  const s = await healthServer(t, { '': 1 }, { serialize: () => Buffer.from('0b', 'hex') });
  const u = await run(t, grpcCheck({ GRPC: `127.0.0.1:${s.port}` })).next();
  t.is(u.status, 'critical');
  t.true(u.output.startsWith('rpc error: code = '), u.output);
});

test('an oversized response is refused (message size limit)', async (t) => {
  const huge = Buffer.concat([
    Buffer.from('0801', 'hex'),
    Buffer.from([0x12, 0x80, 0x80, 0x40]),
    Buffer.alloc(1 << 20),
  ]);
  const s = await healthServer(t, { '': 1 }, { serialize: () => huge });
  const u = await run(t, grpcCheck({ GRPC: `127.0.0.1:${s.port}` })).next();
  t.is(u.status, 'critical');
  t.true(u.output.startsWith('rpc error: code = ResourceExhausted desc = '), u.output);
});

test('GRPCUseTLS: verified against the agent’s CA and TLSServerName, or skipped with TLSSkipVerify', async (t) => {
  const s = await healthServer(t, { '': 1 }, { tls: true });
  const target = `127.0.0.1:${s.port}`;
  const skip = await run(
    t,
    grpcCheck({ GRPC: target, GRPCUseTLS: true, TLSSkipVerify: true }),
  ).next();
  t.is(skip.status, 'passing');
  const verify = await run(t, grpcCheck({ GRPC: target, GRPCUseTLS: true })).next();
  t.is(verify.status, 'critical', 'self-signed, no CA');
  t.true(verify.output.startsWith('rpc error: code = Unavailable desc = '), verify.output);
  const withCa = await run(
    t,
    grpcCheck({ GRPC: target, GRPCUseTLS: true, TLSServerName: 'localhost' }),
    {
      tls: { ca: TEST_CERT },
    },
  ).next();
  t.is(withCa.status, 'passing');
  const plain = await run(t, grpcCheck({ GRPC: target })).next();
  t.is(plain.status, 'critical', 'plaintext against a TLS server fails');
});
