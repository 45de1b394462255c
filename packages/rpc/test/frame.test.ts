import test from 'ava';
import { Prng } from '@trellis/testkit';
import { FrameError, FrameType, decodeFrame, encodeFrame, type Frame } from '../src/index.js';

test('a request frame has a fixed, plain-msgpack byte layout (hex fixture)', (t) => {
  const bytes = encodeFrame({ type: FrameType.Request, id: 1, method: 'Status.Ping', body: null });
  // fixarray(4), 0, 1, fixstr(11) "Status.Ping", nil
  t.is(bytes.toString('hex'), '940001ab5374617475732e50696e67c0');
  t.deepEqual(decodeFrame(Buffer.from('940001ab5374617475732e50696e67c0', 'hex')), {
    type: FrameType.Request,
    id: 1,
    method: 'Status.Ping',
    body: null,
  });
});

test('every frame type round-trips', (t) => {
  const frames: Frame[] = [
    {
      type: FrameType.Request,
      id: 7,
      method: 'KV.Apply',
      body: { Key: 'a', Value: Buffer.from([1, 2]) },
    },
    { type: FrameType.Response, id: 7, body: [1, 'two', { three: 3 }] },
    {
      type: FrameType.Error,
      id: 8,
      code: 'ERR_NOT_LEADER',
      message: 'not leader',
      meta: { leaderHint: 's2' },
    },
    {
      type: FrameType.StreamOpen,
      streamId: 1,
      method: 'Proxy.Watch',
      body: { proxyId: 'web-sidecar' },
    },
    { type: FrameType.StreamMessage, streamId: 1, body: { version: 3 } },
    { type: FrameType.StreamEnd, streamId: 1 },
    { type: FrameType.StreamCancel, streamId: 2, code: 'ERR_RPC_STREAM_CANCELLED', message: 'bye' },
    { type: FrameType.StreamCredit, streamId: 2, n: 32 },
  ];
  for (const f of frames) t.deepEqual(decodeFrame(encodeFrame(f)), f);
});

test('malformed frames are rejected with FrameError naming the problem', (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['empty input', '', /not msgpack/],
    ['not an array', 'a3616263', /non-empty array/],
    ['empty array', '90', /non-empty array/],
    ['unknown type', '9263c0', /unknown frame type 99/],
    ['request with 3 fields', '930001a161', /Request has 3 fields/],
    ['negative id', '9400ffa161c0', /id must be a non-negative integer/],
    ['method not a string', '94000101c0', /method must be a string/],
    ['empty method', '940001a0c0', /method must be 1\.\.128/],
    ['error meta not a map', '950201a178a179c0', /meta must be a map/],
    ['zero credit', '93070100', /credit must be positive/],
    ['truncated', '940001ab5374', /not msgpack/],
  ];
  for (const [name, hex, re] of cases) {
    const e = t.throws(
      () => decodeFrame(Buffer.from(hex, 'hex')),
      { instanceOf: FrameError },
      name,
    );
    t.regex(e.message, re, name);
  }
});

test('random and mutated bytes never throw anything but FrameError', (t) => {
  const rng = new Prng(2024);
  const valid = encodeFrame({
    type: FrameType.Request,
    id: 99,
    method: 'Raft.AppendEntries',
    body: { e: [1, 2] },
  });
  let rejected = 0;
  for (let i = 0; i < 5000; i++) {
    let buf: Buffer;
    if (i % 2 === 0) {
      buf = Buffer.alloc(rng.int(64));
      for (let j = 0; j < buf.length; j++) buf[j] = rng.int(256);
    } else {
      buf = Buffer.from(valid);
      const flips = 1 + rng.int(3);
      for (let k = 0; k < flips; k++) buf[rng.int(buf.length)] = rng.int(256);
      if (rng.chance(0.3)) buf = buf.subarray(0, rng.int(buf.length));
    }
    try {
      decodeFrame(buf);
    } catch (e) {
      if (!(e instanceof FrameError))
        t.fail(`seed 2024 input ${buf.toString('hex')} threw ${String(e)}`);
      rejected++;
    }
  }
  t.true(rejected > 2500);
});
