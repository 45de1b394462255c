// dns_config checking and Consul's per-service TTL rule (GetTTLForService), recursor
// addresses (recursorAddr), and the error catalog.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  DEFAULT_DNS_CONFIG,
  DNS_ERROR_CATALOG,
  DnsError,
  DnsErrorCode,
  parseRecursor,
  resolveDnsConfig,
  ttlForService,
} from '../src/index.js';

test('service TTLs: an exact name wins, then the longest prefix, then "*", else 0; ms floor to s', (t) => {
  const cfg = resolveDnsConfig({
    ...DEFAULT_DNS_CONFIG,
    service_ttl: { '*': 5_000, 'we*': 10_000, 'web*': 20_999, web: 30_000, 'db-*': 1_500 },
  });
  t.is(ttlForService(cfg, 'web'), 30);
  t.is(ttlForService(cfg, 'webapp'), 20);
  t.is(ttlForService(cfg, 'weather'), 10);
  t.is(ttlForService(cfg, 'db-main'), 1);
  t.is(ttlForService(cfg, 'cache'), 5);
  const none = resolveDnsConfig({ ...DEFAULT_DNS_CONFIG, service_ttl: { web: 1000 } });
  t.is(ttlForService(none, 'cache'), 0);
});

const badConfigs: Array<[string, Record<string, unknown>]> = [
  ['a negative node_ttl', { node_ttl: -1 }],
  ['a non-number max_stale', { max_stale: '5s' }],
  ['a fractional udp_answer_limit', { udp_answer_limit: 1.5 }],
  ['a negative udp_answer_limit', { udp_answer_limit: -1 }],
  ['a negative service TTL', { service_ttl: { web: -5 } }],
  ['a non-boolean allow_stale', { allow_stale: 1 }],
];

for (const [what, patch] of badConfigs) {
  test(`resolveDnsConfig refuses ${what} with DNS_INVALID_OPTION`, (t) => {
    const e = t.throws(() => resolveDnsConfig({ ...DEFAULT_DNS_CONFIG, ...patch }), {
      instanceOf: DnsError,
    });
    t.is(e?.code, DnsErrorCode.InvalidOption);
  });
}

test('recursors: ip, ip:port, [v6]:port and bare v6; port 53 by default', (t) => {
  t.deepEqual(parseRecursor('8.8.8.8'), { host: '8.8.8.8', port: 53, family: 4 });
  t.deepEqual(parseRecursor('127.0.0.1:5353'), { host: '127.0.0.1', port: 5353, family: 4 });
  t.deepEqual(parseRecursor('[::1]:5353'), { host: '::1', port: 5353, family: 6 });
  t.deepEqual(parseRecursor('2001:db8::53'), { host: '2001:db8::53', port: 53, family: 6 });
  t.deepEqual(parseRecursor('[::1]'), { host: '::1', port: 53, family: 6 });
  for (const bad of ['dns.example.com', '1.2.3.4:0', '1.2.3.4:70000', '', '[::1]:x']) {
    t.throws(() => parseRecursor(bad), { instanceOf: DnsError }, bad);
  }
});

test('every error code has a catalog entry and is documented in errors.ts', (t) => {
  const source = readFileSync(
    fileURLToPath(new URL('../../src/errors.ts', import.meta.url)),
    'utf8',
  );
  for (const code of Object.values(DnsErrorCode)) {
    t.true(typeof DNS_ERROR_CATALOG[code] === 'string' && DNS_ERROR_CATALOG[code].length > 0);
    t.true(source.includes(`'${code}'`), code);
  }
});
