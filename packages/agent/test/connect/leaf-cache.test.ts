/**
 * The agent's leaf-certificate cache against a fake server (roots served through a real
 * WatchHub, signing by a function): renewal inside 60–90% of the lifetime, immediate
 * re-issue when the active root changes, retries after a refused signing, blocking reads.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { parseSpiffeId } from '@trellis/ca';
import type { ForwardedAnswer } from '../../src/client-rpc.js';
import { LeafCerts, ROOTS_PATH } from '../../src/connect/leaf.js';
import type { IssuedLeaf } from '../../src/connect/server-ca.js';
import { WatchHub } from '../../src/connect/watches.js';
import { createLogger } from '../../src/log.js';
import { waitFor } from '../wait.js';

/** The URI SAN of a CSR, read by openssl (an independent parser). */
function csrUri(csrPem: string): string {
  const text = execFileSync('openssl', ['req', '-noout', '-text'], { input: csrPem }).toString();
  const m = /URI:(spiffe:\/\/\S+)/.exec(text);
  if (m === null) throw new Error(`no URI SAN in the CSR:\n${text}`);
  return m[1]!.replace(/,$/, '');
}

/** A server whose roots answer blocks until they change (like a blocking query). */
class FakeServer {
  index = 1;
  active = 'root-a';
  readonly trustDomain = '11111111-2222-3333-4444-555555555555.consul';
  #waiters: Array<() => void> = [];
  signs: Array<{ at: number; uri: string }> = [];
  refuse = 0;
  lifetimeMs = 1_000;

  rotate(id: string): void {
    this.active = id;
    this.index++;
    for (const w of this.#waiters.splice(0)) w();
  }

  get = async (url: string, signal: AbortSignal): Promise<ForwardedAnswer> => {
    if (!url.startsWith(ROOTS_PATH)) throw new Error(`unexpected ${url}`);
    const m = /[?&]index=(\d+)/.exec(url);
    if (m !== null && Number(m[1]) >= this.index) {
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
    }
    const body = {
      ActiveRootID: this.active,
      TrustDomain: this.trustDomain,
      Roots: [{ ID: this.active, RootCert: 'pem', IntermediateCerts: null, Active: true }],
    };
    return {
      status: 200,
      headers: { 'x-consul-index': String(this.index) },
      body: Buffer.from(JSON.stringify(body)),
    };
  };

  sign = (csrPem: string): Promise<IssuedLeaf> => {
    if (this.refuse > 0) {
      this.refuse--;
      return Promise.reject(new Error('Rate limit reached, try again later'));
    }
    const uri = csrUri(csrPem);
    const now = Date.now();
    this.signs.push({ at: now, uri });
    return Promise.resolve({
      SerialNumber: `s${this.signs.length}`,
      CertPEM: `cert-${this.signs.length}`,
      Service: parseSpiffeId(uri).kind === 'service' ? 'web' : '?',
      ServiceURI: uri,
      ValidAfter: new Date(now).toISOString(),
      ValidBefore: new Date(now + this.lifetimeMs).toISOString(),
      RootID: this.active,
      CreateIndex: this.index,
      ModifyIndex: this.index,
    });
  };
}

function setup(t: { teardown(fn: () => void): void }, random = () => 0.5) {
  const server = new FakeServer();
  const watches = new WatchHub(server.get, random);
  const leaves = new LeafCerts({
    datacenter: 'dc1',
    watches,
    sign: (csr) => server.sign(csr),
    logger: createLogger({ level: 'error', write: () => {} }),
    random,
  });
  t.teardown(() => {
    leaves.close();
    watches.close();
  });
  return { server, leaves };
}

test('a leaf for the service, with a key made here and the SPIFFE ID of this trust domain and dc', async (t) => {
  const { server, leaves } = setup(t);
  server.lifetimeMs = 3_600_000;
  const leaf = await leaves.get('web', 0, AbortSignal.timeout(10_000));
  t.is(leaf.ServiceURI, `spiffe://${server.trustDomain}/ns/default/dc/dc1/svc/web`);
  t.regex(leaf.PrivateKeyPEM, /BEGIN (EC )?PRIVATE KEY/);
  // A second read is served from the cache: no new signing.
  const again = await leaves.get('web', 0, AbortSignal.timeout(10_000));
  t.is(again.SerialNumber, leaf.SerialNumber);
  t.is(server.signs.length, 1);
  // A blocking read on the current index waits; it ends with the current leaf when cut short.
  const t0 = Date.now();
  const held = await leaves.get('web', leaf.ModifyIndex, AbortSignal.timeout(200));
  t.true(Date.now() - t0 >= 150);
  t.is(held.SerialNumber, leaf.SerialNumber);
});

test('renewal happens between 60% and 90% of the lifetime (random 0 → 60%, 1 → 90%)', async (t) => {
  for (const [r, lo, hi] of [
    [0, 0.6, 0.75],
    [0.999, 0.85, 1.0],
  ] as const) {
    const { server, leaves } = setup(t, () => r);
    server.lifetimeMs = 2_000;
    const first = await leaves.get('web', 0, AbortSignal.timeout(10_000));
    const second = await leaves.get('web', first.ModifyIndex, AbortSignal.timeout(10_000));
    t.not(second.SerialNumber, first.SerialNumber);
    const [a, b] = server.signs;
    const frac = ((b?.at ?? 0) - (a?.at ?? 0)) / server.lifetimeMs;
    t.true(frac >= lo && frac <= hi, `random ${r}: renewed at ${frac.toFixed(2)} of the lifetime`);
    t.true(second.ModifyIndex > first.ModifyIndex);
  }
});

test('a root rotation re-issues the leaf at once; a refused signing is retried', async (t) => {
  const { server, leaves } = setup(t);
  server.lifetimeMs = 3_600_000;
  const seen: string[] = [];
  const stop = leaves.subscribe('web', (l) => seen.push(l.SerialNumber));
  t.teardown(stop);
  await waitFor('the first leaf', () => seen.length === 1);
  server.refuse = 2;
  server.rotate('root-b');
  await waitFor('a leaf from the new root', () => seen.length === 2, 10_000);
  t.is(server.signs.length, 2);
  t.is(leaves.stats().failed, 2);
  t.is(leaves.stats().signed, 2);
});
