/** Shared fixtures: a cluster, roots, CSRs, `openssl verify` and TLS handshakes on loopback. */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import type { ExecutionContext } from 'ava';
import {
  CaError,
  DEFAULT_LEAF_TTL_MS,
  createLeafKeyAndCsr,
  createSigner,
  generateRoot,
  spiffeIdForService,
  trustDomainFor,
  type CaErrorCode,
  type GeneratedRoot,
  type SignedLeaf,
  type Signer,
} from '../src/index.js';

export const CLUSTER_ID = '11111111-2222-3333-4444-555555555555';
export const TRUST_DOMAIN = trustDomainFor(CLUSTER_ID);
export const OTHER_CLUSTER_ID = '99999999-8888-7777-6666-555555555555';
export const DC = 'dc1';

/** Real time: the certificates go through OpenSSL and TLS, which check validity against it. */
export function now(): Date {
  return new Date();
}

export function newRoot(
  opts: Partial<Parameters<typeof generateRoot>[0]> = {},
): Promise<GeneratedRoot> {
  return generateRoot({ trustDomain: TRUST_DOMAIN, clusterId: CLUSTER_ID, now: now(), ...opts });
}

export function serviceUri(service: string, dc = DC, td = TRUST_DOMAIN): string {
  return spiffeIdForService({ trustDomain: td, datacenter: dc, service });
}

export async function signService(
  signer: Signer,
  service: string,
  extra: { dnsNames?: string[]; ipAddresses?: string[] } = {},
): Promise<SignedLeaf & { keyPem: string }> {
  const { keyPem, csrPem } = await createLeafKeyAndCsr({ uri: serviceUri(service), ...extra });
  const leaf = await signer.signLeaf(csrPem, {
    trustDomain: TRUST_DOMAIN,
    datacenter: DC,
    ttlMs: DEFAULT_LEAF_TTL_MS,
    now: now(),
  });
  return { ...leaf, keyPem };
}

export async function rootAndSigner(): Promise<{ root: GeneratedRoot; signer: Signer }> {
  const root = await newRoot();
  return { root, signer: await createSigner({ certPem: root.certPem, keyPem: root.keyPem }) };
}

/** Every PEM certificate in a bundle, in order. */
export function splitPem(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n?/g) ?? [];
}

export function x509(pem: string): X509Certificate {
  return new X509Certificate(pem);
}

/** Asserts `fn` fails with a CaError of `code` whose message matches `message`. */
export async function rejectsWith(
  t: ExecutionContext,
  fn: () => unknown,
  code: CaErrorCode,
  message?: RegExp,
): Promise<CaError> {
  const err = await t.throwsAsync(async () => {
    await fn();
  });
  t.true(err instanceof CaError, `expected a CaError, got ${String(err)}`);
  const e = err as CaError;
  t.is(e.code, code, e.message);
  if (message) t.regex(e.message, message);
  return e;
}

/** Runs `openssl verify`; resolves with its exit status and output. */
export async function opensslVerify(opts: {
  caFile: string;
  untrusted?: string[];
  leaf: string;
  purpose?: string;
}): Promise<{ ok: boolean; output: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-ca-'));
  try {
    const write = (name: string, pem: string): string => {
      const p = join(dir, name);
      writeFileSync(p, pem);
      return p;
    };
    const args = ['verify', '-CAfile', write('ca.pem', opts.caFile)];
    if (opts.untrusted && opts.untrusted.length > 0) {
      args.push('-untrusted', write('untrusted.pem', opts.untrusted.join('')));
    }
    if (opts.purpose) args.push('-purpose', opts.purpose);
    args.push(write('leaf.pem', opts.leaf));
    return await new Promise((resolve) => {
      execFile('openssl', args, (err, stdout, stderr) => {
        resolve({ ok: !err, output: `${stdout}${stderr}` });
      });
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs openssl with `args(paths)` after writing `files` to a temporary directory. */
export async function opensslWithFiles(
  files: Record<string, string>,
  args: (paths: Record<string, string>) => string[],
): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-ca-'));
  try {
    const paths: Record<string, string> = {};
    for (const [name, text] of Object.entries(files)) {
      paths[name] = join(dir, name);
      writeFileSync(join(dir, name), text);
    }
    return await openssl(args(paths), '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs openssl with `args`, feeding `input`; resolves with stdout. */
export function openssl(args: string[], input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('openssl', args, (err, stdout, stderr) => {
      if (err) reject(new Error(`openssl ${args.join(' ')}: ${stderr}`));
      else resolve(stdout);
    });
    child.stdin?.end(input);
  });
}

export interface Party {
  /** Leaf PEM, optionally followed by intermediates. */
  cert: string;
  key: string;
  /** Trusted roots. */
  ca: string[];
}

/**
 * A mutual-TLS handshake on loopback between a server and a client, each verifying the
 * other against its own trusted roots (no host name check: the mesh checks SPIFFE IDs).
 * Resolves with whether both sides completed and the peers' URI SANs.
 */
export async function handshake(
  server: Party,
  client: Party,
): Promise<{ ok: boolean; error?: string; serverSawClient?: string; clientSawServer?: string }> {
  let serverSawClient: string | undefined;
  const srv = tls.createServer({
    cert: server.cert,
    key: server.key,
    ca: server.ca,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
  });
  srv.on('secureConnection', (sock) => {
    serverSawClient = sock.getPeerCertificate().subjectaltname;
    sock.end('hello');
  });
  srv.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  try {
    return await new Promise((resolve) => {
      const sock = tls.connect({
        host: '127.0.0.1',
        port,
        cert: client.cert,
        key: client.key,
        ca: client.ca,
        rejectUnauthorized: true,
        checkServerIdentity: () => undefined,
      });
      let data = '';
      sock.on('data', (d: Buffer) => (data += d.toString()));
      sock.on('end', () => {
        const ok = data === 'hello';
        resolve(
          ok
            ? {
                ok,
                serverSawClient: serverSawClient ?? '',
                clientSawServer: sock.getPeerCertificate().subjectaltname ?? '',
              }
            : { ok, error: 'connection closed without data' },
        );
        sock.destroy();
      });
      sock.on('error', (e: Error) => {
        resolve({ ok: false, error: e.message });
        sock.destroy();
      });
    });
  } finally {
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  }
}
