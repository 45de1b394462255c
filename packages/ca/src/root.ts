/**
 * Root CA certificates: generating one as Consul's built-in provider does
 * (agent/connect/ca/provider_consul.go generateCA), loading a user-provided one (the
 * provider's `RootCert` / `PrivateKey` config), describing one as a CARoot, and
 * cross-signing a new root with the old one for rotation.
 */
import { createHash, randomBytes, verify as nodeVerify, type KeyObject } from 'node:crypto';
import {
  ExtOids,
  NameOids,
  authorityKeyId,
  basicConstraints,
  decodeBasicConstraints,
  decodeKeyUsage,
  decodeSubjectKeyId,
  encodeName,
  encodeTbs,
  keyUsage,
  parseCertificate,
  randomSerial,
  signCertificate,
  subjectAltName,
  subjectKeyId,
  KeyUsageBit,
  type ExtensionInput,
  type ParsedCertificate,
} from './cert.js';
import {
  CLOCK_SKEW_MS,
  DEFAULT_CROSS_SIGN_TTL_MS,
  DEFAULT_ROOT_TTL_MS,
  checkedDuration,
  checkedTime,
  checkedValidity,
} from './config.js';
import { DerError, bigintToBytes } from './der.js';
import { CaError, describe } from './errors.js';
import {
  checkKeyParams,
  generateKeyPair,
  keyIdOf,
  keyInfo,
  keyMatches,
  parsePrivateKeyPem,
  privateKeyToPem,
  publicKeyFromSpki,
  signatureAlgorithmByOid,
  signatureAlgorithmFor,
  spkiOf,
  type KeyInfo,
  type KeyType,
} from './keys.js';
import { colonHex, derToPem, parsePemBlocks } from './pem.js';
import { normalizeTrustDomain, spiffeIdForSigning } from './spiffe.js';

/** The `Name` of every root this package describes (Consul: "Consul CA Primary Cert"). */
export const ROOT_NAME = 'Trellis CA Primary Cert';

/** A root as Consul's /v1/connect/ca/roots describes it (less the PEM and the flags). */
export interface RootInfo {
  /** SHA-1 fingerprint of the certificate, colon hex (Consul's CARoot.ID). */
  id: string;
  name: string;
  /**
   * The serial number (Consul's uint64 SerialNumber). Exact up to 2^53; for larger serials it
   * is the low 64 bits, rounded — use `serialNumberHex` for those.
   */
  serialNumber: number;
  /** The serial number in colon hex, exact. */
  serialNumberHex: string;
  /** Colon hex of the certificate's SubjectKeyIdentifier (Consul's SigningKeyID). */
  signingKeyId: string;
  notBefore: string;
  notAfter: string;
  privateKeyType: KeyType;
  privateKeyBits: number;
}

export interface GeneratedRoot {
  certPem: string;
  /** `EC PRIVATE KEY` or `RSA PRIVATE KEY` PEM, as Consul stores it. */
  keyPem: string;
  info: RootInfo;
}

export interface GenerateRootOptions {
  trustDomain: string;
  clusterId: string;
  now: Date;
  /** Default 10 years (Consul's root_cert_ttl, 87600h). */
  ttlMs?: number;
  /** Default `ec`. */
  keyType?: KeyType;
  /** Default 256 for EC, 4096 for RSA (Consul's defaults); EC 256|384, RSA 2048|4096. */
  keyBits?: number;
  /** Default: random, below 2^53 so that `info.serialNumber` is exact. */
  serial?: number | bigint;
}

// ---------------------------------------------------------------------------------------
// Shared CA-certificate handling (also used by leaf.ts)

export interface LoadedCaCert {
  pem: string;
  cert: ParsedCertificate;
  publicKey: KeyObject;
  keyInfo: KeyInfo;
  /** The SubjectKeyIdentifier, or Consul's key id of the public key if the cert has none. */
  keyId: Buffer;
}

/** Parses a single CA certificate; everything wrong with it is CaError('bad-root'). */
export function loadCaCert(certPem: string, what: string): LoadedCaCert {
  const blocks = parsePemBlocks(certPem, 'bad-root', what);
  if (blocks.length !== 1) {
    throw new CaError(
      'bad-root',
      `${what}: expected one PEM certificate, found ${blocks.length} PEM blocks`,
    );
  }
  const [block] = blocks as [{ label: string; der: Buffer }];
  if (block.label !== 'CERTIFICATE') {
    throw new CaError(
      'bad-root',
      `${what}: expected a CERTIFICATE PEM block, found ${block.label}`,
    );
  }
  let cert: ParsedCertificate;
  let ca = false;
  let usage: number | undefined;
  let skid: Buffer | undefined;
  try {
    cert = parseCertificate(block.der);
    const bc = cert.extensions.get(ExtOids.basicConstraints);
    ca = bc ? decodeBasicConstraints(bc.value).ca : false;
    const ku = cert.extensions.get(ExtOids.keyUsage);
    usage = ku ? decodeKeyUsage(ku.value) : undefined;
    const sk = cert.extensions.get(ExtOids.subjectKeyIdentifier);
    skid = sk ? decodeSubjectKeyId(sk.value) : undefined;
  } catch (e) {
    if (!(e instanceof DerError)) throw e;
    throw new CaError('bad-root', `${what} is not a valid X.509 certificate: ${e.message}`, {
      cause: e,
    });
  }
  if (cert.version !== 3) {
    throw new CaError(
      'bad-root',
      `${what} is an X.509 v${cert.version} certificate; a CA needs v3`,
    );
  }
  if (!ca) {
    throw new CaError(
      'bad-root',
      `${what} is not a CA certificate (basicConstraints CA:TRUE is missing)`,
    );
  }
  if (usage !== undefined && !(usage & (1 << KeyUsageBit.keyCertSign))) {
    throw new CaError('bad-root', `${what} may not sign certificates (keyUsage lacks keyCertSign)`);
  }
  const publicKey = publicKeyFromSpki(cert.spki, 'bad-root', `${what}'s public key`);
  const info = keyInfo(publicKey, 'bad-root', `${what}'s public key`);
  return {
    pem: derToPem(block.der, 'CERTIFICATE'),
    cert,
    publicKey,
    keyInfo: info,
    keyId: skid ?? keyIdOf(cert.spki),
  };
}

/** Parses a CA's private key and checks it belongs to the certificate. */
export function loadCaKey(keyPem: string, ca: LoadedCaCert, what: string): KeyObject {
  const key = parsePrivateKeyPem(keyPem, what);
  if (!keyMatches(key, ca.cert.spki)) {
    throw new CaError('bad-key', `${what} does not match the certificate's public key`);
  }
  return key;
}

function serialNumberOf(serial: Buffer): number {
  const v = BigInt('0x' + (serial.toString('hex') || '0'));
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : Number(BigInt.asUintN(64, v));
}

function describeRoot(ca: LoadedCaCert): RootInfo {
  return {
    id: colonHex(createHash('sha1').update(ca.cert.der).digest()),
    name: ROOT_NAME,
    serialNumber: serialNumberOf(ca.cert.serial),
    serialNumberHex: colonHex(ca.cert.serial),
    signingKeyId: colonHex(ca.keyId),
    notBefore: ca.cert.notBefore.toISOString(),
    notAfter: ca.cert.notAfter.toISOString(),
    privateKeyType: ca.keyInfo.type,
    privateKeyBits: ca.keyInfo.bits,
  };
}

/** Describes a CA certificate as a {@link RootInfo}, without its key. Throws CaError('bad-root'). */
export function rootInfo(certPem: string): RootInfo {
  return describeRoot(loadCaCert(certPem, 'root certificate'));
}

// ---------------------------------------------------------------------------------------
// Generation

export function serialBytes(serial: number | bigint | undefined): Buffer {
  if (serial === undefined) {
    // 53 random bits, never zero.
    for (;;) {
      const b = randomBytes(7);
      b[0] = (b[0] ?? 0) & 0x1f;
      const first = b.findIndex((x) => x !== 0);
      if (first >= 0) return b.subarray(first);
    }
  }
  if (typeof serial === 'number' && (!Number.isSafeInteger(serial) || serial <= 0)) {
    throw new CaError('bad-config', `serial must be a positive integer, got ${serial}`);
  }
  const v = BigInt(serial);
  if (v <= 0n || v >= 1n << 159n) {
    throw new CaError('bad-config', `serial must be a positive integer below 2^159`);
  }
  return bigintToBytes(v);
}

/** Base-36, eight characters: Consul's connect.CompactUID. */
function compactUid(): string {
  const v = randomBytes(8).readBigUInt64BE() % 36n ** 8n;
  return v.toString(36).padStart(8, '0');
}

/** Consul's connect.CACN for a primary datacenter's built-in provider. */
export function rootCommonName(clusterId: string, uid = compactUid()): string {
  const clean = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]/g, '');
  return `pri-${clean(uid).slice(0, 8)}.consul.ca.${clusterId.slice(0, 8)}.consul`;
}

/**
 * A new self-signed root: CN `pri-<uid>.consul.ca.<cluster id[:8]>.consul`, URI SAN
 * `spiffe://<trust domain>`, basicConstraints CA:TRUE (critical), keyUsage
 * certSign+cRLSign+digitalSignature (critical), subject and authority key id = Consul's key
 * id, valid from `now` for `ttlMs`.
 */
export async function generateRoot(opts: GenerateRootOptions): Promise<GeneratedRoot> {
  const trustDomain = normalizeTrustDomain(opts.trustDomain);
  if (typeof opts.clusterId !== 'string' || opts.clusterId.length === 0) {
    throw new CaError('bad-config', 'clusterId is required');
  }
  const now = checkedTime(opts.now);
  const ttl = checkedDuration(opts.ttlMs ?? DEFAULT_ROOT_TTL_MS, 'ttlMs');
  const type = opts.keyType ?? 'ec';
  const info = checkKeyParams(type, opts.keyBits ?? (type === 'rsa' ? 4096 : 256));
  const serial = serialBytes(opts.serial);
  const notBefore = checkedValidity(now, 'notBefore');
  const notAfter = checkedValidity(now + ttl, 'notAfter');

  const { privateKey } = await generateKeyPair(info);
  const spki = spkiOf(privateKey);
  const id = keyIdOf(spki);
  const name = encodeName([[NameOids.commonName, rootCommonName(opts.clusterId)]]);
  const algorithm = signatureAlgorithmFor(info);
  const tbs = encodeTbs({
    serial,
    algorithm,
    issuer: name,
    notBefore,
    notAfter,
    subject: name,
    spki,
    extensions: [
      keyUsage(['keyCertSign', 'cRLSign', 'digitalSignature']),
      basicConstraints(true),
      subjectKeyId(id),
      authorityKeyId(id),
      subjectAltName({ uris: [spiffeIdForSigning(trustDomain)] }, false),
    ],
  });
  const der = await signCertificate(tbs, algorithm, privateKey);
  const certPem = derToPem(der, 'CERTIFICATE');
  return {
    certPem,
    keyPem: privateKeyToPem(privateKey),
    info: describeRoot(loadCaCert(certPem, 'generated root')),
  };
}

// ---------------------------------------------------------------------------------------
// Loading a user-provided root

/**
 * Validates a user-provided root and its key (Consul's `RootCert` and `PrivateKey`): one PEM
 * certificate, a v3 CA allowed to sign certificates, EC P-256/P-384 or RSA ≥ 2048, valid at
 * `now`, with a self-signature that verifies if it is self-issued, and a private key that
 * matches it. Throws CaError('bad-root') or CaError('bad-key').
 */
export function loadRoot(certPem: string, keyPem: string, opts: { now: Date }): RootInfo {
  const now = checkedTime(opts.now);
  const ca = loadCaCert(certPem, 'root certificate');
  if (now > ca.cert.notAfter.getTime()) {
    throw new CaError('bad-root', `root certificate expired at ${ca.cert.notAfter.toISOString()}`);
  }
  if (now + CLOCK_SKEW_MS < ca.cert.notBefore.getTime()) {
    throw new CaError(
      'bad-root',
      `root certificate is not valid until ${ca.cert.notBefore.toISOString()}`,
    );
  }
  if (ca.cert.issuer.equals(ca.cert.subject)) {
    const alg = signatureAlgorithmByOid(ca.cert.signatureAlgorithm);
    let ok = false;
    try {
      ok = alg !== undefined && nodeVerify(alg.hash, ca.cert.tbs, ca.publicKey, ca.cert.signature);
    } catch (e) {
      throw new CaError(
        'bad-root',
        `root certificate's signature cannot be checked: ${describe(e)}`,
      );
    }
    if (!ok) {
      throw new CaError(
        'bad-root',
        alg
          ? "root certificate's self-signature does not verify"
          : `root certificate uses the unsupported signature algorithm ${ca.cert.signatureAlgorithm}`,
      );
    }
  }
  loadCaKey(keyPem, ca, 'root private key');
  return describeRoot(ca);
}

// ---------------------------------------------------------------------------------------
// Cross-signing

export interface CrossSignOptions {
  newRootCertPem: string;
  oldRootCertPem: string;
  oldKeyPem: string;
  now: Date;
  /** Default 7 days (Consul's provider). */
  ttlMs?: number;
}

/**
 * The new root's certificate re-issued by the old root: same subject, public key and
 * extensions, issuer and authority key id of the old root, signed by the old key, valid from
 * a minute before `now` for `ttlMs`. Served as an intermediate after a rotation, it lets a
 * leaf signed by the new key chain to the old root, so proxies that only trust the old root
 * keep accepting new leaves until they learn the new one.
 */
export async function crossSignRoot(opts: CrossSignOptions): Promise<string> {
  const now = checkedTime(opts.now);
  const ttl = checkedDuration(opts.ttlMs ?? DEFAULT_CROSS_SIGN_TTL_MS, 'ttlMs');
  const next = loadCaCert(opts.newRootCertPem, 'new root certificate');
  const old = loadCaCert(opts.oldRootCertPem, 'old root certificate');
  const oldKey = loadCaKey(opts.oldKeyPem, old, 'old root private key');

  const extensions: ExtensionInput[] = [];
  let sawAkid = false;
  for (const [oid, ext] of next.cert.extensions) {
    if (oid === ExtOids.authorityKeyIdentifier) {
      extensions.push(authorityKeyId(old.keyId));
      sawAkid = true;
    } else {
      extensions.push({ oid, critical: ext.critical, value: ext.value });
    }
  }
  if (!sawAkid) extensions.push(authorityKeyId(old.keyId));
  const algorithm = signatureAlgorithmFor(old.keyInfo);
  const tbs = encodeTbs({
    serial: randomSerial(),
    algorithm,
    issuer: old.cert.subject,
    notBefore: checkedValidity(now - CLOCK_SKEW_MS, 'notBefore'),
    notAfter: checkedValidity(now + ttl, 'notAfter'),
    subject: next.cert.subject,
    spki: next.cert.spki,
    extensions,
  });
  return derToPem(await signCertificate(tbs, algorithm, oldKey), 'CERTIFICATE');
}
