// Bad input: every problem with a CSR, a root or a key is a CaError with the right code and
// a clear message — never another exception.
import test from 'ava';
import { Prng } from '@trellis/testkit';
import { generateKeyPairSync } from 'node:crypto';
import {
  CaError,
  DEFAULT_LEAF_TTL_MS,
  MAX_LEAF_TTL_MS,
  MIN_LEAF_TTL_MS,
  certificateInfo,
  createLeafKeyAndCsr,
  createSigner,
  derToPem,
  generateRoot,
  loadRoot,
  pemToDer,
  spiffeIdForSigning,
  validateLeafTtl,
  type Signer,
} from '../src/index.js';
import { webcrypto, x509 } from '../src/x509.js';
import {
  CLUSTER_ID,
  DC,
  OTHER_CLUSTER_ID,
  TRUST_DOMAIN,
  newRoot,
  opensslWithFiles,
  rejectsWith,
  rootAndSigner,
  serviceUri,
  signService,
} from './helpers.js';

/** A CSR with exactly the given SANs (none at all for an empty list). */
async function csrWith(
  names: Array<{ type: 'url' | 'dns' | 'ip' | 'email'; value: string }>,
  alg: { name: string; namedCurve?: string; modulusLength?: number; hash: string } = {
    name: 'ECDSA',
    namedCurve: 'P-256',
    hash: 'SHA-256',
  },
): Promise<string> {
  const full =
    alg.name === 'RSASSA-PKCS1-v1_5' ? { ...alg, publicExponent: new Uint8Array([1, 0, 1]) } : alg;
  const keys = await webcrypto.subtle.generateKey(full, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: full,
    extensions: names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : [],
  });
  return csr.toString('pem');
}

function opts(overrides: Partial<Parameters<Signer['signLeaf']>[1]> = {}) {
  return {
    trustDomain: TRUST_DOMAIN,
    datacenter: DC,
    ttlMs: DEFAULT_LEAF_TTL_MS,
    now: new Date(),
    ...overrides,
  };
}

test('malformed CSR text', async (t) => {
  const { signer } = await rootAndSigner();
  const { csrPem } = await createLeafKeyAndCsr({ uri: serviceUri('web') });
  const body = csrPem.split('\n').slice(1, -2).join('\n');
  const cases: Array<[unknown, RegExp]> = [
    ['', /no PEM-encoded data/],
    ['hello world', /no PEM-encoded data/],
    [42, /string/],
    [csrPem.replace('-----END CERTIFICATE REQUEST-----', ''), /no PEM|unterminated|malformed/],
    [`-----BEGIN CERTIFICATE REQUEST-----\n${body}\n-----END CERTIFICATE-----\n`, /does not match/],
    ['-----BEGIN CERTIFICATE REQUEST-----\nAAA\n-----END CERTIFICATE REQUEST-----\n', /base64/],
    ['-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n', /base64/],
    ['-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n', /PKCS#10/],
    [
      '-----BEGIN CERTIFICATE REQUEST-----\nZ2FyYmFnZSBnYXJiYWdl\n-----END CERTIFICATE REQUEST-----\n',
      /PKCS#10/,
    ],
    [csrPem + csrPem, /one PEM block/],
    [csrPem.replace(/CERTIFICATE REQUEST/g, 'CERTIFICATE'), /CERTIFICATE REQUEST/],
    [csrPem.replace(/CERTIFICATE REQUEST/g, 'PRIVATE KEY'), /CERTIFICATE REQUEST/],
    [
      `-----BEGIN CERTIFICATE REQUEST-----\nProc-Type: 4,ENCRYPTED\n\n${body}\n-----END CERTIFICATE REQUEST-----\n`,
      /encrypted/,
    ],
  ];
  for (const [input, message] of cases) {
    await rejectsWith(t, () => signer.signLeaf(input as string, opts()), 'bad-csr', message);
  }
});

test('a CSR whose signature does not verify', async (t) => {
  const { signer } = await rootAndSigner();
  const { csrPem } = await createLeafKeyAndCsr({ uri: serviceUri('web') });
  const der = pemToDer(csrPem);
  // Change the signed content (one letter of the service name) without breaking the DER.
  const at = der.indexOf(Buffer.from('svc/web'));
  t.true(at > 0);
  const tampered = Buffer.from(der);
  tampered[at + 4] = 'x'.charCodeAt(0);
  await rejectsWith(
    t,
    () => signer.signLeaf(derToPem(tampered, 'CERTIFICATE REQUEST'), opts()),
    'bad-csr',
    /signature does not verify/,
  );
  // Flip a byte of the signature itself.
  const sig = Buffer.from(der);
  const last = sig.length - 5;
  sig[last] = (sig[last] ?? 0) ^ 0x01;
  await rejectsWith(
    t,
    () => signer.signLeaf(derToPem(sig, 'CERTIFICATE REQUEST'), opts()),
    'bad-csr',
    /signature does not verify|PKCS#10/,
  );
});

test('URI SANs: none, two, not SPIFFE, signing ID', async (t) => {
  const { signer } = await rootAndSigner();
  await rejectsWith(
    t,
    async () => signer.signLeaf(await csrWith([]), opts()),
    'bad-csr',
    /exactly one URI SAN.*none/,
  );
  await rejectsWith(
    t,
    async () =>
      signer.signLeaf(await csrWith([{ type: 'dns', value: 'web.service.consul' }]), opts()),
    'bad-csr',
    /none/,
  );
  await rejectsWith(
    t,
    async () =>
      signer.signLeaf(
        await csrWith([
          { type: 'url', value: serviceUri('web') },
          { type: 'url', value: serviceUri('db') },
        ]),
        opts(),
      ),
    'bad-csr',
    /exactly one URI SAN.*2/,
  );
  await rejectsWith(
    t,
    async () =>
      signer.signLeaf(await csrWith([{ type: 'url', value: 'https://example.com/' }]), opts()),
    'bad-spiffe-id',
    /spiffe/,
  );
  await rejectsWith(
    t,
    async () =>
      signer.signLeaf(
        await csrWith([{ type: 'url', value: spiffeIdForSigning(TRUST_DOMAIN) }]),
        opts(),
      ),
    'bad-spiffe-id',
    /service or agent/,
  );
});

test('a SPIFFE ID of another trust domain or datacenter', async (t) => {
  const { signer } = await rootAndSigner();
  const otherTd = `${OTHER_CLUSTER_ID}.consul`;
  const e = await rejectsWith(
    t,
    async () =>
      signer.signLeaf(
        await csrWith([{ type: 'url', value: serviceUri('web', DC, otherTd) }]),
        opts(),
      ),
    'wrong-trust-domain',
  );
  t.true(e.message.includes(otherTd) && e.message.includes(TRUST_DOMAIN), e.message);
  const d = await rejectsWith(
    t,
    async () =>
      signer.signLeaf(await csrWith([{ type: 'url', value: serviceUri('web', 'dc2') }]), opts()),
    'wrong-datacenter',
  );
  t.regex(d.message, /dc2.*dc1/);
  // Case-insensitive trust domain, as Consul's CanSign.
  const upper = serviceUri('web').replace(TRUST_DOMAIN, TRUST_DOMAIN.toUpperCase());
  const ok = await signer.signLeaf(await csrWith([{ type: 'url', value: upper }]), opts());
  t.is(ok.serviceUri, serviceUri('web'));
});

test('oversized CSRs', async (t) => {
  const { signer } = await rootAndSigner();
  const dnsNames = Array.from(
    { length: 400 },
    (_, i) => `name-${i}.a-rather-long-domain.example.com`,
  );
  const big = await createLeafKeyAndCsr({ uri: serviceUri('web'), dnsNames });
  t.true(big.csrPem.length > 16 * 1024);
  await rejectsWith(t, () => signer.signLeaf(big.csrPem, opts()), 'bad-csr', /too large.*16384/);
  const padded =
    (await createLeafKeyAndCsr({ uri: serviceUri('web') })).csrPem + ' '.repeat(17_000);
  await rejectsWith(t, () => signer.signLeaf(padded, opts()), 'bad-csr', /too large/);
});

test('unsupported CSR keys', async (t) => {
  const { signer } = await rootAndSigner();
  const rsa1024 = await csrWith([{ type: 'url', value: serviceUri('web') }], {
    name: 'RSASSA-PKCS1-v1_5',
    modulusLength: 1024,
    hash: 'SHA-256',
  });
  await rejectsWith(
    t,
    () => signer.signLeaf(rsa1024, opts()),
    'bad-key',
    /1024-bit RSA.*at least 2048/,
  );
  const p521 = await csrWith([{ type: 'url', value: serviceUri('web') }], {
    name: 'ECDSA',
    namedCurve: 'P-521',
    hash: 'SHA-512',
  });
  await rejectsWith(t, () => signer.signLeaf(p521, opts()), 'bad-key', /curve/);
});

test('signing options are checked', async (t) => {
  const { signer } = await rootAndSigner();
  const { csrPem } = await createLeafKeyAndCsr({ uri: serviceUri('web') });
  await rejectsWith(t, () => signer.signLeaf(csrPem, opts({ ttlMs: 0 })), 'bad-config', /ttlMs/);
  await rejectsWith(t, () => signer.signLeaf(csrPem, opts({ ttlMs: NaN })), 'bad-config');
  await rejectsWith(
    t,
    () => signer.signLeaf(csrPem, opts({ now: new Date('x') })),
    'bad-config',
    /now/,
  );
  await rejectsWith(
    t,
    () => signer.signLeaf(csrPem, opts({ serialNumber: 0 })),
    'bad-config',
    /serial/,
  );
  await rejectsWith(t, () => signer.signLeaf(csrPem, opts({ datacenter: '' })), 'bad-config');
  await rejectsWith(
    t,
    () => signer.signLeaf(csrPem, opts({ trustDomain: 'x y' })),
    'bad-spiffe-id',
  );
  await rejectsWith(
    t,
    () => signer.signLeaf(csrPem, opts({ now: new Date(Date.now() + 20 * 365 * 86_400_000) })),
    'bad-root',
    /expired/,
  );
});

test('leaf TTL bounds', (t) => {
  t.is(DEFAULT_LEAF_TTL_MS, 72 * 3_600_000);
  t.notThrows(() => validateLeafTtl(MIN_LEAF_TTL_MS));
  t.notThrows(() => validateLeafTtl(DEFAULT_LEAF_TTL_MS));
  t.notThrows(() => validateLeafTtl(MAX_LEAF_TTL_MS));
  const low = t.throws<CaError>(() => validateLeafTtl(MIN_LEAF_TTL_MS - 1000));
  t.is(low?.code, 'bad-config');
  t.regex(low?.message ?? '', /greater or equal than 1h0m0s/);
  const high = t.throws<CaError>(() => validateLeafTtl(MAX_LEAF_TTL_MS + 1000));
  t.regex(high?.message ?? '', /less than 8760h0m0s/);
  t.throws(() => validateLeafTtl(NaN), { instanceOf: CaError });
  t.throws(() => validateLeafTtl('72h' as unknown as number), { instanceOf: CaError });
});

test('user roots: expired, not a CA, wrong key, weak key, garbage', async (t) => {
  const now = new Date();
  const root = await newRoot();
  const other = await newRoot();

  const expired = await generateRoot({
    trustDomain: TRUST_DOMAIN,
    clusterId: CLUSTER_ID,
    now: new Date('2020-01-01T00:00:00Z'),
    ttlMs: 3_600_000,
  });
  await rejectsWith(
    t,
    () => loadRoot(expired.certPem, expired.keyPem, { now }),
    'bad-root',
    /expired at 2020-01-01T01:00:00.000Z/,
  );
  const future = await generateRoot({
    trustDomain: TRUST_DOMAIN,
    clusterId: CLUSTER_ID,
    now: new Date(now.getTime() + 86_400_000),
  });
  await rejectsWith(
    t,
    () => loadRoot(future.certPem, future.keyPem, { now }),
    'bad-root',
    /not valid until/,
  );

  await rejectsWith(
    t,
    () => loadRoot(root.certPem, other.keyPem, { now }),
    'bad-key',
    /does not match/,
  );

  const signer = await createSigner({ certPem: root.certPem, keyPem: root.keyPem });
  const leaf = await signService(signer, 'web');
  const [leafOnly = ''] = leaf.certPem.split(/(?<=-----END CERTIFICATE-----\n)/);
  await rejectsWith(t, () => loadRoot(leafOnly, leaf.keyPem, { now }), 'bad-root', /not a CA/);

  // openssl-made roots: RSA 1024, and one without CA:TRUE.
  const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const weakKey = weak.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const weakCert = await opensslWithFiles({ 'k.pem': weakKey }, (p) => [
    'req',
    '-x509',
    '-new',
    '-key',
    p['k.pem'] ?? '',
    '-subj',
    '/CN=Weak',
    '-days',
    '3',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
  ]);
  await rejectsWith(t, () => loadRoot(weakCert, weakKey, { now }), 'bad-root', /1024-bit RSA/);
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ecKey = ec.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const notCa = await opensslWithFiles({ 'k.pem': ecKey }, (p) => [
    'req',
    '-x509',
    '-new',
    '-key',
    p['k.pem'] ?? '',
    '-subj',
    '/CN=NotCA',
    '-days',
    '3',
    '-addext',
    'basicConstraints=critical,CA:FALSE',
  ]);
  await rejectsWith(t, () => loadRoot(notCa, ecKey, { now }), 'bad-root', /not a CA/);
  const noSign = await opensslWithFiles({ 'k.pem': ecKey }, (p) => [
    'req',
    '-x509',
    '-new',
    '-key',
    p['k.pem'] ?? '',
    '-subj',
    '/CN=NoSign',
    '-days',
    '3',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,digitalSignature',
  ]);
  await rejectsWith(t, () => loadRoot(noSign, ecKey, { now }), 'bad-root', /keyCertSign/);

  await rejectsWith(t, () => loadRoot('garbage', root.keyPem, { now }), 'bad-root', /no PEM/);
  await rejectsWith(
    t,
    () => loadRoot(root.certPem + root.certPem, root.keyPem, { now }),
    'bad-root',
    /one PEM certificate/,
  );
  await rejectsWith(
    t,
    () => loadRoot(root.keyPem, root.keyPem, { now }),
    'bad-root',
    /CERTIFICATE/,
  );
  const der = pemToDer(root.certPem);
  await rejectsWith(
    t,
    () => loadRoot(derToPem(der.subarray(0, der.length - 10), 'CERTIFICATE'), root.keyPem, { now }),
    'bad-root',
    /not a valid X.509/,
  );
  await rejectsWith(t, () => loadRoot(root.certPem, 'garbage', { now }), 'bad-key', /no PEM/);
  await rejectsWith(
    t,
    () => loadRoot(root.certPem, root.certPem, { now }),
    'bad-key',
    /unknown PEM block type/,
  );
  const brokenKey = derToPem(Buffer.from('3003020100', 'hex'), 'EC PRIVATE KEY');
  await rejectsWith(
    t,
    () => loadRoot(root.certPem, brokenKey, { now }),
    'bad-key',
    /could not be parsed/,
  );
  const encrypted = ec.privateKey
    .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' })
    .toString();
  await rejectsWith(t, () => loadRoot(root.certPem, encrypted, { now }), 'bad-key', /encrypted/);
  const ed = generateKeyPairSync('ed25519')
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();
  await rejectsWith(
    t,
    () => loadRoot(root.certPem, ed, { now }),
    'bad-key',
    /unsupported type ed25519/,
  );
  await rejectsWith(
    t,
    () => loadRoot(root.certPem, root.keyPem, { now: 'now' as unknown as Date }),
    'bad-config',
  );

  // A tampered self-signature.
  const tampered = Buffer.from(der);
  tampered[tampered.length - 3] = (tampered[tampered.length - 3] ?? 0) ^ 0x01;
  await rejectsWith(
    t,
    () => loadRoot(derToPem(tampered, 'CERTIFICATE'), root.keyPem, { now }),
    'bad-root',
    /self-signature|not a valid/,
  );

  // The same checks guard createSigner.
  await rejectsWith(
    t,
    () => createSigner({ certPem: root.certPem, keyPem: other.keyPem }),
    'bad-key',
  );
  await rejectsWith(t, () => createSigner({ certPem: leafOnly, keyPem: leaf.keyPem }), 'bad-root');
  await rejectsWith(
    t,
    () =>
      createSigner({ certPem: root.certPem, keyPem: root.keyPem, intermediatesPem: [root.keyPem] }),
    'bad-root',
  );
});

test('certificateInfo and pemToDer errors', (t) => {
  t.throws(() => certificateInfo('nope'), { instanceOf: CaError });
  t.throws(() => pemToDer('-----BEGIN X-----\n@@@@\n-----END X-----'), { instanceOf: CaError });
  t.throws(() => certificateInfo(derToPem(Buffer.from('300100', 'hex'), 'CERTIFICATE')), {
    instanceOf: CaError,
  });
  t.throws(() => pemToDer(derToPem(Buffer.from([1]), 'A'), 'B'), { message: /expected a B/ });
});

/** Deterministic byte mutations of `der`: flips, truncations, insertions. */
function* mutations(der: Buffer, count: number, seed: number): Generator<Buffer> {
  const prng = new Prng(seed);
  const rnd = (n: number): number => prng.int(n);
  for (let i = 0; i < count; i++) {
    const b = Buffer.from(der);
    switch (rnd(4)) {
      case 0: {
        const at = rnd(b.length);
        b[at] = ((b[at] ?? 0) + 1 + rnd(255)) & 0xff; // always a change
        yield b;
        break;
      }
      case 1:
        yield b.subarray(0, rnd(b.length));
        break;
      case 2: {
        const at = rnd(b.length);
        yield Buffer.concat([b.subarray(0, at), Buffer.from([rnd(256)]), b.subarray(at)]);
        break;
      }
      default:
        for (let j = 0; j < 4; j++) b[rnd(b.length)] = rnd(256);
        yield b;
    }
  }
}

test('mutated CSRs and certificates only ever raise CaError', async (t) => {
  const root = await newRoot();
  const signer = await createSigner({ certPem: root.certPem, keyPem: root.keyPem });
  const { csrPem } = await createLeafKeyAndCsr({
    uri: serviceUri('web'),
    dnsNames: ['a.example'],
    ipAddresses: ['10.0.0.1'],
  });
  let signed = 0;
  for (const m of mutations(pemToDer(csrPem), 1500, 1)) {
    try {
      await signer.signLeaf(derToPem(m, 'CERTIFICATE REQUEST'), opts());
      signed++;
    } catch (e) {
      if (!(e instanceof CaError)) t.fail(`CSR ${m.toString('hex')}: ${String(e)}`);
    }
  }
  t.log(`${signed} of 1500 mutated CSRs still verified`);
  const now = new Date();
  for (const m of mutations(pemToDer(root.certPem), 1000, 2)) {
    const pem = derToPem(m, 'CERTIFICATE');
    for (const f of [
      () => loadRoot(pem, root.keyPem, { now }),
      () => certificateInfo(pem),
      () => createSigner({ certPem: pem, keyPem: root.keyPem }),
    ]) {
      try {
        await f();
      } catch (e) {
        if (!(e instanceof CaError)) t.fail(`cert ${m.toString('hex')}: ${String(e)}`);
      }
    }
  }
  t.pass();
});
