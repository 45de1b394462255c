// Golden snapshot tests: each test/golden/<case>.input.json is compiled with
// compileProxySnapshot and compared with <case>.output.json. After an intended change, rewrite
// the outputs with `UPDATE_GOLDEN=1 npx ava packages/connect/test/snapshot.test.ts` (after
// `npx tsc -b`) and review the diff.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { format } from 'prettier';
import {
  ConnectError,
  canonicalJson,
  compileAuthorizer,
  compileProxySnapshot,
  decodeConfigEntry,
  ingressDomains,
  snapshotHash,
  snapshotsEqual,
  upstreamId,
  type ProxySnapshot,
  type ServiceDefaultsEntry,
} from '../src/index.js';
import { notPlain, service, snapshotInput, type GoldenInput } from './helpers.js';

// Tests run from dist/test: resolve the golden files from the package root.
const goldenDir = fileURLToPath(new URL('../../test/golden/', import.meta.url));
const update = process.env['UPDATE_GOLDEN'] === '1';

const cases = readdirSync(goldenDir)
  .filter((f) => f.endsWith('.input.json'))
  .map((f) => f.slice(0, -'.input.json'.length))
  .sort();

function load(name: string): GoldenInput {
  return JSON.parse(readFileSync(`${goldenDir}${name}.input.json`, 'utf8')) as GoldenInput;
}

test('there are golden cases', (t) => {
  t.true(cases.length >= 8, `found ${cases.join(', ')}`);
});

for (const name of cases) {
  test(`golden: ${name}`, async (t) => {
    const snapshot = compileProxySnapshot(snapshotInput(load(name)));
    t.is(notPlain(snapshot), null, 'the snapshot is plain data');
    const text = await format(JSON.stringify(snapshot), { parser: 'json', printWidth: 100 });
    const path = `${goldenDir}${name}.output.json`;
    if (update) {
      writeFileSync(path, text);
      t.pass(`wrote ${path}`);
      return;
    }
    let expected: unknown;
    try {
      expected = JSON.parse(readFileSync(path, 'utf8'));
    } catch {
      t.fail(`${path} is missing or unreadable: run with UPDATE_GOLDEN=1`);
      return;
    }
    t.deepEqual(JSON.parse(JSON.stringify(snapshot)), expected);
    // Deterministic: compiling again gives the same bytes.
    t.is(canonicalJson(compileProxySnapshot(snapshotInput(load(name)))), canonicalJson(snapshot));
  });
}

function golden(name: string): ProxySnapshot {
  return compileProxySnapshot(snapshotInput(load(name)));
}

test('snapshotHash and snapshotsEqual ignore key order and see every change', (t) => {
  const a = golden('sidecar-two-upstreams');
  const b = golden('sidecar-two-upstreams');
  t.is(snapshotHash(a), snapshotHash(b));
  t.true(snapshotsEqual(a, b));
  const reordered = JSON.parse(
    JSON.stringify(Object.fromEntries(Object.entries(a).reverse())),
  ) as ProxySnapshot;
  t.is(snapshotHash(reordered), snapshotHash(a));
  const changed: ProxySnapshot = {
    ...a,
    upstreams: a.upstreams.map((u, i) => (i === 0 ? { ...u, connectTimeoutMs: 1 } : u)),
  };
  t.not(snapshotHash(changed), snapshotHash(a));
  t.false(snapshotsEqual(changed, a));
  t.regex(snapshotHash(a), /^[0-9a-f]{64}$/);
});

test('the compiled authz survives a JSON trip and decides as expected', (t) => {
  const s = golden('l7-permissions');
  const authz = s.publicListener?.authz;
  if (authz === undefined) return t.fail('no public listener');
  const az = compileAuthorizer(JSON.parse(JSON.stringify(authz)) as typeof authz);
  const req = (method: string, path: string, headers: Record<string, string> = {}) => ({
    method,
    path,
    headers,
  });
  t.false(az.request('web', req('GET', '/admin/users', { 'x-env': 'prod' })).allowed);
  t.true(az.request('web', req('GET', '/v1/items?x=1', { 'X-Env': 'prod' })).allowed);
  t.true(az.request('web', req('GET', '/v1/items', { 'x-env': 'dev' })).allowed, 'default allow');
  t.true(az.request('web', req('GET', '/healthz')).allowed);
  t.false(az.connection('web').allowed, 'an L7 intention denies a bare connection');
  t.true(az.request('other', req('GET', '/public')).allowed);
  t.is(az.request('other', req('GET', '/private')).permission, undefined);

  const l4 = golden('l4-intentions').publicListener?.authz;
  if (l4 === undefined) return t.fail('no public listener');
  const l4az = compileAuthorizer(l4);
  t.true(l4az.connection('web').allowed);
  t.false(l4az.connection('billing').allowed);
  t.false(l4az.connection('admin').allowed, '* -> db (8) outranks admin -> * (6)');
  t.false(l4az.connection('anyone').allowed);
});

test('a service that is not a proxy is refused', (t) => {
  const input = snapshotInput(load('missing-leaf'));
  const err = t.throws(
    () => compileProxySnapshot({ ...input, proxy: service({ Service: 'web', Port: 8080 }) }),
    { instanceOf: ConnectError },
  );
  t.is(err?.code, 'CONNECT_INVALID_SNAPSHOT_INPUT');
});

test('upstream IDs and ingress domains follow Consul', (t) => {
  t.is(upstreamId({ DestinationType: '', DestinationName: 'db', Datacenter: '' }), 'db');
  t.is(
    upstreamId({ DestinationType: 'service', DestinationName: 'db', Datacenter: 'dc2' }),
    'db?dc=dc2',
  );
  t.is(
    upstreamId({ DestinationType: 'prepared_query', DestinationName: 'q', Datacenter: '' }),
    'prepared_query:q',
  );
  t.deepEqual(ingressDomains('web', [], 8080), ['web.ingress.*', 'web.ingress.*:8080']);
  t.deepEqual(ingressDomains('web', ['a.com', 'b.com:9'], 80), ['a.com', 'b.com:9', 'a.com:80']);
});

test('lookups by upstream name never reach Object.prototype', (t) => {
  const input = snapshotInput(load('missing-leaf'));
  const proxy = service(
    {
      ID: 'web-sidecar-proxy',
      Service: 'web-sidecar-proxy',
      Kind: 'connect-proxy',
      Port: 21000,
      Proxy: {
        DestinationServiceName: 'web',
        LocalServicePort: 8080,
        Upstreams: [
          { DestinationName: 'constructor', LocalBindPort: 9001 },
          { DestinationName: 'toString', LocalBindPort: 9002 },
        ],
      },
    },
    'node-a',
  );
  const s = compileProxySnapshot({ ...input, proxy, upstreamInstances: {}, serviceDefaults: {} });
  t.deepEqual(
    s.upstreams.map((u) => [u.id, u.protocol, u.endpoints.length]),
    [
      ['constructor', 'tcp', 0],
      ['toString', 'tcp', 0],
    ],
  );
});

test('service-defaults LocalRequestTimeoutMs is the public listener timeout; the proxy Config wins', (t) => {
  const input = snapshotInput(load('missing-leaf'));
  const sd = decodeConfigEntry({
    Kind: 'service-defaults',
    Name: 'web',
    Protocol: 'http',
    LocalRequestTimeoutMs: 30000,
  }) as ServiceDefaultsEntry;
  const withDefaults = compileProxySnapshot({ ...input, serviceDefaults: { web: sd } });
  t.is(withDefaults.publicListener?.localRequestTimeoutMs, 30000);
  t.is(
    compileProxySnapshot(input).publicListener?.localRequestTimeoutMs,
    0,
    '0: the proxy default',
  );
  const proxy = {
    ...input.proxy,
    Proxy: { ...input.proxy.Proxy, Config: { local_request_timeout_ms: '5000' } },
  };
  const own = compileProxySnapshot({ ...input, proxy, serviceDefaults: { web: sd } });
  t.is(own.publicListener?.localRequestTimeoutMs, 5000);
});
