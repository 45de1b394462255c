// Agent TLS files as `consul tls ca create` and `consul tls cert create` make them.
import test from 'ava';
import { createPrivateKey } from 'node:crypto';
import {
  CaError,
  certificateInfo,
  createTlsCa,
  createTlsCert,
  nextTlsCertFileNames,
  tlsCaFileNames,
  tlsCertFileNames,
} from '../src/index.js';
import { handshake, openssl, opensslVerify, rejectsWith, x509 } from './helpers.js';

const NOW = new Date('2030-06-01T12:00:00.250Z');

test('the CA', async (t) => {
  const ca = await createTlsCa({ now: NOW });
  const info = certificateInfo(ca.certPem);
  t.regex(info.subject, /^O=Trellis, CN=Trellis Agent CA \d+$/);
  t.true(info.isCa);
  t.deepEqual(info.keyUsage, ['digitalSignature', 'keyCertSign', 'cRLSign']);
  t.is(info.notBefore, '2030-06-01T12:00:00.000Z');
  t.is(
    info.notAfter,
    new Date(Date.parse('2030-06-01T12:00:00Z') + 1825 * 86_400_000).toISOString(),
  );
  t.is(info.subjectKeyId, info.authorityKeyId);
  t.deepEqual(info.uris, []);
  t.true(info.serialNumber.split(':').length >= 15); // 128-bit random
  t.regex(ca.keyPem, /^-----BEGIN EC PRIVATE KEY-----/);
  t.true(x509(ca.certPem).checkPrivateKey(createPrivateKey(ca.keyPem)));

  const named = await createTlsCa({
    now: NOW,
    domain: 'example',
    days: 10,
    commonName: 'My CA',
    clusterId: 'abc-123',
    nameConstraint: true,
    additionalNameConstraints: ['ui.example.com'],
  });
  const n = certificateInfo(named.certPem);
  t.is(n.subject, 'O=Trellis, CN=My CA');
  t.deepEqual(n.uris, ['spiffe://abc-123.example']);
  const text = await openssl(['x509', '-noout', '-text'], named.certPem);
  t.regex(
    text,
    /Name Constraints: critical\s+Permitted:\s+DNS:ui\.example\.com\s+DNS:example\s+DNS:localhost/,
  );
});

test('server, client and CLI certificates', async (t) => {
  const ca = await createTlsCa({ now: new Date() });
  const now = new Date();
  const server = await createTlsCert({
    caCertPem: ca.certPem,
    caKeyPem: ca.keyPem,
    kind: 'server',
    now,
    node: 'node1',
    additionalDnsNames: ['consul.example.com'],
    additionalIps: ['10.0.0.5', '::1'],
  });
  const s = certificateInfo(server.certPem);
  t.is(s.subject, 'CN=server.dc1.consul');
  t.deepEqual(s.dnsNames, [
    'consul.example.com',
    'node1.server.dc1.consul',
    'server.dc1.consul',
    'localhost',
  ]);
  t.deepEqual(s.ipAddresses, ['10.0.0.5', '::1', '127.0.0.1']);
  t.deepEqual(s.extKeyUsage, ['serverAuth', 'clientAuth']);
  t.deepEqual(s.keyUsage, ['digitalSignature', 'keyEncipherment']);
  t.false(s.isCa);
  t.is(s.authorityKeyId, certificateInfo(ca.certPem).subjectKeyId);
  t.is(Date.parse(s.notAfter) - Date.parse(s.notBefore), 365 * 86_400_000);
  const v = await opensslVerify({ caFile: ca.certPem, leaf: server.certPem, purpose: 'sslserver' });
  t.true(v.ok, v.output);
  t.regex(server.keyPem, /^-----BEGIN EC PRIVATE KEY-----/);

  const client = await createTlsCert({
    caCertPem: ca.certPem,
    caKeyPem: ca.keyPem,
    kind: 'client',
    datacenter: 'east',
    domain: 'corp',
    days: 30,
    now,
  });
  const c = certificateInfo(client.certPem);
  t.is(c.subject, 'CN=client.east.corp');
  t.deepEqual(c.dnsNames, ['client.east.corp', 'localhost']);
  t.deepEqual(c.ipAddresses, ['127.0.0.1']);
  t.deepEqual(c.extKeyUsage, ['clientAuth', 'serverAuth']);

  const cli = await createTlsCert({
    caCertPem: ca.certPem,
    caKeyPem: ca.keyPem,
    kind: 'cli',
    now,
    additionalDnsNames: ['ignored.example'],
    additionalIps: ['192.168.0.1'],
  });
  const l = certificateInfo(cli.certPem);
  t.is(l.subject, 'CN=cli.dc1.consul');
  t.deepEqual(l.dnsNames, ['cli.dc1.consul', 'localhost']);
  t.deepEqual(l.ipAddresses, ['192.168.0.1']);
  t.deepEqual(l.extKeyUsage, []);

  // Agents talk TLS with these.
  const res = await handshake(
    { cert: server.certPem, key: server.keyPem, ca: [ca.certPem] },
    { cert: client.certPem, key: client.keyPem, ca: [ca.certPem] },
  );
  t.true(res.ok, res.error);
});

test('bad TLS options', async (t) => {
  const ca = await createTlsCa({ now: NOW });
  const other = await createTlsCa({ now: NOW });
  const base = { caCertPem: ca.certPem, caKeyPem: ca.keyPem, now: NOW };
  await rejectsWith(
    t,
    () => createTlsCert({ ...base, kind: 'peer' as 'server' }),
    'bad-config',
    /kind/,
  );
  await rejectsWith(
    t,
    () => createTlsCert({ ...base, kind: 'client', node: 'n1' }),
    'bad-config',
    /node/,
  );
  await rejectsWith(
    t,
    () => createTlsCert({ ...base, kind: 'server', days: 0 }),
    'bad-config',
    /days/,
  );
  await rejectsWith(
    t,
    () => createTlsCert({ ...base, kind: 'server', additionalIps: ['1.2.3'] }),
    'bad-config',
    /IP/,
  );
  await rejectsWith(
    t,
    () => createTlsCert({ ...base, kind: 'server', datacenter: 'd c' }),
    'bad-config',
  );
  await rejectsWith(
    t,
    () => createTlsCert({ ...base, kind: 'server', caKeyPem: other.keyPem }),
    'bad-key',
  );
  await rejectsWith(t, () => createTlsCa({ now: NOW, domain: '' }), 'bad-config');
  await rejectsWith(t, () => createTlsCa({ now: NOW, days: 1.5 }), 'bad-config');
});

test("Consul's file names", (t) => {
  t.deepEqual(tlsCaFileNames(), { cert: 'consul-agent-ca.pem', key: 'consul-agent-ca-key.pem' });
  t.deepEqual(tlsCaFileNames('corp'), { cert: 'corp-agent-ca.pem', key: 'corp-agent-ca-key.pem' });
  t.deepEqual(tlsCertFileNames({ kind: 'server' }), {
    cert: 'dc1-server-consul-0.pem',
    key: 'dc1-server-consul-0-key.pem',
  });
  t.deepEqual(tlsCertFileNames({ kind: 'cli', datacenter: 'east', domain: 'corp', index: 3 }), {
    cert: 'east-cli-corp-3.pem',
    key: 'east-cli-corp-3-key.pem',
  });
  const existing = new Set(['dc1-client-consul-0.pem', 'dc1-client-consul-1-key.pem']);
  t.deepEqual(
    nextTlsCertFileNames({ kind: 'client' }, (n) => existing.has(n)),
    {
      cert: 'dc1-client-consul-2.pem',
      key: 'dc1-client-consul-2-key.pem',
    },
  );
  t.throws(() => nextTlsCertFileNames({ kind: 'client' }, () => true), { instanceOf: CaError });
});
