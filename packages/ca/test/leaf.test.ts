// Leaf signing: contents as Consul's provider issues them, chains checked by Node, OpenSSL
// and a real mutual-TLS handshake.
import test from 'ava';
import { createHash, createPrivateKey } from 'node:crypto';
import {
  CLOCK_SKEW_MS,
  certificateInfo,
  createLeafKeyAndCsr,
  createSigner,
  generateRoot,
  spiffeIdForAgent,
  type SignedLeaf,
} from '../src/index.js';
import {
  CLUSTER_ID,
  DC,
  TRUST_DOMAIN,
  handshake,
  newRoot,
  openssl,
  opensslVerify,
  rootAndSigner,
  serviceUri,
  signService,
  splitPem,
  x509,
} from './helpers.js';

test('leaf contents', async (t) => {
  const { root, signer } = await rootAndSigner();
  const now = new Date('2031-05-06T07:08:09.999Z');
  const { csrPem } = await createLeafKeyAndCsr({
    uri: serviceUri('web'),
    dnsNames: ['web.service.consul:8443', 'web.service.consul', 'alt.example'],
    ipAddresses: ['10.1.2.3', 'fd00::1'],
  });
  const ttlMs = 72 * 3_600_000;
  const leaf = await signer.signLeaf(csrPem, {
    trustDomain: TRUST_DOMAIN,
    datacenter: DC,
    ttlMs,
    now,
  });
  const info = certificateInfo(leaf.certPem);
  const rootInfo = certificateInfo(root.certPem);

  t.deepEqual(info.uris, [serviceUri('web')]);
  t.deepEqual(info.dnsNames, ['web.service.consul', 'alt.example']);
  t.deepEqual(info.ipAddresses, ['10.1.2.3', 'fd00::1']);
  t.false(info.isCa);
  t.deepEqual(info.keyUsage, [
    'digitalSignature',
    'keyEncipherment',
    'dataEncipherment',
    'keyAgreement',
  ]);
  t.deepEqual(info.extKeyUsage, ['clientAuth', 'serverAuth']);
  t.is(info.subject, '');
  t.is(info.issuer, rootInfo.subject);
  t.is(info.authorityKeyId, rootInfo.subjectKeyId);
  const spki = x509(leaf.certPem).publicKey.export({ type: 'spki', format: 'der' });
  t.is(
    info.subjectKeyId,
    createHash('sha256')
      .update(spki)
      .digest('hex')
      .replace(/(..)(?!$)/g, '$1:'),
  );
  // Valid from a minute before now (whole seconds), for the TTL.
  const nowS = Date.parse('2031-05-06T07:08:09Z');
  t.is(info.notBefore, new Date(nowS - CLOCK_SKEW_MS).toISOString());
  t.is(info.notAfter, new Date(nowS + ttlMs).toISOString());
  t.is(leaf.validAfter, info.notBefore);
  t.is(leaf.validBefore, info.notAfter);
  t.is(leaf.serialNumber, info.serialNumber);
  t.regex(leaf.serialNumber, /^[0-9a-f]{2}(:[0-9a-f]{2}){0,7}$/);
  t.is(leaf.service, 'web');
  t.is(leaf.serviceUri, serviceUri('web'));
  t.is(leaf.agent, undefined);
  t.is(leaf.spiffeId.kind, 'service');

  const text = await openssl(['x509', '-noout', '-text'], leaf.certPem);
  t.regex(text, /Basic Constraints: critical\s+CA:FALSE/);
  t.regex(
    text,
    /Key Usage: critical\s+Digital Signature, Key Encipherment, Data Encipherment, Key Agreement/,
  );
  t.regex(text, /Subject Alternative Name: critical/);
  t.regex(
    text,
    /Extended Key Usage: \s*TLS Web Client Authentication, TLS Web Server Authentication/,
  );
});

test('serials are random and unique unless given', async (t) => {
  const { signer } = await rootAndSigner();
  const { csrPem } = await createLeafKeyAndCsr({ uri: serviceUri('db') });
  const opts = { trustDomain: TRUST_DOMAIN, datacenter: DC, ttlMs: 3_600_000, now: new Date() };
  const serials = new Set<string>();
  for (let i = 0; i < 300; i++) {
    const leaf = await signer.signLeaf(csrPem, opts);
    serials.add(leaf.serialNumber);
    // Minimal, as Consul's EncodeSerialNumber: no leading zero byte, and what the cert holds.
    t.false(leaf.serialNumber.startsWith('00'), leaf.serialNumber);
    if (i % 50 === 0) t.is(certificateInfo(leaf.certPem).serialNumber, leaf.serialNumber);
  }
  t.is(serials.size, 300);
  const fixed = await signer.signLeaf(csrPem, { ...opts, serialNumber: 258 });
  t.is(fixed.serialNumber, '01:02');
  t.is(certificateInfo(fixed.certPem).serialNumber, '01:02');
  const big = await signer.signLeaf(csrPem, { ...opts, serialNumber: 2n ** 64n - 1n });
  t.is(big.serialNumber, 'ff:ff:ff:ff:ff:ff:ff:ff');
});

test('the chain verifies with Node and OpenSSL', async (t) => {
  const { root, signer } = await rootAndSigner();
  const leaf = await signService(signer, 'api');
  const cert = x509(leaf.certPem);
  const rootCert = x509(root.certPem);
  t.true(cert.verify(rootCert.publicKey));
  t.true(cert.checkIssued(rootCert));
  t.true(cert.checkPrivateKey(createPrivateKey(leaf.keyPem)));
  const ok = await opensslVerify({
    caFile: root.certPem,
    leaf: leaf.certPem,
    purpose: 'sslserver',
  });
  t.true(ok.ok, ok.output);
  const client = await opensslVerify({
    caFile: root.certPem,
    leaf: leaf.certPem,
    purpose: 'sslclient',
  });
  t.true(client.ok, client.output);

  const other = await newRoot();
  t.false(cert.verify(x509(other.certPem).publicKey));
  t.false(cert.checkIssued(x509(other.certPem)));
  const bad = await opensslVerify({ caFile: other.certPem, leaf: leaf.certPem });
  t.false(bad.ok);
});

test('mutual TLS between two leaves of one root', async (t) => {
  const { root, signer } = await rootAndSigner();
  const server = await signService(signer, 'web');
  const client = await signService(signer, 'api');
  const res = await handshake(
    { cert: server.certPem, key: server.keyPem, ca: [root.certPem] },
    { cert: client.certPem, key: client.keyPem, ca: [root.certPem] },
  );
  t.true(res.ok, res.error);
  t.is(res.clientSawServer, `URI:${serviceUri('web')}`);
  t.is(res.serverSawClient, `URI:${serviceUri('api')}`);
});

test('TLS fails against a different root', async (t) => {
  const { root, signer } = await rootAndSigner();
  const other = await rootAndSigner();
  const server = await signService(signer, 'web');
  const client = await signService(signer, 'api');
  const stranger = await signService(other.signer, 'api');
  // The client trusts another root: it rejects the server.
  const a = await handshake(
    { cert: server.certPem, key: server.keyPem, ca: [root.certPem] },
    { cert: client.certPem, key: client.keyPem, ca: [other.root.certPem] },
  );
  t.false(a.ok);
  // The client's certificate comes from another root: the server rejects it.
  const b = await handshake(
    { cert: server.certPem, key: server.keyPem, ca: [root.certPem] },
    { cert: stranger.certPem, key: stranger.keyPem, ca: [root.certPem] },
  );
  t.false(b.ok);
});

test('agent certificates', async (t) => {
  const { root, signer } = await rootAndSigner();
  const uri = spiffeIdForAgent({ trustDomain: TRUST_DOMAIN, datacenter: DC, node: 'node-7' });
  const { csrPem } = await createLeafKeyAndCsr({ uri });
  const leaf = await signer.signLeaf(csrPem, {
    trustDomain: TRUST_DOMAIN,
    datacenter: DC,
    ttlMs: 3_600_000,
    now: new Date(),
  });
  t.is(leaf.agent, 'node-7');
  t.is(leaf.agentUri, uri);
  t.is(leaf.service, '');
  t.is(leaf.serviceUri, '');
  t.deepEqual(certificateInfo(leaf.certPem).uris, [uri]);
  t.true((await opensslVerify({ caFile: root.certPem, leaf: leaf.certPem })).ok);
});

test('key types: P-384 and RSA leaves, P-384 and RSA CAs', async (t) => {
  const now = new Date();
  const opts = { trustDomain: TRUST_DOMAIN, datacenter: DC, ttlMs: 3_600_000, now };
  const roots = [
    await newRoot({ keyBits: 384 }),
    await generateRoot({
      trustDomain: TRUST_DOMAIN,
      clusterId: CLUSTER_ID,
      now,
      keyType: 'rsa',
      keyBits: 2048,
    }),
  ];
  const csrs = [
    await createLeafKeyAndCsr({ uri: serviceUri('a'), keyBits: 384 }),
    await createLeafKeyAndCsr({ uri: serviceUri('b'), keyType: 'rsa', keyBits: 2048 }),
    await createLeafKeyAndCsr({ uri: serviceUri('c') }),
  ];
  for (const root of roots) {
    const signer = await createSigner({ certPem: root.certPem, keyPem: root.keyPem });
    t.is(signer.signingKeyId, root.info.signingKeyId);
    for (const { csrPem, keyPem } of csrs) {
      const leaf: SignedLeaf = await signer.signLeaf(csrPem, opts);
      const v = await opensslVerify({ caFile: root.certPem, leaf: leaf.certPem });
      t.true(v.ok, v.output);
      const res = await handshake(
        { cert: leaf.certPem, key: keyPem, ca: [root.certPem] },
        { cert: leaf.certPem, key: keyPem, ca: [root.certPem] },
      );
      t.true(res.ok, res.error);
    }
  }
});

test('intermediates follow the leaf, as Consul returns them', async (t) => {
  const root = await newRoot();
  const extra = await newRoot();
  const signer = await createSigner({
    certPem: root.certPem,
    keyPem: root.keyPem,
    intermediatesPem: [extra.certPem],
  });
  const leaf = await signService(signer, 'web');
  const parts = splitPem(leaf.certPem);
  t.is(parts.length, 2);
  t.is(parts[1], x509(extra.certPem).toString());
  t.false(certificateInfo(parts[0] ?? '').isCa);
  t.is(leaf.certPem, parts.join(''));
});
