// Root generation and loading: contents as Consul's provider makes them, and id formats.
import test from 'ava';
import { createHash, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import {
  DEFAULT_ROOT_TTL_MS,
  ROOT_NAME,
  certificateInfo,
  generateRoot,
  loadRoot,
  pemToDer,
  rootCommonName,
  rootInfo,
} from '../src/index.js';
import {
  CLUSTER_ID,
  TRUST_DOMAIN,
  openssl,
  opensslWithFiles,
  rejectsWith,
  x509,
} from './helpers.js';

const NOW = new Date('2030-01-02T03:04:05.678Z');
const COLON_HEX = /^[0-9a-f]{2}(:[0-9a-f]{2})*$/;

test("a generated root has Consul's contents", async (t) => {
  const root = await generateRoot({ trustDomain: TRUST_DOMAIN, clusterId: CLUSTER_ID, now: NOW });
  const info = certificateInfo(root.certPem);
  t.regex(info.subject, /^CN=pri-[0-9a-z]{8}\.consul\.ca\.11111111\.consul$/);
  t.is(info.issuer, info.subject);
  t.true(info.isCa);
  t.deepEqual(info.keyUsage, ['digitalSignature', 'keyCertSign', 'cRLSign']);
  t.deepEqual(info.extKeyUsage, []);
  t.deepEqual(info.uris, [`spiffe://${TRUST_DOMAIN}`]);
  t.deepEqual(info.dnsNames, []);
  t.is(info.notBefore, '2030-01-02T03:04:05.000Z');
  t.is(
    info.notAfter,
    new Date(Date.parse('2030-01-02T03:04:05Z') + DEFAULT_ROOT_TTL_MS).toISOString(),
  );
  t.is(info.keyType, 'ec');
  t.is(info.keyBits, 256);
  // Consul's key id: SHA-256 of the SubjectPublicKeyInfo, as both SKID and AKID.
  const spki = x509(root.certPem).publicKey.export({ type: 'spki', format: 'der' });
  const keyId = createHash('sha256')
    .update(spki)
    .digest('hex')
    .replace(/(..)(?!$)/g, '$1:');
  t.is(info.subjectKeyId, keyId);
  t.is(info.authorityKeyId, keyId);

  // Critical flags, as openssl reads them.
  const text = await openssl(['x509', '-noout', '-text'], root.certPem);
  t.regex(text, /Basic Constraints: critical\s+CA:TRUE/);
  t.regex(text, /Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
  t.regex(text, /Signature Algorithm: ecdsa-with-SHA256/);
  // The key is Consul's format and belongs to the certificate.
  t.regex(root.keyPem, /^-----BEGIN EC PRIVATE KEY-----\n/);
  t.true(x509(root.certPem).checkPrivateKey(createPrivateKey(root.keyPem)));
  t.true(x509(root.certPem).verify(x509(root.certPem).publicKey));
});

test('root info: ids, serial, key', async (t) => {
  const root = await generateRoot({
    trustDomain: TRUST_DOMAIN,
    clusterId: CLUSTER_ID,
    now: NOW,
    ttlMs: 3_600_000,
    serial: 4242,
  });
  const { info } = root;
  t.is(info.name, ROOT_NAME);
  t.is(info.serialNumber, 4242);
  t.is(info.serialNumberHex, '10:92');
  t.regex(info.id, COLON_HEX);
  t.is(info.id.length, 20 * 3 - 1); // SHA-1
  t.is(
    info.id,
    createHash('sha1')
      .update(pemToDer(root.certPem))
      .digest('hex')
      .replace(/(..)(?!$)/g, '$1:'),
  );
  t.is<string | null, string | null>(info.signingKeyId, certificateInfo(root.certPem).subjectKeyId);
  t.is(info.signingKeyId.length, 32 * 3 - 1); // SHA-256
  t.is(info.notBefore, '2030-01-02T03:04:05.000Z');
  t.is(info.notAfter, '2030-01-02T04:04:05.000Z');
  t.is(info.privateKeyType, 'ec');
  t.is(info.privateKeyBits, 256);
  t.deepEqual(rootInfo(root.certPem), info);
  t.deepEqual(loadRoot(root.certPem, root.keyPem, { now: NOW }), info);

  const random = await generateRoot({ trustDomain: TRUST_DOMAIN, clusterId: CLUSTER_ID, now: NOW });
  t.true(Number.isSafeInteger(random.info.serialNumber) && random.info.serialNumber > 0);
  t.not(random.info.id, info.id);
});

test('P-384 and RSA roots', async (t) => {
  const p384 = await generateRoot({
    trustDomain: TRUST_DOMAIN,
    clusterId: CLUSTER_ID,
    now: NOW,
    keyBits: 384,
  });
  t.is(p384.info.privateKeyBits, 384);
  t.regex(await openssl(['x509', '-noout', '-text'], p384.certPem), /ecdsa-with-SHA384/);
  const rsa = await generateRoot({
    trustDomain: TRUST_DOMAIN,
    clusterId: CLUSTER_ID,
    now: NOW,
    keyType: 'rsa',
    keyBits: 2048,
  });
  t.is(rsa.info.privateKeyType, 'rsa');
  t.is(rsa.info.privateKeyBits, 2048);
  t.regex(rsa.keyPem, /^-----BEGIN RSA PRIVATE KEY-----\n/);
  t.regex(await openssl(['x509', '-noout', '-text'], rsa.certPem), /sha256WithRSAEncryption/);
  t.true(x509(rsa.certPem).verify(x509(rsa.certPem).publicKey));
});

test('generateRoot option checks', async (t) => {
  const base = { trustDomain: TRUST_DOMAIN, clusterId: CLUSTER_ID, now: NOW };
  await rejectsWith(t, () => generateRoot({ ...base, keyBits: 521 }), 'bad-config', /256 or 384/);
  await rejectsWith(
    t,
    () => generateRoot({ ...base, keyType: 'rsa', keyBits: 1024 }),
    'bad-config',
    /2048 or 4096/,
  );
  await rejectsWith(t, () => generateRoot({ ...base, keyType: 'dsa' as 'ec' }), 'bad-config');
  await rejectsWith(t, () => generateRoot({ ...base, ttlMs: 0 }), 'bad-config');
  await rejectsWith(t, () => generateRoot({ ...base, now: new Date(NaN) }), 'bad-config', /now/);
  await rejectsWith(t, () => generateRoot({ ...base, serial: -1 }), 'bad-config');
  await rejectsWith(
    t,
    () => generateRoot({ ...base, trustDomain: 'not a domain' }),
    'bad-spiffe-id',
  );
});

test("common name as Consul's CACN", (t) => {
  t.is(rootCommonName(CLUSTER_ID, 'AbC-12345678'), 'pri-abc12345.consul.ca.11111111.consul');
});

test('loadRoot accepts an openssl-made root in PKCS#8', async (t) => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const certPem = await opensslWithFiles({ 'key.pem': keyPem }, (p) => [
    'req',
    '-x509',
    '-new',
    '-key',
    p['key.pem'] ?? '',
    '-subj',
    '/CN=User Root',
    '-days',
    '30',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const info = loadRoot(certPem, keyPem, { now: new Date() });
  t.is(info.privateKeyType, 'ec');
  t.is(info.privateKeyBits, 384);
  t.is<string | null, string | null>(info.signingKeyId, certificateInfo(certPem).subjectKeyId);
  // SEC 1 form of the same key works too.
  const sec1 = privateKey.export({ type: 'sec1', format: 'pem' }).toString();
  t.deepEqual(loadRoot(certPem, sec1, { now: new Date() }), info);
});
