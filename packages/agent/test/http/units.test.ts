// Pure pieces of the HTTP layer: Go duration parsing, wait/index rules, error mapping, field
// lookup and the JSON body decoder future endpoints use.
import test from 'ava';
import { StateError, StateErrorCode } from '@trellis/state';
import {
  BackendError,
  HttpError,
  field,
  parseGoDuration,
  parseJsonObject,
  toHttpError,
} from '../../src/http/index.js';
import { parseWait } from '../../src/http/request.js';
import { parseQuery } from '../../src/http/wire.js';

test('parseGoDuration follows Go time.ParseDuration', (t) => {
  const ok: Array<[string, number]> = [
    ['0', 0],
    ['200ms', 200],
    ['1.5s', 1500],
    ['1h2m3s', 3_723_000],
    ['.5s', 500],
    ['1.s', 1000],
    ['+5s', 5000],
    ['-1s', -1000],
    ['100us', 0.1],
    ['100µs', 0.1],
    ['1000ns', 0.001],
  ];
  for (const [s, ms] of ok) t.is(parseGoDuration(s), ms, s);
  for (const s of ['', '10', 's', '.s', '1S', '1d', '1s ', ' 1s', '1e3s', '-', '9999999999h']) {
    t.is(parseGoDuration(s), undefined, s);
  }
});

test('wait: default 5 min without ?wait, capped at 10 min, plus up to wait/16 jitter', (t) => {
  const limits = { defaultQueryTimeMs: 300_000, maxQueryTimeMs: 600_000, random: () => 0 };
  t.deepEqual(parseWait(parseQuery('index=5'), limits), { minIndex: 5, waitMs: 300_000 });
  t.is(parseWait(parseQuery('wait=1h'), limits).waitMs, 600_000);
  t.is(parseWait(parseQuery('wait=-1s'), limits).waitMs, 300_000);
  const max = { ...limits, random: () => 0.999999 };
  t.is(parseWait(parseQuery('wait=160ms'), max).waitMs, 169);
  t.is(parseWait(parseQuery('wait=10m'), max).waitMs, 600_000 + 37_499);
});

test('errors: backend codes and state codes map to Consul statuses', (t) => {
  const cases: Array<[unknown, number, string]> = [
    [new BackendError('NO_LEADER', 'whatever'), 500, 'No cluster leader'],
    [new BackendError('UNAVAILABLE', 'timed out'), 500, 'timed out'],
    [new BackendError('BAD_REQUEST', 'bad peer'), 400, 'bad peer'],
    [new BackendError('NOT_FOUND', 'gone'), 404, 'gone'],
    [new BackendError('INTERNAL', 'boom'), 500, 'boom'],
    [
      new StateError(StateErrorCode.INVALID_COMMAND, 'body.x: bad', { field: 'x' }),
      400,
      'body.x: bad',
    ],
    [
      new StateError(StateErrorCode.TXN_TOO_LARGE, 'too many', { ops: 65, max: 64 }),
      413,
      'too many',
    ],
    [
      new StateError(StateErrorCode.INVALID_SESSION, 'invalid session "s"', {
        key: 'k',
        session: 's',
      }),
      500,
      'invalid session "s"',
    ],
    [new Error('plain'), 500, 'plain'],
    ['thrown string', 500, 'thrown string'],
  ];
  for (const [e, status, body] of cases) {
    const h = toHttpError(e);
    t.true(h instanceof HttpError);
    t.is(h.status, status);
    t.is(h.body, body);
  }
});

test('JSON bodies: field names match case-insensitively (exact first); malformed bodies are Consul 400s', (t) => {
  const o = parseJsonObject(new TextEncoder().encode('{"node":"a","NODE":"b","datacenter":"dc1"}'));
  t.is(field(o, 'NODE'), 'b');
  t.is(field(o, 'Datacenter'), 'dc1');
  t.is(field(o, 'Missing'), undefined);
  for (const bad of ['{', '[1]', 'null', '"x"', '']) {
    const e = t.throws(() => parseJsonObject(new TextEncoder().encode(bad)), {
      instanceOf: HttpError,
    });
    t.is(e?.status, 400);
    t.regex(e?.body ?? '', /^Request decode failed: /);
  }
});

test('query parsing follows Go url.ParseQuery: + is space, repeated keys keep order, bare keys are present', (t) => {
  const q = parseQuery('a=1&a=2&b=x+y&c&&d=%2F');
  t.deepEqual(q.get('a'), ['1', '2']);
  t.deepEqual(q.get('b'), ['x y']);
  t.deepEqual(q.get('c'), ['']);
  t.deepEqual(q.get('d'), ['/']);
});
