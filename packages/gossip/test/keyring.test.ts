// Keyring and envelope: round trips, key rules, key format errors, and hostile bytes.
import test from 'ava';
import { Prng } from '@trellis/testkit';
import {
  ENVELOPE_OVERHEAD,
  IoErrorCode,
  Keyring,
  ReplayCache,
  generateKey,
  isGossipIoError,
  openEnvelope,
  parseKey,
  sealEnvelope,
} from '../src/index.js';

// A key in `consul keygen` form (32 bytes, base64 with padding).
const CONSUL_KEY = 'pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=';
const AAD = new Uint8Array([1]);
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isGossipIoError(e) ? e.code : `not a GossipIoError: ${String(e)}`;
  }
  return undefined;
}

test('parseKey accepts Consul keygen keys and generateKey makes them', (t) => {
  t.is(parseKey(CONSUL_KEY).length, 32);
  const k = generateKey();
  t.is(parseKey(k).toString('base64'), k);
  t.not(generateKey(), k);
});

test('key format errors say what is wrong', (t) => {
  const short = Buffer.alloc(16, 7).toString('base64');
  const e1 = t.throws(() => parseKey(short));
  t.true(isGossipIoError(e1) && e1.code === IoErrorCode.KeyInvalid);
  t.regex(e1.message, /decodes to 16 bytes, want 32/);
  const e2 = t.throws(() => parseKey('not base64 at all!'));
  t.regex(e2.message, /not standard padded base64/);
  t.is(
    codeOf(() => parseKey('')),
    IoErrorCode.KeyInvalid,
  );
  // Unpadded, and base64url alphabet, are refused (Consul writes padded standard base64).
  t.is(
    codeOf(() => parseKey(CONSUL_KEY.slice(0, -1))),
    IoErrorCode.KeyInvalid,
  );
  t.is(
    codeOf(() => parseKey(CONSUL_KEY.replace('/', '_'))),
    IoErrorCode.KeyInvalid,
  );
  // The key itself never appears in the message.
  t.false(e1.message.includes(short));
  t.is(
    codeOf(() => new Keyring([])),
    IoErrorCode.KeyInvalid,
  );
});

test('round trip; wrong key and wrong AAD fail authentication', (t) => {
  const ring = new Keyring([CONSUL_KEY]);
  const plain = text('hello gossip');
  const env = ring.seal(plain, AAD);
  t.is(env.length, plain.length + ENVELOPE_OVERHEAD);
  t.is(env[0], 1);
  const opened = ring.open(env, AAD);
  t.true(opened.ok);
  if (opened.ok) t.deepEqual(opened.plain, plain);
  t.deepEqual(new Keyring([generateKey()]).open(env, AAD), { ok: false, reason: 'decrypt' });
  t.deepEqual(ring.open(env, new Uint8Array([2])), { ok: false, reason: 'decrypt' });
  // Two seals of the same plaintext differ (random nonce).
  t.notDeepEqual(ring.seal(plain, AAD), env);
  // Empty plaintext is fine.
  const e0 = ring.open(ring.seal(new Uint8Array(0), AAD), AAD);
  t.true(e0.ok && e0.plain.length === 0);
});

test('install / use / remove follow memberlist rules', (t) => {
  const k1 = generateKey();
  const k2 = generateKey();
  const ring = new Keyring([k1, k1]);
  t.deepEqual(ring.list(), [k1]);
  t.is(
    codeOf(() => ring.use(k2)),
    IoErrorCode.KeyNotInstalled,
  );
  t.is(
    codeOf(() => ring.remove(k2)),
    IoErrorCode.KeyNotInstalled,
  );
  t.is(
    codeOf(() => ring.remove(k1)),
    IoErrorCode.KeyIsPrimary,
  );
  t.is(
    codeOf(() => ring.install('xx')),
    IoErrorCode.KeyInvalid,
  );

  const oldPacket = ring.seal(text('old'), AAD);
  t.true(ring.install(k2));
  t.false(ring.install(k2));
  t.deepEqual(ring.list(), [k1, k2]);
  t.is(ring.primary(), k1);
  ring.use(k2);
  t.deepEqual(ring.list(), [k2, k1]);
  // New packets are sealed with k2; both keys still open.
  const newPacket = ring.seal(text('new'), AAD);
  t.true(new Keyring([k2]).open(newPacket, AAD).ok);
  t.false(new Keyring([k1]).open(newPacket, AAD).ok);
  const o = ring.open(oldPacket, AAD);
  t.true(o.ok && o.keyIndex === 1);
  ring.remove(k1);
  t.deepEqual(ring.list(), [k2]);
  t.deepEqual(ring.open(oldPacket, AAD), { ok: false, reason: 'decrypt' });
  t.is(
    codeOf(() => ring.remove(k2)),
    IoErrorCode.KeyIsPrimary,
  );
});

test('hostile bytes never throw and never authenticate', (t) => {
  const prng = new Prng(20261123);
  const key = parseKey(CONSUL_KEY);
  const valid = sealEnvelope(key, text('a real packet body'), AAD);
  const reasons = new Map<string, number>();
  const note = (r: string): void => void reasons.set(r, (reasons.get(r) ?? 0) + 1);
  for (let i = 0; i < 3000; i++) {
    let input: Uint8Array;
    switch (i % 4) {
      case 0: {
        input = new Uint8Array(prng.int(200));
        for (let j = 0; j < input.length; j++) input[j] = prng.int(256);
        break;
      }
      case 1:
        input = valid.slice(0, prng.int(valid.length));
        break;
      case 2: {
        input = valid.slice();
        const at = prng.int(input.length);
        input[at] = input[at]! ^ (1 + prng.int(255));
        break;
      }
      default: {
        input = new Uint8Array(1 + prng.int(100));
        input[0] = 1; // right version byte, random rest
        for (let j = 1; j < input.length; j++) input[j] = prng.int(256);
      }
    }
    let r;
    try {
      r = openEnvelope([key], input, AAD);
    } catch (e) {
      t.fail(`threw on case ${i}: ${String(e)}`);
      return;
    }
    if (r.ok) {
      t.fail(`hostile input ${i} authenticated`);
      return;
    }
    note(r.reason);
  }
  t.true((reasons.get('truncated') ?? 0) > 0);
  t.true((reasons.get('garbage') ?? 0) > 0);
  t.true((reasons.get('decrypt') ?? 0) > 0);
  t.deepEqual(openEnvelope([], valid, AAD), { ok: false, reason: 'decrypt' });
});

test('replay cache remembers a bounded window of nonces', (t) => {
  const c = new ReplayCache(3);
  const n = (i: number): Uint8Array => new Uint8Array(12).fill(i);
  t.false(c.seen(n(1)));
  t.true(c.seen(n(1)));
  t.false(c.seen(n(2)));
  t.false(c.seen(n(3)));
  t.false(c.seen(n(4))); // evicts 1
  t.false(c.seen(n(1)));
  t.true(c.seen(n(4)));
  const off = new ReplayCache(0);
  t.false(off.seen(n(1)));
  t.false(off.seen(n(1)));
});
