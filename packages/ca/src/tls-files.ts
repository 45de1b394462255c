/**
 * Agent TLS files, as `consul tls ca create` and `consul tls cert create` make them
 * (command/tls, tlsutil/generate.go) — the RPC/HTTPS certificates of agents, unrelated to
 * Connect's SPIFFE certificates. Pure: the caller writes the files; the name helpers give
 * Consul's file names.
 */
import {
  EkuOids,
  NameOids,
  authorityKeyId,
  basicConstraints,
  encodeName,
  encodeTbs,
  extKeyUsage,
  keyUsage,
  nameConstraints,
  parseIp,
  randomSerial,
  signCertificate,
  subjectAltName,
  subjectKeyId,
  type ExtensionInput,
} from './cert.js';
import { checkedTime, checkedValidity } from './config.js';
import { CaError } from './errors.js';
import {
  generateKeyPair,
  keyIdOf,
  privateKeyToPem,
  signatureAlgorithmFor,
  spkiOf,
} from './keys.js';
import { derToPem } from './pem.js';
import { loadCaCert, loadCaKey } from './root.js';
import { normalizeTrustDomain, spiffeIdForSigning } from './spiffe.js';

const DAY = 86_400_000;

export type TlsCertKind = 'server' | 'client' | 'cli';

export interface TlsCaOptions {
  /** Default `consul`. */
  domain?: string;
  /** Default 1825 (about five years). */
  days?: number;
  now: Date;
  /** Default `Trellis Agent CA <serial>`. */
  commonName?: string;
  /** `-name-constraint`: only sign for `<domain>`, `localhost` and the additional names. */
  nameConstraint?: boolean;
  additionalNameConstraints?: string[];
  /** `-cluster-id`: adds the URI SAN `spiffe://<cluster id>.<domain>`. */
  clusterId?: string;
}

export interface TlsCertOptions {
  caCertPem: string;
  caKeyPem: string;
  kind: TlsCertKind;
  /** Default `dc1`. */
  datacenter?: string;
  /** Default `consul`. */
  domain?: string;
  /** Default 365. */
  days?: number;
  /** Server certificates only: adds `<node>.server.<dc>.<domain>`. */
  node?: string;
  additionalDnsNames?: string[];
  additionalIps?: string[];
  now: Date;
}

export interface TlsFiles {
  certPem: string;
  /** `EC PRIVATE KEY` PEM (P-256), as Consul writes it. */
  keyPem: string;
}

function checkDays(days: unknown): number {
  if (!Number.isSafeInteger(days) || (days as number) <= 0) {
    throw new CaError('bad-config', `days must be a positive integer, got ${String(days)}`);
  }
  return days as number;
}

function checkLabel(value: unknown, what: string): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(value)) {
    throw new CaError('bad-config', `invalid ${what} ${JSON.stringify(value)}`);
  }
  return value;
}

function checkDns(names: readonly string[]): string[] {
  return names
    .map((d) => d.trim())
    .filter((d) => d.length > 0)
    .map((d) => {
      if (!/^[\x21-\x7e]+$/.test(d)) {
        throw new CaError('bad-config', `invalid DNS name ${JSON.stringify(d)}`);
      }
      return d;
    });
}

function checkIps(ips: readonly string[]): Buffer[] {
  return ips
    .map((ip) => ip.trim())
    .filter((ip) => ip.length > 0)
    .map((ip) => {
      const b = parseIp(ip);
      if (!b) throw new CaError('bad-config', `invalid IP address ${JSON.stringify(ip)}`);
      return b;
    });
}

/** `consul tls ca create`: a P-256 CA with a random 128-bit serial. */
export async function createTlsCa(opts: TlsCaOptions): Promise<TlsFiles> {
  const domain = checkLabel(opts.domain ?? 'consul', 'domain');
  const days = checkDays(opts.days ?? 1825);
  const now = checkedTime(opts.now);
  const serial = randomSerial(16);
  const cn = opts.commonName ?? `Trellis Agent CA ${BigInt('0x' + serial.toString('hex'))}`;
  if (typeof cn !== 'string' || cn.length === 0 || cn.length > 64) {
    throw new CaError('bad-config', 'commonName must be 1 to 64 characters');
  }
  const info = { type: 'ec', bits: 256 } as const;
  const { privateKey } = await generateKeyPair(info);
  const spki = spkiOf(privateKey);
  const id = keyIdOf(spki);
  const name = encodeName([
    [NameOids.organization, 'Trellis'],
    [NameOids.commonName, cn],
  ]);
  const extensions: ExtensionInput[] = [
    keyUsage(['keyCertSign', 'cRLSign', 'digitalSignature']),
    basicConstraints(true),
    subjectKeyId(id),
    authorityKeyId(id),
  ];
  if (opts.clusterId !== undefined) {
    const td = normalizeTrustDomain(`${checkLabel(opts.clusterId, 'cluster id')}.${domain}`);
    extensions.push(subjectAltName({ uris: [spiffeIdForSigning(td)] }, false));
  }
  if (opts.nameConstraint) {
    extensions.push(
      nameConstraints([...checkDns(opts.additionalNameConstraints ?? []), domain, 'localhost']),
    );
  }
  const algorithm = signatureAlgorithmFor(info);
  const tbs = encodeTbs({
    serial,
    algorithm,
    issuer: name,
    notBefore: checkedValidity(now, 'notBefore'),
    notAfter: checkedValidity(now + days * DAY, 'notAfter'),
    subject: name,
    spki,
    extensions,
  });
  return {
    certPem: derToPem(await signCertificate(tbs, algorithm, privateKey), 'CERTIFICATE'),
    keyPem: privateKeyToPem(privateKey),
  };
}

/**
 * `consul tls cert create -server|-client|-cli`: CN `<kind>.<dc>.<domain>`; DNS SANs
 * (additional names, `<node>.server.<dc>.<domain>` for a server with `node`, the CN,
 * `localhost`) and IP SANs (additional addresses, `127.0.0.1`); extKeyUsage serverAuth and
 * clientAuth for servers and clients, none for the CLI, whose SANs are only the CN,
 * `localhost` and the additional addresses — as Consul.
 */
export async function createTlsCert(opts: TlsCertOptions): Promise<TlsFiles> {
  const kind = opts.kind;
  if (kind !== 'server' && kind !== 'client' && kind !== 'cli') {
    throw new CaError('bad-config', `kind must be server, client or cli, got ${String(kind)}`);
  }
  const dc = checkLabel(opts.datacenter ?? 'dc1', 'datacenter');
  const domain = checkLabel(opts.domain ?? 'consul', 'domain');
  const days = checkDays(opts.days ?? 365);
  const now = checkedTime(opts.now);
  if (opts.node !== undefined && kind !== 'server') {
    throw new CaError('bad-config', 'node requires a server certificate');
  }
  const ca = loadCaCert(opts.caCertPem, 'CA certificate');
  const caKey = loadCaKey(opts.caKeyPem, ca, 'CA key');

  const name = `${kind}.${dc}.${domain}`;
  let dnsNames = checkDns(opts.additionalDnsNames ?? []);
  const ips = checkIps(opts.additionalIps ?? []);
  let eku: string[] = [];
  if (kind === 'server') {
    if (opts.node !== undefined) {
      dnsNames.push(`${checkLabel(opts.node, 'node name')}.server.${dc}.${domain}`);
    }
    dnsNames.push(name, 'localhost');
    ips.push(Buffer.from([127, 0, 0, 1]));
    eku = [EkuOids.serverAuth, EkuOids.clientAuth];
  } else if (kind === 'client') {
    dnsNames.push(name, 'localhost');
    ips.push(Buffer.from([127, 0, 0, 1]));
    eku = [EkuOids.clientAuth, EkuOids.serverAuth];
  } else {
    dnsNames = [name, 'localhost'];
  }

  const info = { type: 'ec', bits: 256 } as const;
  const { privateKey } = await generateKeyPair(info);
  const spki = spkiOf(privateKey);
  const extensions: ExtensionInput[] = [keyUsage(['digitalSignature', 'keyEncipherment'])];
  if (eku.length > 0) extensions.push(extKeyUsage(eku));
  extensions.push(
    basicConstraints(false),
    subjectKeyId(keyIdOf(spki)),
    authorityKeyId(ca.keyId),
    subjectAltName({ dnsNames, ips }, false),
  );
  const algorithm = signatureAlgorithmFor(ca.keyInfo);
  const tbs = encodeTbs({
    serial: randomSerial(16),
    algorithm,
    issuer: ca.cert.subject,
    notBefore: checkedValidity(now, 'notBefore'),
    notAfter: checkedValidity(now + days * DAY, 'notAfter'),
    subject: encodeName([[NameOids.commonName, name]]),
    spki,
    extensions,
  });
  return {
    certPem: derToPem(await signCertificate(tbs, algorithm, caKey), 'CERTIFICATE'),
    keyPem: privateKeyToPem(privateKey),
  };
}

export interface TlsFileNames {
  cert: string;
  key: string;
}

/** `consul-agent-ca.pem` / `consul-agent-ca-key.pem` for domain `consul`. */
export function tlsCaFileNames(domain = 'consul'): TlsFileNames {
  return { cert: `${domain}-agent-ca.pem`, key: `${domain}-agent-ca-key.pem` };
}

/** `dc1-server-consul-0.pem` / `dc1-server-consul-0-key.pem` and so on. */
export function tlsCertFileNames(opts: {
  kind: TlsCertKind;
  datacenter?: string;
  domain?: string;
  index?: number;
}): TlsFileNames {
  const prefix = `${opts.datacenter ?? 'dc1'}-${opts.kind}-${opts.domain ?? 'consul'}-${opts.index ?? 0}`;
  return { cert: `${prefix}.pem`, key: `${prefix}-key.pem` };
}

/**
 * The first index whose certificate and key files both do not exist yet, as Consul picks it
 * (indexes 0 to 10000); `exists` is the caller's file check. Throws CaError('bad-config') if
 * every index is taken.
 */
export function nextTlsCertFileNames(
  opts: { kind: TlsCertKind; datacenter?: string; domain?: string },
  exists: (name: string) => boolean,
): TlsFileNames {
  for (let index = 0; index <= 10_000; index++) {
    const names = tlsCertFileNames({ ...opts, index });
    if (!exists(names.cert) && !exists(names.key)) return names;
  }
  throw new CaError('bad-config', "could not find a file name that doesn't already exist");
}
