// Root rotation: the new root cross-signed by the old one lets leaves signed by the new key
// chain to the old root.
import test from 'ava';
import {
  DEFAULT_CROSS_SIGN_TTL_MS,
  certificateInfo,
  createSigner,
  crossSignRoot,
  type GeneratedRoot,
  type Signer,
} from '../src/index.js';
import {
  handshake,
  newRoot,
  opensslVerify,
  rejectsWith,
  signService,
  splitPem,
  x509,
} from './helpers.js';

interface Rotation {
  oldRoot: GeneratedRoot;
  newRoot: GeneratedRoot;
  cross: string;
  oldSigner: Signer;
  newSigner: Signer;
}

async function rotate(): Promise<Rotation> {
  const oldRoot = await newRoot();
  const next = await newRoot();
  const cross = await crossSignRoot({
    newRootCertPem: next.certPem,
    oldRootCertPem: oldRoot.certPem,
    oldKeyPem: oldRoot.keyPem,
    now: new Date(),
  });
  return {
    oldRoot,
    newRoot: next,
    cross,
    oldSigner: await createSigner({ certPem: oldRoot.certPem, keyPem: oldRoot.keyPem }),
    newSigner: await createSigner({
      certPem: next.certPem,
      keyPem: next.keyPem,
      intermediatesPem: [cross],
    }),
  };
}

test('the cross-signed certificate: new subject and key, old issuer', async (t) => {
  const now = new Date('2032-02-03T04:05:06Z');
  const r = await rotate();
  const cross = await crossSignRoot({
    newRootCertPem: r.newRoot.certPem,
    oldRootCertPem: r.oldRoot.certPem,
    oldKeyPem: r.oldRoot.keyPem,
    now,
  });
  const info = certificateInfo(cross);
  const next = certificateInfo(r.newRoot.certPem);
  const old = certificateInfo(r.oldRoot.certPem);
  t.is(info.subject, next.subject);
  t.is(info.issuer, old.subject);
  t.is(info.subjectKeyId, next.subjectKeyId);
  t.is(info.authorityKeyId, old.subjectKeyId);
  t.true(info.isCa);
  t.deepEqual(info.uris, next.uris);
  t.deepEqual(info.keyUsage, next.keyUsage);
  t.is(info.notBefore, '2032-02-03T04:04:06.000Z');
  t.is(
    info.notAfter,
    new Date(Date.parse('2032-02-03T04:05:06Z') + DEFAULT_CROSS_SIGN_TTL_MS).toISOString(),
  );
  t.not(info.serialNumber, next.serialNumber);
  t.true(x509(cross).publicKey.equals(x509(r.newRoot.certPem).publicKey));
  t.true(x509(r.cross).verify(x509(r.oldRoot.certPem).publicKey));
  t.true(x509(r.cross).checkIssued(x509(r.oldRoot.certPem)));
  const ttl = await crossSignRoot({
    newRootCertPem: r.newRoot.certPem,
    oldRootCertPem: r.oldRoot.certPem,
    oldKeyPem: r.oldRoot.keyPem,
    now,
    ttlMs: 3_600_000,
  });
  t.is(certificateInfo(ttl).notAfter, '2032-02-03T05:05:06.000Z');
});

test('a new leaf chains to the old root through the cross-signed certificate', async (t) => {
  const r = await rotate();
  const leaf = await signService(r.newSigner, 'web');
  const [leafPem = '', interPem = ''] = splitPem(leaf.certPem);
  t.is(interPem, x509(r.cross).toString());

  const viaOld = await opensslVerify({
    caFile: r.oldRoot.certPem,
    untrusted: [interPem],
    leaf: leafPem,
  });
  t.true(viaOld.ok, viaOld.output);
  const viaNew = await opensslVerify({ caFile: r.newRoot.certPem, leaf: leafPem });
  t.true(viaNew.ok, viaNew.output);
  const viaNewWithInter = await opensslVerify({
    caFile: r.newRoot.certPem,
    untrusted: [interPem],
    leaf: leafPem,
  });
  t.true(viaNewWithInter.ok, viaNewWithInter.output);
  // Without the cross-signed certificate the old root alone cannot verify it.
  const noInter = await opensslVerify({ caFile: r.oldRoot.certPem, leaf: leafPem });
  t.false(noInter.ok);

  t.true(x509(leafPem).verify(x509(interPem).publicKey));
  t.true(x509(leafPem).checkIssued(x509(interPem)));
  t.true(x509(interPem).checkIssued(x509(r.oldRoot.certPem)));
});

test('TLS: a client trusting only the old root accepts a new leaf with its chain', async (t) => {
  const r = await rotate();
  const server = await signService(r.newSigner, 'web');
  const oldClient = await signService(r.oldSigner, 'api');
  const res = await handshake(
    { cert: server.certPem, key: server.keyPem, ca: [r.oldRoot.certPem, r.newRoot.certPem] },
    { cert: oldClient.certPem, key: oldClient.keyPem, ca: [r.oldRoot.certPem] },
  );
  t.true(res.ok, res.error);

  // And the other way round: a server trusting only the old root accepts a new client.
  const newClient = await signService(r.newSigner, 'api');
  const oldServer = await signService(r.oldSigner, 'web');
  const back = await handshake(
    { cert: oldServer.certPem, key: oldServer.keyPem, ca: [r.oldRoot.certPem] },
    { cert: newClient.certPem, key: newClient.keyPem, ca: [r.oldRoot.certPem] },
  );
  t.true(back.ok, back.error);

  // Without the cross-signed certificate in the chain the old-root client refuses.
  const [bare = ''] = splitPem(server.certPem);
  const fail = await handshake(
    { cert: bare, key: server.keyPem, ca: [r.oldRoot.certPem, r.newRoot.certPem] },
    { cert: oldClient.certPem, key: oldClient.keyPem, ca: [r.oldRoot.certPem] },
  );
  t.false(fail.ok);
});

test('cross-signing checks its inputs', async (t) => {
  const r = await rotate();
  const stranger = await newRoot();
  const now = new Date();
  await rejectsWith(
    t,
    () =>
      crossSignRoot({
        newRootCertPem: r.newRoot.certPem,
        oldRootCertPem: r.oldRoot.certPem,
        oldKeyPem: stranger.keyPem,
        now,
      }),
    'bad-key',
    /does not match/,
  );
  await rejectsWith(
    t,
    () =>
      crossSignRoot({
        newRootCertPem: 'garbage',
        oldRootCertPem: r.oldRoot.certPem,
        oldKeyPem: r.oldRoot.keyPem,
        now,
      }),
    'bad-root',
    /new root certificate/,
  );
  await rejectsWith(
    t,
    () =>
      crossSignRoot({
        newRootCertPem: r.newRoot.certPem,
        oldRootCertPem: r.oldRoot.certPem,
        oldKeyPem: r.oldRoot.keyPem,
        now,
        ttlMs: -5,
      }),
    'bad-config',
  );
});
