import test from 'ava';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import {
  Handlers,
  RpcClient,
  RpcError,
  RpcErrorCode,
  RpcServer,
  encodeFrame,
  FrameType,
  RPC_PATH,
  type RpcClientOptions,
  type RpcServerOptions,
  type RpcStream,
} from '../src/index.js';
import { makeCa, makeLeaf } from './certs.js';

/** Waits for a condition, polling; fails after `ms` (a bound, not a sleep). */
async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function pair(
  handlers: Handlers,
  serverOpts: Partial<RpcServerOptions> = {},
  clientOpts: Partial<RpcClientOptions> = {},
) {
  const server = await RpcServer.listen({ handlers, ...serverOpts });
  const client = new RpcClient({ url: server.url, ...clientOpts });
  await client.connection();
  return {
    server,
    client,
    async close() {
      await client.close();
      await server.close();
    },
  };
}

function echoHandlers(): Handlers {
  return new Handlers()
    .request('Echo', (body) => body)
    .request('Fail', () => {
      throw new RpcError('ERR_NOT_LEADER', 'node is not the leader', { leaderHint: 'server-2' });
    })
    .request('Crash', () => {
      throw new TypeError('cannot read x of undefined');
    })
    .request('Never', () => new Promise(() => undefined))
    .request('Big', (n) => Buffer.alloc(n as number));
}

test('requests and responses round-trip, concurrently, with binary bodies intact', async (t) => {
  const p = await pair(echoHandlers());
  const bodies = Array.from({ length: 300 }, (_, i) => ({
    i,
    bytes: Buffer.from([i & 255, 1, 2]),
  }));
  const answers = await Promise.all(bodies.map((b) => p.client.call('Echo', b)));
  t.deepEqual(answers, bodies);
  await p.close();
});

test('a handler’s RpcError reaches the caller with its code, message and metadata', async (t) => {
  const p = await pair(echoHandlers());
  const e = await t.throwsAsync(p.client.call('Fail', null), { instanceOf: RpcError });
  t.is(e.code, 'ERR_NOT_LEADER');
  t.is(e.message, 'node is not the leader');
  t.deepEqual(e.meta, { leaderHint: 'server-2' });
  const crash = await t.throwsAsync(p.client.call('Crash', null), { instanceOf: RpcError });
  t.is(crash.code, RpcErrorCode.HANDLER);
  t.is(crash.message, 'cannot read x of undefined');
  const unknown = await t.throwsAsync(p.client.call('Nope', null), { instanceOf: RpcError });
  t.is(unknown.code, RpcErrorCode.UNKNOWN_METHOD);
  // The connection survives all three.
  t.is(await p.client.call('Echo', 1), 1);
  await p.close();
});

test('a call without an answer times out; an aborted call rejects at once', async (t) => {
  const p = await pair(echoHandlers());
  const e = await t.throwsAsync(p.client.call('Never', null, { timeoutMs: 50 }), {
    instanceOf: RpcError,
  });
  t.is(e.code, RpcErrorCode.TIMEOUT);
  const ac = new AbortController();
  const pending = p.client.call('Never', null, { signal: ac.signal });
  ac.abort();
  t.is((await t.throwsAsync(pending, { instanceOf: RpcError })).code, RpcErrorCode.ABORTED);
  await p.close();
});

test('size limits: oversized requests fail locally, oversized answers become TOO_LARGE errors', async (t) => {
  const p = await pair(
    echoHandlers(),
    { maxMessageBytes: 64 * 1024 },
    { maxMessageBytes: 64 * 1024 },
  );
  const local = await t.throwsAsync(p.client.call('Echo', Buffer.alloc(100 * 1024)), {
    instanceOf: RpcError,
  });
  t.is(local.code, RpcErrorCode.TOO_LARGE);
  t.regex(local.message, /exceeds the limit of 65536/);
  const remote = await t.throwsAsync(p.client.call('Big', 100 * 1024), { instanceOf: RpcError });
  t.is(remote.code, RpcErrorCode.TOO_LARGE);
  t.deepEqual(await p.client.call('Big', 10), Buffer.alloc(10));
  await p.close();
});

test('a peer sending a frame over the limit is disconnected; other peers are unaffected', async (t) => {
  const p = await pair(echoHandlers(), { maxMessageBytes: 1024 });
  const rogue = new WebSocket(p.server.url, ['trellis-rpc.1'], { maxPayload: 1 << 20 });
  await new Promise((r) => rogue.once('open', r));
  const closed = new Promise<number>((r) => rogue.once('close', (code) => r(code)));
  rogue.send(Buffer.alloc(4096));
  t.is(await closed, 1009); // "message too big"
  t.is(await p.client.call('Echo', 'still here'), 'still here');
  await p.close();
});

test('requests beyond the in-flight limit are refused with OVERLOADED, not queued', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const handlers = new Handlers().request('Slow', async () => {
    await gate;
    return 'done';
  });
  const p = await pair(handlers, { maxInflightPerConnection: 2 });
  const calls = Array.from({ length: 5 }, () =>
    p.client.call('Slow', null).catch((e: RpcError) => e.code),
  );
  await until(() => [...p.server.connections][0]!.stats.requestsRefused === 3, 5000, '3 refusals');
  release();
  const results = await Promise.all(calls);
  t.deepEqual(results.filter((r) => r === 'done').length, 2);
  t.deepEqual(results.filter((r) => r === RpcErrorCode.OVERLOADED).length, 3);
  await p.close();
});

test('malformed frames close only the offending connection, and are counted', async (t) => {
  const p = await pair(echoHandlers());
  const bad: Array<[string, string | Buffer]> = [
    ['text frame', 'hello'],
    ['garbage bytes', Buffer.from('deadbeef', 'hex')],
    ['unknown frame type', encodeFrameRaw([42, 1])],
    ['wrong arity', encodeFrameRaw([0, 1, 'Echo'])],
  ];
  for (const [name, payload] of bad) {
    const ws = new WebSocket(p.server.url, ['trellis-rpc.1']);
    await new Promise((r) => ws.once('open', r));
    const code = new Promise<number>((r) => ws.once('close', (c) => r(c)));
    ws.send(payload);
    t.is(await code, 1002, name);
  }
  t.is(await p.client.call('Echo', 'ok'), 'ok');
  await p.close();
});

function encodeFrameRaw(arr: unknown[]): Buffer {
  // Reuse the real encoder's msgpack settings through a Response frame, then patch the array.
  const probe = encodeFrame({ type: FrameType.Response, id: 0, body: arr });
  // Response = fixarray(3) [1, 0, body]; strip the 3-byte prefix to get body's encoding.
  return probe.subarray(3);
}

test('version negotiation: no common version gives VERSION, a plain HTTP request 426', async (t) => {
  const server = await RpcServer.listen({ handlers: echoHandlers() });
  const client = new RpcClient({ url: server.url, protocolVersions: [99], reconnectMaxMs: 60_000 });
  await until(() => client.lastError !== null, 5000, 'a failed connect');
  t.is(client.lastError?.code, RpcErrorCode.VERSION);
  t.regex(client.lastError!.message, /server speaks protocol versions 1/);
  await client.close();
  const res = await fetch(server.url.replace('ws://', 'http://'));
  t.is(res.status, 426);
  const other = await fetch(
    server.url.replace('ws://', 'http://').replace(RPC_PATH, '/elsewhere'),
    {
      headers: { connection: 'upgrade', upgrade: 'websocket' },
    },
  ).catch(() => null);
  t.not(other?.status, 101);
  await server.close();
});

test('the client reconnects with back-off after the server restarts on the same port', async (t) => {
  const handlers = echoHandlers();
  let server = await RpcServer.listen({ handlers });
  const { port } = server.address();
  const client = new RpcClient({ url: server.url, reconnectBaseMs: 10, reconnectMaxMs: 100 });
  t.is(await client.call('Echo', 'first'), 'first');
  const inFlight = client.call('Never', null);
  const states: string[] = [];
  client.onStateChange((s) => states.push(s));
  await server.close();
  t.is((await t.throwsAsync(inFlight, { instanceOf: RpcError })).code, RpcErrorCode.DISCONNECTED);
  await until(() => states.includes('backoff'), 5000, 'backoff');
  // A call made while disconnected waits for the connection.
  const waiting = client.call('Echo', 'after restart', { timeoutMs: 5000 });
  server = await RpcServer.listen({ handlers, port });
  t.is(await waiting, 'after restart');
  t.true(client.connects >= 2);
  await client.close();
  await server.close();
});

test('closing the client fails waiting calls with CLOSED', async (t) => {
  const client = new RpcClient({ url: 'ws://127.0.0.1:1/trellis/rpc', reconnectBaseMs: 10 });
  const waiting = client.call('Echo', 1, { timeoutMs: 5000 });
  await client.close();
  t.is((await t.throwsAsync(waiting, { instanceOf: RpcError })).code, RpcErrorCode.CLOSED);
  t.is(
    (await t.throwsAsync(client.call('Echo', 1), { instanceOf: RpcError })).code,
    RpcErrorCode.CLOSED,
  );
});

test('streams: the server pushes, the client acknowledges, both half-close', async (t) => {
  const acks: unknown[] = [];
  const handlers = new Handlers().stream('Watch', async (stream, body) => {
    const n = (body as { n: number }).n;
    const reader = (async () => {
      for await (const m of stream) acks.push(m);
    })();
    for (let v = 1; v <= n; v++) await stream.send({ version: v });
    stream.end();
    await reader;
  });
  const p = await pair(handlers);
  const s = await p.client.openStream('Watch', { n: 200 });
  const got: number[] = [];
  for await (const m of s) {
    const v = (m as { version: number }).version;
    got.push(v);
    await s.send({ ack: v });
  }
  s.end();
  await s.done;
  t.deepEqual(
    got,
    Array.from({ length: 200 }, (_, i) => i + 1),
  );
  await until(() => acks.length === 200, 5000, 'acks');
  t.deepEqual(acks[199], { ack: 200 });
  await p.close();
});

test('stream flow control: a slow consumer holds the sender to its window', async (t) => {
  let sent = 0;
  let stream!: RpcStream;
  const handlers = new Handlers().stream('Firehose', async (s) => {
    stream = s;
    for (let i = 0; i < 100; i++) {
      await s.send(i);
      sent++;
    }
    s.end();
  });
  const p = await pair(handlers, { streamWindow: 8 }, { streamWindow: 8 });
  const s = await p.client.openStream('Firehose', null);
  await until(() => sent === 8, 5000, 'a full window');
  // With nothing read, no credit returns: the sender stays blocked at its window.
  await new Promise((r) => setImmediate(r));
  t.is(sent, 8);
  const got: unknown[] = [];
  for await (const m of s) got.push(m);
  t.is(got.length, 100);
  t.is(sent, 100);
  t.truthy(stream);
  await p.close();
});

test('stream cancel reaches the other side; unknown stream methods are cancelled', async (t) => {
  let serverErr: RpcError | undefined;
  const handlers = new Handlers().stream('Forever', async (s) => {
    try {
      for (;;) await s.send('tick');
    } catch (e) {
      serverErr = e as RpcError;
    }
  });
  const p = await pair(handlers);
  const s = await p.client.openStream('Forever', null);
  let n = 0;
  for await (const _ of s) {
    if (++n === 10) break; // breaking out of the loop cancels the stream
  }
  await until(() => serverErr !== undefined, 5000, 'the server to see the cancel');
  t.is(serverErr?.code, RpcErrorCode.STREAM_CANCELLED);
  const u = await p.client.openStream('NoSuchStream', null);
  const e = await t.throwsAsync(
    (async () => {
      for await (const _ of u) t.fail('no message expected');
    })(),
    { instanceOf: RpcError },
  );
  t.is(e.code, RpcErrorCode.UNKNOWN_METHOD);
  await p.close();
});

test('a peer sending past its stream credit gets the stream cancelled with PROTOCOL', async (t) => {
  let handlerErr: RpcError | undefined;
  const handlers = new Handlers().stream('Sink', async (s) => {
    // Never reads: credit is never returned.
    await s.done;
    try {
      for await (const _ of s) {
        // drain
      }
    } catch (e) {
      handlerErr = e as RpcError;
    }
  });
  const server = await RpcServer.listen({ handlers, streamWindow: 4 });
  const ws = new WebSocket(server.url, ['trellis-rpc.1']);
  await new Promise((r) => ws.once('open', r));
  const frames: Buffer[] = [];
  ws.on('message', (d) => frames.push(d as Buffer));
  ws.send(encodeFrame({ type: FrameType.StreamOpen, streamId: 1, method: 'Sink', body: null }));
  for (let i = 0; i < 10; i++)
    ws.send(encodeFrame({ type: FrameType.StreamMessage, streamId: 1, body: i }));
  await until(() => handlerErr !== undefined, 5000, 'the violation');
  t.is(handlerErr?.code, RpcErrorCode.PROTOCOL);
  t.regex(handlerErr!.message, /past its credit of 4/);
  ws.close();
  await server.close();
});

test('back-pressure: a peer that stops reading holds senders at the high-water mark', async (t) => {
  const wss = new WebSocketServer({
    port: 0,
    host: '127.0.0.1',
    handleProtocols: () => 'trellis-rpc.1',
  });
  await new Promise((r) => wss.once('listening', r));
  let peerSocket: Socket | undefined;
  let received = 0;
  wss.on('connection', (ws) => {
    peerSocket = (ws as unknown as { _socket: Socket })._socket;
    peerSocket.pause();
    ws.on('message', () => received++);
  });
  const { port } = wss.address() as AddressInfo;
  const highWater = 256 * 1024;
  const client = new RpcClient({
    url: `ws://127.0.0.1:${port}${RPC_PATH}`,
    sendHighWaterBytes: highWater,
  });
  const conn = await client.connection();
  await until(() => peerSocket !== undefined, 5000, 'the peer to accept');
  const body = Buffer.alloc(64 * 1024);
  const calls = Array.from({ length: 300 }, () =>
    client.call('X', body, { timeoutMs: 30_000 }).catch(() => undefined),
  );
  await until(() => conn.bufferedBytes >= highWater / 2, 10_000, 'the socket buffer to fill');
  await until(
    () => conn.stats.framesSent < 300 && conn.bufferedBytes < highWater + 2 * body.length,
    1000,
    'bounded',
  );
  const framesWhileBlocked = conn.stats.framesSent;
  t.true(
    framesWhileBlocked < 300,
    `sent ${framesWhileBlocked} frames to a peer that reads nothing`,
  );
  t.true(conn.bufferedBytes < highWater + 2 * body.length);
  peerSocket!.resume();
  await until(() => received === 300, 20_000, 'every call to be delivered once the peer reads');
  t.is(conn.stats.framesSent, 300);
  await client.close();
  await Promise.all(calls);
  await new Promise((r) => wss.close(r));
});

test('mutual TLS: a client with a certificate from the CA is served and identified', async (t) => {
  const ca = await makeCa();
  const serverCert = await makeLeaf(ca, 'server.dc1.trellis', '02');
  const clientCert = await makeLeaf(ca, 'client.dc1.trellis', '03');
  const handlers = new Handlers().request(
    'WhoAmI',
    (_b, ctx) => ctx.peer.certificate?.subject.CN ?? null,
  );
  const server = await RpcServer.listen({
    handlers,
    tls: { key: serverCert.key, cert: serverCert.cert, ca: ca.cert, requestCert: true },
  });
  t.true(server.url.startsWith('wss://'));
  const client = new RpcClient({
    url: server.url,
    tls: { ca: ca.cert, cert: clientCert.cert, key: clientCert.key },
  });
  t.is(await client.call('WhoAmI', null), 'client.dc1.trellis');
  await client.close();

  const anonymous = new RpcClient({
    url: server.url,
    tls: { ca: ca.cert },
    reconnectMaxMs: 60_000,
  });
  const e = await t.throwsAsync(anonymous.call('WhoAmI', null, { timeoutMs: 2000 }), {
    instanceOf: RpcError,
  });
  t.is(e.code, RpcErrorCode.TIMEOUT);
  t.is(anonymous.lastError?.code, RpcErrorCode.CONNECT);
  await anonymous.close();

  const otherCa = await makeCa('Someone Else');
  const stranger = new RpcClient({
    url: server.url,
    tls: { ca: otherCa.cert },
    reconnectMaxMs: 60_000,
  });
  await until(() => stranger.lastError !== null, 5000, 'the TLS failure');
  t.regex(stranger.lastError!.message, /certificate|self.signed|unable to verify/i);
  await stranger.close();
  await server.close();
});
