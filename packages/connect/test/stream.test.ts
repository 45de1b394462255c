// The proxy stream's messages: what a peer may send, and everything else refused.
import test from 'ava';
import {
  ConnectError,
  MAX_NACK_ERROR_LENGTH,
  decodeProxyStreamDown,
  decodeProxyStreamOpen,
  decodeProxyStreamUp,
} from '../src/index.js';

test('open: a proxy service ID of bounded length', (t) => {
  t.deepEqual(decodeProxyStreamOpen({ proxyId: 'web-sidecar-proxy' }), {
    proxyId: 'web-sidecar-proxy',
  });
  for (const bad of [
    null,
    'x',
    [],
    {},
    { proxyId: '' },
    { proxyId: 7 },
    { proxyId: 'x'.repeat(257) },
  ]) {
    t.throws(() => decodeProxyStreamOpen(bad), { instanceOf: ConnectError }, JSON.stringify(bad));
  }
});

test('up: ack and nack with positive integer versions; long errors are cut', (t) => {
  t.deepEqual(decodeProxyStreamUp({ type: 'ack', version: 3 }), { type: 'ack', version: 3 });
  const n = decodeProxyStreamUp({ type: 'nack', version: 1, error: 'e'.repeat(10_000) });
  t.is(n.type === 'nack' ? n.error.length : 0, MAX_NACK_ERROR_LENGTH);
  for (const bad of [
    null,
    [],
    { type: 'ack' },
    { type: 'ack', version: 0 },
    { type: 'ack', version: 1.5 },
    { type: 'ack', version: '1' },
    { type: 'nack', version: 1 },
    { type: 'nack', version: 1, error: 5 },
    { type: 'hello', version: 1 },
    { __proto__: { type: 'ack', version: 1 } },
  ]) {
    t.throws(() => decodeProxyStreamUp(bad), { instanceOf: ConnectError }, JSON.stringify(bad));
  }
});

test('down: snapshots of a known kind and errors', (t) => {
  t.like(decodeProxyStreamDown({ type: 'error', message: 'no such proxy' }), { type: 'error' });
  t.like(
    decodeProxyStreamDown({ type: 'snapshot', version: 2, snapshot: { kind: 'connect-proxy' } }),
    { type: 'snapshot', version: 2 },
  );
  for (const bad of [
    { type: 'snapshot', version: 1, snapshot: { kind: 'mesh-gateway' } },
    { type: 'snapshot', version: 0, snapshot: { kind: 'connect-proxy' } },
    { type: 'snapshot', version: 1, snapshot: null },
    { type: 'error' },
    { type: 'other' },
  ]) {
    t.throws(() => decodeProxyStreamDown(bad), { instanceOf: ConnectError }, JSON.stringify(bad));
  }
});
