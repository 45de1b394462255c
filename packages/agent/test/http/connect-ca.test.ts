/**
 * The built-in Connect CA through the HTTP API of a real in-process dev agent: the leader's
 * initialisation, the roots (JSON, PEM, blocking), the CA configuration (defaults, updates,
 * bad input), leaf certificates from the agent's cache (checked with node:crypto and the
 * openssl CLI), root rotation with cross-signing (generated and user-provided roots),
 * /v1/agent/connect/authorize, and the CSR rate limit.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateRoot } from '@trellis/ca';
import {
  caReady,
  devAgent,
  pemBlocks,
  tracked,
  waitFor,
  type DevAgent,
  type LeafAnswer,
  type RootsAnswer,
} from './dev-agent.js';

const HOUR = 3_600_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface CaConfigAnswer {
  Provider: string;
  Config: Record<string, unknown>;
  State: unknown;
  ForceWithoutCrossSigning: boolean;
  CreateIndex: number;
  ModifyIndex: number;
}

async function leafOf(
  a: DevAgent,
  service: string,
  query = '',
): Promise<{ leaf: LeafAnswer; index: number }> {
  const r = await a.req('GET', `/v1/agent/connect/ca/leaf/${service}${query}`, undefined, 60_000);
  if (r.status !== 200) throw new Error(`leaf ${service}: ${r.status} ${r.text}`);
  return { leaf: r.json<LeafAnswer>(), index: Number(r.headers.get('x-consul-index')) };
}

function spiffe(trustDomain: string, service: string): string {
  return `spiffe://${trustDomain}/ns/default/dc/dc1/svc/${service}`;
}

/** `openssl verify` of `leaf` against `caFile`, with `untrusted` intermediates; its output. */
function opensslVerify(
  dir: string,
  name: string,
  pems: { ca: string; leaf: string; untrusted?: string },
): { ok: boolean; out: string } {
  const ca = join(dir, `${name}-ca.pem`);
  const leaf = join(dir, `${name}-leaf.pem`);
  writeFileSync(ca, pems.ca);
  writeFileSync(leaf, pems.leaf);
  const args = ['verify', '-CAfile', ca];
  if (pems.untrusted !== undefined) {
    const untrusted = join(dir, `${name}-untrusted.pem`);
    writeFileSync(untrusted, pems.untrusted);
    args.push('-untrusted', untrusted);
  }
  args.push(leaf);
  try {
    const out = execFileSync('openssl', args, { encoding: 'utf8', stdio: 'pipe' });
    return { ok: true, out };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, out: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}

test('the leader initialises the CA: one active root, the trust domain, a PEM bundle, the default configuration without keys', async (t) => {
  const a = await devAgent(t);
  const { roots, index } = await caReady(a);
  t.true(index > 0);
  t.is(roots.Roots.length, 1);
  const root = roots.Roots[0]!;
  t.true(root.Active);
  t.is(roots.ActiveRootID, root.ID);
  t.regex(roots.TrustDomain, /\.consul$/);
  const clusterId = roots.TrustDomain.slice(0, -'.consul'.length);
  t.regex(clusterId, UUID);
  t.is(root.ExternalTrustDomain, clusterId);
  t.is(root.PrivateKeyType, 'ec');
  t.is(root.PrivateKeyBits, 256);
  t.is(root.IntermediateCerts, null);
  t.is(root.RotatedOutAt, undefined);
  const rootCert = new X509Certificate(root.RootCert);
  t.true(rootCert.ca);
  t.true(rootCert.verify(rootCert.publicKey), 'self-signed');
  t.is(rootCert.subjectAltName, `URI:spiffe://${roots.TrustDomain}`);
  // No private key, under any name.
  const rootsText = (await a.req('GET', '/v1/connect/ca/roots')).text;
  t.false(rootsText.includes('PRIVATE KEY'));
  t.false(rootsText.includes('SigningKey"'));

  // The PEM bundle: every certificate parses; here, just the root.
  const pem = await a.req('GET', '/v1/connect/ca/roots?pem=true');
  t.is(pem.status, 200);
  t.is(pem.headers.get('content-type'), 'application/pem-certificate-chain');
  const blocks = pemBlocks(pem.text);
  t.is(blocks.length, 1);
  t.is(new X509Certificate(blocks[0]!).fingerprint256, rootCert.fingerprint256);
  t.is((await a.req('GET', '/v1/connect/ca/roots?pem=yes')).status, 400);

  // The agent's view of the roots is the servers' roots.
  const agentRoots = await a.get<RootsAnswer>('/v1/agent/connect/ca/roots');
  t.is(agentRoots.ActiveRootID, roots.ActiveRootID);
  t.is(agentRoots.TrustDomain, roots.TrustDomain);

  const cfg = await a.req('GET', '/v1/connect/ca/configuration');
  t.is(cfg.status, 200);
  const c = cfg.json<CaConfigAnswer>();
  t.is(c.Provider, 'consul');
  t.like(c.Config, {
    LeafCertTTL: '72h',
    RootCertTTL: '87600h',
    PrivateKeyType: 'ec',
    PrivateKeyBits: 256,
    CSRMaxPerSecond: 50,
    CSRMaxConcurrent: 0,
  });
  t.false('PrivateKey' in c.Config);
  t.false(cfg.text.includes('PRIVATE KEY'));
  t.is(c.ForceWithoutCrossSigning, false);
  t.true(c.ModifyIndex > 0);
});

test('a leaf for web: SPIFFE URI SAN, signed by the active root, 72h, its own key; a blocking GET waits for a new one', async (t) => {
  const a = await devAgent(t);
  const { roots } = await caReady(a);
  const root = new X509Certificate(roots.Roots[0]!.RootCert);
  const before = Date.now();
  const { leaf, index } = await leafOf(a, 'web');
  t.is(index, leaf.ModifyIndex);
  t.is(leaf.Service, 'web');
  t.is(leaf.ServiceURI, spiffe(roots.TrustDomain, 'web'));
  const cert = new X509Certificate(leaf.CertPEM);
  t.is(cert.subjectAltName, `URI:${spiffe(roots.TrustDomain, 'web')}`);
  t.false(cert.ca);
  t.true(cert.verify(root.publicKey), 'signed by the active root');
  t.true(cert.checkIssued(root));
  t.is(
    cert.serialNumber.toLowerCase().replace(/^0+/, ''),
    leaf.SerialNumber.replace(/:/g, '').toLowerCase().replace(/^0+/, ''),
  );
  // Valid for the default 72h from now (ValidAfter may be back-dated for clock skew).
  const notAfter = Date.parse(cert.validTo);
  t.true(Math.abs(notAfter - (before + 72 * HOUR)) < 5 * 60_000, cert.validTo);
  t.is(Date.parse(leaf.ValidBefore), notAfter);
  t.true(Date.parse(cert.validFrom) <= before);
  // The private key made by the agent is the certificate's.
  const key = createPrivateKey(leaf.PrivateKeyPEM);
  t.true(cert.checkPrivateKey(key));
  t.is(key.asymmetricKeyType, 'ec');

  // Cached: the same leaf again.
  t.is((await leafOf(a, 'web')).leaf.SerialNumber, leaf.SerialNumber);
  // A blocking GET at the leaf's index waits for a new leaf; when the wait ends without one,
  // the same leaf comes back (rotation, below, shows it does wake on a new one).
  const t0 = performance.now();
  const same = await leafOf(a, 'web', `?index=${leaf.ModifyIndex}&wait=1s`);
  t.true(performance.now() - t0 >= 950, `returned after ${performance.now() - t0} ms`);
  t.is(same.leaf.SerialNumber, leaf.SerialNumber);
  t.is(same.index, leaf.ModifyIndex);
  // A leaf for another service has its own key and identity.
  const api = (await leafOf(a, 'api')).leaf;
  t.not(api.SerialNumber, leaf.SerialNumber);
  t.not(api.PrivateKeyPEM, leaf.PrivateKeyPEM);
  t.is(new X509Certificate(api.CertPEM).subjectAltName, `URI:${spiffe(roots.TrustDomain, 'api')}`);
  t.is((await a.req('GET', '/v1/agent/connect/ca/leaf/web%2Fx')).status, 400);
  t.is((await a.req('GET', '/v1/agent/connect/ca/leaf/web?index=x')).status, 400);
});

test('PUT configuration: LeafCertTTL 2h is kept and used; invalid settings are 400 and change nothing', async (t) => {
  const a = await devAgent(t);
  const { roots } = await caReady(a);
  const put = (body: unknown) => a.req('PUT', '/v1/connect/ca/configuration', body);

  const ok = await put({ Provider: 'consul', Config: { LeafCertTTL: '2h' } });
  t.is(ok.status, 200, ok.text);
  const c = await a.get<CaConfigAnswer>('/v1/connect/ca/configuration');
  t.is(c.Config.LeafCertTTL, '2h');
  t.is(c.Config.PrivateKeyType, 'ec');
  // Not a key change: no rotation.
  const after = await a.get<RootsAnswer>('/v1/connect/ca/roots');
  t.deepEqual(after, roots);
  // New leaves get the new lifetime.
  const before = Date.now();
  const leaf = (await leafOf(a, 'short')).leaf;
  const life = Date.parse(leaf.ValidBefore) - before;
  t.true(Math.abs(life - 2 * HOUR) < 5 * 60_000, `${life} ms`);
  // Snake case, as in an agent config file, and nanoseconds, as Go's JSON has it.
  t.is((await put({ Config: { leaf_cert_ttl: '3h' } })).status, 200);
  t.is((await a.get<CaConfigAnswer>('/v1/connect/ca/configuration')).Config.LeafCertTTL, '3h');
  t.is((await put({ Config: { LeafCertTTL: 4 * 3600e9 } })).status, 200);
  t.is((await a.get<CaConfigAnswer>('/v1/connect/ca/configuration')).Config.LeafCertTTL, '4h0m0s');

  const cfgText = (await a.req('GET', '/v1/connect/ca/configuration')).text;
  const rootsText = (await a.req('GET', '/v1/connect/ca/roots')).text;
  const { certPem } = await generateRoot({
    trustDomain: roots.TrustDomain,
    clusterId: roots.TrustDomain.split('.')[0]!,
    now: new Date(),
  });
  const bad: Array<[string, unknown, RegExp]> = [
    ['LeafCertTTL too short', { Config: { LeafCertTTL: '30m' } }, /between 1h0m0s and 8760h0m0s/],
    ['LeafCertTTL too long', { Config: { LeafCertTTL: '9000h' } }, /between 1h0m0s and 8760h0m0s/],
    ['LeafCertTTL not a duration', { Config: { LeafCertTTL: 'soon' } }, /LeafCertTTL/],
    ['LeafCertTTL negative', { Config: { LeafCertTTL: -1 } }, /LeafCertTTL/],
    ['LeafCertTTL a bool', { Config: { LeafCertTTL: true } }, /LeafCertTTL/],
    ['PrivateKeyType dsa', { Config: { PrivateKeyType: 'dsa' } }, /"ec" or "rsa".*"dsa"/],
    ['PrivateKeyBits 1024 (EC)', { Config: { PrivateKeyBits: 1024 } }, /EC key length/],
    [
      'PrivateKeyBits 256 (RSA)',
      { Config: { PrivateKeyType: 'rsa', PrivateKeyBits: 256 } },
      /RSA key length/,
    ],
    ['PrivateKeyBits a word', { Config: { PrivateKeyBits: 'many' } }, /PrivateKeyBits/],
    [
      'RootCert without PrivateKey',
      { Config: { RootCert: certPem } },
      /both RootCert and PrivateKey/,
    ],
    [
      'RootCert and PrivateKey garbage',
      { Config: { RootCert: 'x', PrivateKey: 'y' } },
      /root certificate/,
    ],
    ['unknown Config key', { Config: { LeafCertTTl2: '2h' } }, /unknown field "LeafCertTTl2"/],
    ['RootCertTTL under LeafCertTTL', { Config: { RootCertTTL: '1h' } }, /RootCertTTL/],
    ['CSRMaxPerSecond negative', { Config: { CSRMaxPerSecond: -1 } }, /CSRMaxPerSecond/],
    ['Provider vault', { Provider: 'vault', Config: {} }, /unknown CA provider "vault"/],
    ['Provider a number', { Provider: 7 }, /Provider must be a string/],
    ['Config a string', { Config: 'LeafCertTTL=2h' }, /Config must be an object/],
    ['Config an array', { Config: [{ LeafCertTTL: '2h' }] }, /Config must be an object/],
    ['ForceWithoutCrossSigning a string', { ForceWithoutCrossSigning: 'yes' }, /must be a boolean/],
    ['invalid JSON', '{"Config": {', /Request decode failed/],
    ['a JSON array', '[]', /Request decode failed/],
    ['__proto__ in Config', '{"Config": {"__proto__": {"LeafCertTTL": "1h"}}}', /unknown field/],
  ];
  for (const [what, body, message] of bad) {
    const r = await put(body);
    t.is(r.status, 400, `${what}: ${r.text}`);
    t.regex(r.text, message, what);
  }
  // A body over the limit is refused before it is parsed: 413, Consul's "too large" text.
  const huge = await put({ Config: { RootCert: 'A'.repeat(300 * 1024) } });
  t.is(huge.status, 413);
  t.regex(huge.text, /too large/);
  // Nothing changed.
  t.is((await a.req('GET', '/v1/connect/ca/configuration')).text, cfgText);
  t.is((await a.req('GET', '/v1/connect/ca/roots')).text, rootsText);
});

test('rotation to EC P-384: the new root is active with a cross-signed intermediate, the old one stays trusted; leaves are re-issued and chain; blocking queries wake', async (t) => {
  const a = await devAgent(t);
  const { roots, index } = await caReady(a);
  const oldRoot = roots.Roots[0]!;
  const { leaf: oldLeaf } = await leafOf(a, 'web');
  // Blocking queries on the roots (server and agent endpoints) and on the leaf.
  const rootsWait = tracked(a.req('GET', `/v1/connect/ca/roots?index=${index}&wait=30s`));
  const agentRootsWait = tracked(
    a.req('GET', `/v1/agent/connect/ca/roots?index=${index}&wait=30s`),
  );
  const leafWait = tracked(
    a.req('GET', `/v1/agent/connect/ca/leaf/web?index=${oldLeaf.ModifyIndex}&wait=30s`),
  );
  // They are parked: other requests come and go meanwhile.
  for (let i = 0; i < 3; i++) await a.get('/v1/connect/ca/configuration');
  t.false(rootsWait.settled() || agentRootsWait.settled() || leafWait.settled());

  const put = await a.req('PUT', '/v1/connect/ca/configuration', {
    Provider: 'consul',
    Config: { PrivateKeyType: 'ec', PrivateKeyBits: 384 },
  });
  t.is(put.status, 200, put.text);

  const r = await rootsWait.promise;
  t.is(r.status, 200);
  t.true(Number(r.headers.get('x-consul-index')) > index);
  const next = r.json<RootsAnswer>();
  t.is(next.TrustDomain, roots.TrustDomain, 'the trust domain does not change');
  t.is(next.Roots.length, 2);
  const active = next.Roots.find((x) => x.Active)!;
  const old = next.Roots.find((x) => !x.Active)!;
  t.is(next.ActiveRootID, active.ID);
  t.not(active.ID, oldRoot.ID);
  t.is(old.ID, oldRoot.ID);
  t.is(old.RootCert, oldRoot.RootCert);
  t.truthy(old.RotatedOutAt);
  t.is(active.PrivateKeyBits, 384);
  t.is(active.IntermediateCerts?.length, 1);
  const agentRoots = (await agentRootsWait.promise).json<RootsAnswer>();
  t.is(agentRoots.ActiveRootID, active.ID);

  const oldCert = new X509Certificate(oldRoot.RootCert);
  const newCert = new X509Certificate(active.RootCert);
  const cross = new X509Certificate(active.IntermediateCerts![0]!);
  t.is(newCert.publicKey.asymmetricKeyDetails?.namedCurve, 'secp384r1');
  // The cross-signed copy: the new root's key and subject, issued by the old root.
  t.is(cross.subject, newCert.subject);
  t.is(cross.issuer, oldCert.subject);
  t.true(cross.publicKey.equals(newCert.publicKey));
  t.true(cross.verify(oldCert.publicKey));
  t.false(cross.verify(newCert.publicKey));

  // The agent re-issued web's leaf from the new root without being asked.
  const lr = await leafWait.promise;
  t.is(lr.status, 200, lr.text);
  const newLeaf = lr.json<LeafAnswer>();
  t.not(newLeaf.SerialNumber, oldLeaf.SerialNumber);
  t.true(newLeaf.ModifyIndex > oldLeaf.ModifyIndex);
  t.is(Number(lr.headers.get('x-consul-index')), newLeaf.ModifyIndex);
  const leafCert = new X509Certificate(newLeaf.CertPEM);
  t.is(leafCert.subjectAltName, `URI:${spiffe(roots.TrustDomain, 'web')}`);
  t.true(leafCert.verify(newCert.publicKey));
  t.false(leafCert.verify(oldCert.publicKey));
  t.true(leafCert.checkPrivateKey(createPrivateKey(newLeaf.PrivateKeyPEM)));
  // CertPEM carries the chain: the leaf, then the cross-signed intermediate.
  const chain = pemBlocks(newLeaf.CertPEM);
  t.is(chain.length, 2);
  t.is(new X509Certificate(chain[1]!).fingerprint256, cross.fingerprint256);

  // openssl: peers that trust only the old root accept the new leaf through the intermediate;
  // without it they do not; peers with the new root accept it directly.
  const viaOld = opensslVerify(a.dir, 'old', {
    ca: oldRoot.RootCert,
    untrusted: active.IntermediateCerts![0]!,
    leaf: chain[0]!,
  });
  t.true(viaOld.ok, viaOld.out);
  t.regex(viaOld.out, /: OK/);
  const noIntermediate = opensslVerify(a.dir, 'bare', { ca: oldRoot.RootCert, leaf: chain[0]! });
  t.false(noIntermediate.ok, noIntermediate.out);
  const viaNew = opensslVerify(a.dir, 'new', { ca: active.RootCert, leaf: chain[0]! });
  t.true(viaNew.ok, viaNew.out);
  // The leaf's own chain is enough as the untrusted set.
  const ownChain = opensslVerify(a.dir, 'own', {
    ca: oldRoot.RootCert,
    untrusted: newLeaf.CertPEM,
    leaf: chain[0]!,
  });
  t.true(ownChain.ok, ownChain.out);
  // The old leaf still verifies against the old root, which is still listed (trusted).
  t.true(new X509Certificate(oldLeaf.CertPEM).verify(oldCert.publicKey));

  // The PEM bundle now has both roots and the intermediate.
  const bundle = pemBlocks((await a.req('GET', '/v1/connect/ca/roots?pem=true')).text);
  t.deepEqual(
    bundle.map((p) => new X509Certificate(p).fingerprint256).sort(),
    [newCert.fingerprint256, cross.fingerprint256, oldCert.fingerprint256].sort(),
  );
  // A leaf issued now (another service) comes from the new root too.
  t.true(new X509Certificate((await leafOf(a, 'db')).leaf.CertPEM).verify(newCert.publicKey));
});

test('rotation to a user-provided root: it becomes active, cross-signed by the old one; its key is never shown', async (t) => {
  const a = await devAgent(t);
  const { roots } = await caReady(a);
  const { leaf: oldLeaf } = await leafOf(a, 'web');
  const clusterId = roots.TrustDomain.slice(0, -'.consul'.length);
  const user = await generateRoot({
    trustDomain: roots.TrustDomain,
    clusterId,
    now: new Date(),
    keyType: 'ec',
    keyBits: 256,
  });
  const leafWait = a.req(
    'GET',
    `/v1/agent/connect/ca/leaf/web?index=${oldLeaf.ModifyIndex}&wait=30s`,
  );
  const put = await a.req('PUT', '/v1/connect/ca/configuration', {
    Provider: 'consul',
    Config: { RootCert: user.certPem, PrivateKey: user.keyPem },
  });
  t.is(put.status, 200, put.text);
  const next = await a.get<RootsAnswer>('/v1/connect/ca/roots');
  t.is(next.ActiveRootID, user.info.id);
  t.is(next.TrustDomain, roots.TrustDomain);
  const active = next.Roots.find((r) => r.Active)!;
  t.is(active.RootCert.trim(), user.certPem.trim());
  t.is(active.IntermediateCerts?.length, 1);
  t.false(next.Roots.find((r) => r.ID === roots.ActiveRootID)!.Active);
  const cross = new X509Certificate(active.IntermediateCerts![0]!);
  t.true(cross.verify(new X509Certificate(roots.Roots[0]!.RootCert).publicKey));

  // The key is stored (the servers sign with it) but never returned.
  const cfg = await a.req('GET', '/v1/connect/ca/configuration');
  t.false(cfg.text.includes('PRIVATE KEY'));
  t.false(cfg.text.includes(user.keyPem.split('\n')[1]!));
  t.is(cfg.json<CaConfigAnswer>().Config.PrivateKey, '(redacted)');
  t.is(cfg.json<CaConfigAnswer>().Config.RootCert, user.certPem);
  t.false((await a.req('GET', '/v1/connect/ca/roots')).text.includes('PRIVATE KEY'));

  const lr = await leafWait;
  t.is(lr.status, 200, lr.text);
  const newLeaf = lr.json<LeafAnswer>();
  t.not(newLeaf.SerialNumber, oldLeaf.SerialNumber);
  const userCert = new X509Certificate(user.certPem);
  t.true(new X509Certificate(newLeaf.CertPEM).verify(userCert.publicKey));

  // The same root again is not a rotation.
  const again = await a.req('PUT', '/v1/connect/ca/configuration', {
    Config: { RootCert: user.certPem, PrivateKey: user.keyPem },
  });
  t.is(again.status, 200, again.text);
  t.is((await a.get<RootsAnswer>('/v1/connect/ca/roots')).Roots.length, 2);
});

interface AuthzAnswer {
  Authorized: boolean;
  Reason: string;
}

test('authorize: intentions decide, the default policy allows, other trust domains and bad input are refused', async (t) => {
  const a = await devAgent(t);
  const { roots } = await caReady(a);
  const td = roots.TrustDomain;
  const authz = async (target: string, source: string, domain = td) => {
    const r = await a.req('POST', '/v1/agent/connect/authorize', {
      Target: target,
      ClientCertURI: spiffe(domain, source),
    });
    t.is(r.status, 200, r.text);
    return r.json<AuthzAnswer>();
  };
  t.deepEqual(await authz('db', 'web'), {
    Authorized: true,
    Reason: 'Default behavior configured by ACLs',
  });
  const deny = await a.req('PUT', '/v1/connect/intentions/exact?source=web&destination=db', {
    Action: 'deny',
  });
  t.is(deny.status, 200, deny.text);
  const denied = await waitFor('the deny intention to reach the agent', async () => {
    const d = await authz('db', 'web');
    return d.Authorized ? undefined : d;
  });
  t.regex(denied.Reason, /^Matched L4 intention: default\/web => default\/db .*Action: DENY/);
  // Other sources still get the default.
  t.true((await authz('db', 'api')).Authorized);
  // A wildcard deny for every source of db, and an exact allow for api.
  await a.req('PUT', '/v1/connect/intentions/exact?source=*&destination=db', { Action: 'deny' });
  await a.req('PUT', '/v1/connect/intentions/exact?source=api&destination=db', {
    Action: 'allow',
  });
  await waitFor('the wildcard deny', async () => !(await authz('db', 'billing')).Authorized);
  t.true((await authz('db', 'api')).Authorized);
  t.false((await authz('db', 'web')).Authorized);

  // An identity from another trust domain is never authorized, whatever the intentions say.
  const foreign = await authz('db', 'api', '11111111-2222-3333-4444-555555555555.consul');
  t.false(foreign.Authorized);
  t.regex(foreign.Reason, /external trust domain/);

  const post = (body: unknown) => a.req('POST', '/v1/agent/connect/authorize', body);
  const badInput: Array<[string, unknown, RegExp]> = [
    ['malformed URI', { Target: 'db', ClientCertURI: 'not a uri' }, /not a valid Connect/],
    [
      'not spiffe',
      { Target: 'db', ClientCertURI: `https://${td}/ns/default/dc/dc1/svc/web` },
      /not a valid Connect/,
    ],
    ['missing Target', { ClientCertURI: spiffe(td, 'web') }, /Target service must be specified/],
    ['empty Target', { Target: '', ClientCertURI: spiffe(td, 'web') }, /Target/],
    ['missing ClientCertURI', { Target: 'db' }, /ClientCertURI must be specified/],
    [
      'an agent URI',
      { Target: 'db', ClientCertURI: `spiffe://${td}/agent/client/dc/dc1/id/node1` },
      /must be a valid Service identifier/,
    ],
    [
      'a signing URI',
      { Target: 'db', ClientCertURI: `spiffe://${td}` },
      /must be a valid Service identifier/,
    ],
    ['Target a number', { Target: 5, ClientCertURI: spiffe(td, 'web') }, /Target must be a string/],
    ['invalid JSON', '{"Target":', /Request decode failed/],
  ];
  for (const [what, body, message] of badInput) {
    const r = await post(body);
    t.is(r.status, 400, `${what}: ${r.text}`);
    t.regex(r.text, message, what);
  }
  t.is((await a.req('GET', '/v1/agent/connect/authorize')).status, 405);
});

test('authorize and check with acl default_policy "deny" from a JSON config file', async (t) => {
  const a = await devAgent(t, { configFiles: [{ acl: { default_policy: 'deny' } }] });
  const { roots } = await caReady(a);
  const authz = async (target: string, source: string) =>
    (
      await a.req('POST', '/v1/agent/connect/authorize', {
        Target: target,
        ClientCertURI: spiffe(roots.TrustDomain, source),
      })
    ).json<AuthzAnswer>();
  t.deepEqual(await authz('db', 'web'), {
    Authorized: false,
    Reason: 'Default behavior configured by ACLs',
  });
  const check = await a.req('GET', '/v1/connect/intentions/check?source=web&destination=db');
  t.is(check.headers.get('x-consul-default-acl-policy'), 'deny');
  t.deepEqual(check.json(), { Allowed: false });
  await a.req('PUT', '/v1/connect/intentions/exact?source=web&destination=db', {
    Action: 'allow',
  });
  const allowed = await waitFor('the allow intention', async () => {
    const d = await authz('db', 'web');
    return d.Authorized ? d : undefined;
  });
  t.regex(allowed.Reason, /Matched L4 intention: default\/web => default\/db .*ALLOW/);
  t.deepEqual(
    (await a.req('GET', '/v1/connect/intentions/check?source=web&destination=db')).json(),
    { Allowed: true },
  );
  // Only web was allowed.
  t.false((await authz('db', 'api')).Authorized);
  t.false((await authz('cache', 'web')).Authorized);
});

test('CSR rate limit: with CSRMaxPerSecond 1, twelve concurrent first leaves are refused in part, retried by the agent, and all arrive', async (t) => {
  t.timeout(90_000);
  const a = await devAgent(t);
  const { roots } = await caReady(a);
  const put = await a.req('PUT', '/v1/connect/ca/configuration', {
    Config: { CSRMaxPerSecond: 1 },
  });
  t.is(put.status, 200, put.text);
  const ca = a.agent.server!.ca;
  const refusedBefore = ca.rateLimited;
  const signedBefore = ca.signed;
  const names = Array.from({ length: 12 }, (_, i) => `svc-${i}`);
  const t0 = performance.now();
  const leaves = await Promise.all(names.map(async (n) => (await leafOf(a, n)).leaf));
  const elapsed = performance.now() - t0;
  const root = new X509Certificate(roots.Roots[0]!.RootCert);
  for (const [i, leaf] of leaves.entries()) {
    const cert = new X509Certificate(leaf.CertPEM);
    t.is(cert.subjectAltName, `URI:${spiffe(roots.TrustDomain, names[i]!)}`);
    t.true(cert.verify(root.publicKey));
  }
  t.is(new Set(leaves.map((l) => l.SerialNumber)).size, names.length);
  t.true(ca.rateLimited > refusedBefore, 'some signings were refused');
  t.is(ca.signed - signedBefore, names.length, 'each leaf was signed once');
  // At one signing per second, twelve leaves take at least eleven seconds; retrying a refusal
  // with a back-off that grows to 30 s left the CA idle while leaves waited (up to 30 s and
  // more, past the agent's own bound on a first leaf).
  t.true(elapsed >= 10_500, `${elapsed} ms`);
  t.true(elapsed < 25_000, `${elapsed} ms`);
  const self = await a.get<{ Stats: { connect: Record<string, string> } }>('/v1/agent/self');
  t.true(Number(self.Stats.connect.leaf_sign_failures) > 0);
  t.is(self.Stats.connect.leaf_certs, String(names.length));
  t.log(`12 leaves at 1 CSR/s in ${Math.round(elapsed)} ms; ${ca.rateLimited} refusals`);
});

test('CSR rate limit: leaves asked for one after another within the default 50/s are never refused', async (t) => {
  const a = await devAgent(t);
  await caReady(a);
  const ca = a.agent.server!.ca;
  const refused = ca.rateLimited;
  // Back to back, faster than one per 20 ms: each signing waits for its token (as Consul's
  // limiter does, up to 500 ms) instead of being refused and retried a back-off later.
  for (let i = 0; i < 8; i++) await leafOf(a, `seq-${i}`);
  t.is(ca.rateLimited, refused);
  t.is(a.agent.connect!.stats().leaf_sign_failures, '0');
});
