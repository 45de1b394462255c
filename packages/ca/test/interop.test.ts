// Interoperability: CSRs made by OpenSSL, dates past 2049, and the DER helpers' edge cases.
import test from 'ava';
import { generateKeyPairSync } from 'node:crypto';
import {
  certificateInfo,
  colonHex,
  createSigner,
  generateRoot,
  normalizeDnsSans,
  parsePemBlocks,
} from '../src/index.js';
import { ipToString, parseIp } from '../src/cert.js';
import { DerError, DerReader, Tag, readTime, time } from '../src/der.js';
import {
  CLUSTER_ID,
  DC,
  TRUST_DOMAIN,
  newRoot,
  opensslVerify,
  opensslWithFiles,
  serviceUri,
} from './helpers.js';

test('CSRs made by openssl req are signed', async (t) => {
  const root = await newRoot();
  const signer = await createSigner({ certPem: root.certPem, keyPem: root.keyPem });
  const keys = [
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
    generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey,
    generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
  ];
  for (const key of keys) {
    const keyPem = key.export({ type: 'pkcs8', format: 'pem' }).toString();
    const csrPem = await opensslWithFiles({ 'k.pem': keyPem }, (p) => [
      'req',
      '-new',
      '-key',
      p['k.pem'] ?? '',
      '-subj',
      '/CN=ignored',
      '-addext',
      `subjectAltName=URI:${serviceUri('legacy')},DNS:legacy.example,IP:192.0.2.7`,
    ]);
    const leaf = await signer.signLeaf(csrPem, {
      trustDomain: TRUST_DOMAIN,
      datacenter: DC,
      ttlMs: 3_600_000,
      now: new Date(),
    });
    const info = certificateInfo(leaf.certPem);
    t.deepEqual(info.uris, [serviceUri('legacy')]);
    t.deepEqual(info.dnsNames, ['legacy.example']);
    t.deepEqual(info.ipAddresses, ['192.0.2.7']);
    t.is(info.subject, '');
    const v = await opensslVerify({ caFile: root.certPem, leaf: leaf.certPem });
    t.true(v.ok, v.output);
  }
});

test('validity past 2049 uses GeneralizedTime', async (t) => {
  const now = new Date('2045-01-01T00:00:00Z');
  const root = await generateRoot({
    trustDomain: TRUST_DOMAIN,
    clusterId: CLUSTER_ID,
    now,
    ttlMs: 20 * 365 * 86_400_000,
  });
  t.is(certificateInfo(root.certPem).notAfter, '2064-12-27T00:00:00.000Z');
  t.is(root.info.notAfter, '2064-12-27T00:00:00.000Z');
  for (const iso of [
    '1950-01-01T00:00:00.000Z',
    '2049-12-31T23:59:59.000Z',
    '2050-01-01T00:00:00.000Z',
    '9999-12-31T23:59:59.000Z',
  ]) {
    const enc = time(new Date(iso));
    t.is(enc[0], new Date(iso).getUTCFullYear() < 2050 ? Tag.UtcTime : Tag.GeneralizedTime);
    t.is(readTime(new DerReader(enc).next()).toISOString(), iso);
  }
  t.throws(
    () => readTime(new DerReader(Buffer.from('170d3235313333313030303030305a', 'hex')).next()),
    {
      instanceOf: DerError,
    },
  );
});

test('IP addresses, hex, PEM blocks, DNS SANs', (t) => {
  const ips: Array<[string, string]> = [
    ['127.0.0.1', '127.0.0.1'],
    ['::1', '0:0:0:0:0:0:0:1'],
    ['fd00::1:2', 'fd00:0:0:0:0:0:1:2'],
    ['2001:db8::', '2001:db8:0:0:0:0:0:0'],
    ['::ffff:10.1.2.3', '0:0:0:0:0:ffff:a01:203'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
  ];
  for (const [text, canonical] of ips) {
    const b = parseIp(text);
    t.truthy(b, text);
    t.is(ipToString(b ?? Buffer.alloc(0)), canonical);
  }
  for (const bad of ['1.2.3', '256.1.1.1', 'fe80::1%eth0', 'x', '', '1:2:3:4:5:6:7:8:9']) {
    t.is(parseIp(bad), undefined, bad);
  }
  t.is(colonHex(Buffer.from([0, 1, 0xab])), '00:01:ab');
  const blocks = parsePemBlocks(
    'junk\n-----BEGIN A-----\nAQ==\n-----END A-----\ntext\n-----BEGIN B-----\nAgM=\n-----END B-----\n',
  );
  t.deepEqual(
    blocks.map((b) => [b.label, b.der.toString('hex')]),
    [
      ['A', '01'],
      ['B', '0203'],
    ],
  );
  t.deepEqual(normalizeDnsSans(['a:80', 'a', '', ':90', 'b.example']), ['a', 'b.example']);
});
