// encodeGo: Go's encoding/json output, through JSON.stringify where JS can reproduce it and
// through the slow encoder where it cannot (maps with integer-like keys).
import test from 'ava';
import { Prng } from '@trellis/testkit';
import { encodeGo, goMap } from '../../src/http/catalog.js';

test('Go maps are written with keys in byte order, integer-like keys included', (t) => {
  const m = goMap({ b: 1, '10': 2, a: 3, '9': 4, Z: 5 });
  // Go sorts map keys as byte strings: "10" < "9" < "Z" < "a" < "b".
  t.is(encodeGo(m, false), '{"10":2,"9":4,"Z":5,"a":3,"b":1}');
  t.is(encodeGo({ Services: goMap({ b: {}, a: [] }) }, false), '{"Services":{"a":[],"b":{}}}');
});

test('structs keep field order; bytes are base64; HTML characters are escaped as Go does', (t) => {
  const v = { Z: '<a&b>', A: new Uint8Array([104, 105]), U: undefined, N: null, L: '\u2028' };
  t.is(encodeGo(v, false), '{"Z":"\\u003ca\\u0026b\\u003e","A":"aGk=","N":null,"L":"\\u2028"}');
  t.is(
    encodeGo({ a: [1, { b: [] }], c: {} }, true),
    '{\n    "a": [\n        1,\n        {\n            "b": []\n        }\n    ],\n    "c": {}\n}\n',
  );
});

test('the fast path and the slow encoder agree on random values', (t) => {
  const rng = new Prng(7);
  const key = (): string =>
    rng.chance(0.2) ? String(rng.int(200)) : ['a', 'B', 'x<y', 'é', '\u2029', 'k'][rng.int(6)]!;
  const value = (depth: number): unknown => {
    const r = rng.int(depth > 3 ? 4 : 7);
    if (r === 0) return rng.int(1000) - 500;
    if (r === 1) return rng.chance(0.5);
    if (r === 2) return null;
    if (r === 3) return ['', 'plain', '<&>', 'quote"s', 'line\nbreak'][rng.int(5)];
    if (r === 4) return Array.from({ length: rng.int(4) }, () => value(depth + 1));
    const o: Record<string, unknown> = {};
    for (let i = rng.int(5); i > 0; i--) o[key()] = value(depth + 1);
    return r === 5 ? o : goMap(o);
  };
  for (let i = 0; i < 500; i++) {
    const v = value(0);
    const fast = encodeGo(v, false);
    // Re-encode through a container holding an order-sensitive map: forces the slow path.
    const slow = encodeGo([v, goMap({ '1': 0 })], false);
    t.is(`[${fast},{"1":0}]`, slow, `value ${i}`);
  }
});
