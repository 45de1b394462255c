/**
 * Keys: parsing PEM private keys (PKCS#8, SEC 1 and PKCS#1, as Consul's connect.ParseSigner),
 * the supported types (EC P-256 and P-384, RSA of at least 2048 bits), generation, Consul's
 * key id (SHA-256 of the DER SubjectPublicKeyInfo) and the signature algorithm for a CA key.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPair as nodeGenerateKeyPair,
  sign as nodeSign,
  verify as nodeVerify,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';
import {
  DerError,
  DerReader,
  Tag,
  nullValue,
  oid,
  readBitString,
  readOid,
  readOne,
  seq,
} from './der.js';
import { CaError, describe, type CaErrorCode } from './errors.js';
import { parsePemBlocks } from './pem.js';

export type KeyType = 'ec' | 'rsa';

export interface KeyInfo {
  type: KeyType;
  /** EC: the curve size (256 or 384); RSA: the modulus length. */
  bits: number;
}

export const MIN_RSA_BITS = 2048;
/** Larger RSA keys are refused: they only cost signing and verification time. */
export const MAX_RSA_BITS = 8192;

export const Oids = {
  ecPublicKey: '1.2.840.10045.2.1',
  rsaEncryption: '1.2.840.113549.1.1.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  ecdsaWithSha512: '1.2.840.10045.4.3.4',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  sha384WithRsa: '1.2.840.113549.1.1.12',
  sha512WithRsa: '1.2.840.113549.1.1.13',
} as const;

/** The type and size of a key, or a CaError(`code`) naming why it is not supported. */
export function keyInfo(key: KeyObject, code: CaErrorCode = 'bad-key', what = 'key'): KeyInfo {
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (type === 'ec') {
    if (details.namedCurve === 'prime256v1') return { type: 'ec', bits: 256 };
    if (details.namedCurve === 'secp384r1') return { type: 'ec', bits: 384 };
    throw new CaError(
      code,
      `${what} uses the unsupported EC curve ${details.namedCurve ?? '(unknown)'}; use P-256 or P-384`,
    );
  }
  if (type === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) {
      throw new CaError(
        code,
        `${what} is a ${bits}-bit RSA key; RSA keys must be at least ${MIN_RSA_BITS} bits`,
      );
    }
    if (bits > MAX_RSA_BITS) {
      throw new CaError(
        code,
        `${what} is a ${bits}-bit RSA key; RSA keys larger than ${MAX_RSA_BITS} bits are not supported`,
      );
    }
    return { type: 'rsa', bits };
  }
  throw new CaError(
    code,
    `${what} has the unsupported type ${type ?? '(unknown)'}; use EC (P-256, P-384) or RSA`,
  );
}

const KEY_FORMATS: Record<string, 'pkcs8' | 'sec1' | 'pkcs1'> = {
  'PRIVATE KEY': 'pkcs8',
  'EC PRIVATE KEY': 'sec1',
  'RSA PRIVATE KEY': 'pkcs1',
};

/**
 * A private key from PEM (the first block that is a key; an `EC PARAMETERS` block before it,
 * as `openssl ecparam -genkey` writes, is skipped). Throws CaError('bad-key').
 */
export function parsePrivateKeyPem(pem: string, what = 'private key'): KeyObject {
  const blocks = parsePemBlocks(pem, 'bad-key', what);
  const block = blocks.find((b) => b.label !== 'EC PARAMETERS');
  if (!block) throw new CaError('bad-key', `${what}: no private key found in the PEM`);
  if (block.label === 'ENCRYPTED PRIVATE KEY') {
    throw new CaError('bad-key', `${what}: encrypted private keys are not supported`);
  }
  const type = KEY_FORMATS[block.label];
  if (!type) {
    throw new CaError(
      'bad-key',
      `${what}: unknown PEM block type for a private key: ${block.label}`,
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: block.der, format: 'der', type });
  } catch (e) {
    throw new CaError('bad-key', `${what} could not be parsed: ${describe(e)}`, { cause: e });
  }
  keyInfo(key, 'bad-key', what);
  return key;
}

/** The DER SubjectPublicKeyInfo of a public key, or of a private key's public half. */
export function spkiOf(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ type: 'spki', format: 'der' });
}

/** A public key from DER SubjectPublicKeyInfo. Throws CaError(`code`). */
export function publicKeyFromSpki(spki: Buffer, code: CaErrorCode, what: string): KeyObject {
  try {
    return createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch (e) {
    throw new CaError(code, `${what} could not be parsed: ${describe(e)}`, { cause: e });
  }
}

const CURVES: Record<string, { crv: 'P-256' | 'P-384'; bits: number; point: number }> = {
  '1.2.840.10045.3.1.7': { crv: 'P-256', bits: 256, point: 65 },
  '1.3.132.0.34': { crv: 'P-384', bits: 384, point: 97 },
};

/**
 * A requester's public key from DER SubjectPublicKeyInfo, with its type and size checked.
 * Uncompressed EC points are imported as JWK, which costs half of OpenSSL's DER decoder (the
 * largest single cost of signing a leaf); OpenSSL still checks the point is on the curve.
 * Throws CaError('bad-csr') for an unparseable key, ('bad-key') for an unsupported one.
 */
export function requesterKeyFromSpki(
  spki: Buffer,
  what: string,
): { key: KeyObject; info: KeyInfo } {
  let fast: { jwk: JsonWebKey; bits: number } | undefined;
  try {
    const r = DerReader.of(readOne(spki, Tag.Sequence, 'SubjectPublicKeyInfo'));
    const alg = DerReader.of(r.expect(Tag.Sequence, 'algorithm'));
    const algOid = readOid(alg.expect(Tag.Oid, 'algorithm OID'));
    const params = alg.optional(Tag.Oid, 'curve');
    const point = readBitString(r.expect(Tag.BitString, 'public key'));
    const curve = params ? CURVES[readOid(params)] : undefined;
    if (
      algOid === Oids.ecPublicKey &&
      curve &&
      point.unusedBits === 0 &&
      point.bytes.length === curve.point &&
      point.bytes[0] === 4
    ) {
      const half = (curve.point - 1) / 2;
      fast = {
        jwk: {
          kty: 'EC',
          crv: curve.crv,
          x: point.bytes.subarray(1, 1 + half).toString('base64url'),
          y: point.bytes.subarray(1 + half).toString('base64url'),
        },
        bits: curve.bits,
      };
    }
  } catch (e) {
    if (!(e instanceof DerError)) throw e;
    throw new CaError('bad-csr', `${what} could not be parsed: ${e.message}`);
  }
  if (fast) {
    try {
      return {
        key: createPublicKey({ key: fast.jwk, format: 'jwk' }),
        info: { type: 'ec', bits: fast.bits },
      };
    } catch (e) {
      throw new CaError('bad-csr', `${what} is not a valid EC point: ${describe(e)}`, { cause: e });
    }
  }
  const key = publicKeyFromSpki(spki, 'bad-csr', what);
  return { key, info: keyInfo(key, 'bad-key', what) };
}

/** Consul's connect.KeyId: SHA-256 over the DER SubjectPublicKeyInfo. */
export function keyIdOf(spki: Uint8Array): Buffer {
  return createHash('sha256').update(spki).digest();
}

/** Checks a requested key type and size (Consul's PrivateKeyType / PrivateKeyBits). */
export function checkKeyParams(type: unknown, bits: unknown): KeyInfo {
  if (type === 'ec') {
    if (bits === 256 || bits === 384) return { type, bits };
    throw new CaError('bad-config', `EC key bits must be 256 or 384, got ${String(bits)}`);
  }
  if (type === 'rsa') {
    if (bits === 2048 || bits === 4096) return { type, bits };
    throw new CaError('bad-config', `RSA key bits must be 2048 or 4096, got ${String(bits)}`);
  }
  throw new CaError('bad-config', `private key type must be 'ec' or 'rsa', got ${String(type)}`);
}

const generate = promisify(nodeGenerateKeyPair);

export async function generateKeyPair(
  info: KeyInfo,
): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  if (info.type === 'ec') {
    return generate('ec', { namedCurve: info.bits === 384 ? 'P-384' : 'P-256' });
  }
  return generate('rsa', { modulusLength: info.bits, publicExponent: 0x10001 });
}

/** PEM as Consul writes keys: `EC PRIVATE KEY` (SEC 1) or `RSA PRIVATE KEY` (PKCS#1). */
export function privateKeyToPem(key: KeyObject): string {
  const type = key.asymmetricKeyType === 'rsa' ? 'pkcs1' : 'sec1';
  return key.export({ type, format: 'pem' }).toString();
}

export interface SignatureAlgorithm {
  /** The DER AlgorithmIdentifier. */
  identifier: Buffer;
  hash: 'sha256' | 'sha384';
}

/**
 * The algorithm a CA key signs with: ECDSA with SHA-256 (P-256) or SHA-384 (P-384), RSA
 * PKCS#1 v1.5 with SHA-256.
 */
export function signatureAlgorithmFor(info: KeyInfo): SignatureAlgorithm {
  if (info.type === 'rsa') {
    return { identifier: seq(oid(Oids.sha256WithRsa), nullValue()), hash: 'sha256' };
  }
  if (info.bits === 384) return { identifier: seq(oid(Oids.ecdsaWithSha384)), hash: 'sha384' };
  return { identifier: seq(oid(Oids.ecdsaWithSha256)), hash: 'sha256' };
}

/** Hash and key type of a signature algorithm OID, or undefined if unsupported. */
export function signatureAlgorithmByOid(
  algOid: string,
): { hash: 'sha256' | 'sha384' | 'sha512'; keyType: KeyType } | undefined {
  switch (algOid) {
    case Oids.ecdsaWithSha256:
      return { hash: 'sha256', keyType: 'ec' };
    case Oids.ecdsaWithSha384:
      return { hash: 'sha384', keyType: 'ec' };
    case Oids.ecdsaWithSha512:
      return { hash: 'sha512', keyType: 'ec' };
    case Oids.sha256WithRsa:
      return { hash: 'sha256', keyType: 'rsa' };
    case Oids.sha384WithRsa:
      return { hash: 'sha384', keyType: 'rsa' };
    case Oids.sha512WithRsa:
      return { hash: 'sha512', keyType: 'rsa' };
    default:
      return undefined;
  }
}

/** Signs off the event loop (libuv's thread pool); ECDSA signatures come out DER-encoded. */
export function signAsync(hash: string, data: Buffer, key: KeyObject): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    nodeSign(hash, data, key, (err, sig) => (err ? reject(err) : resolve(sig)));
  });
}

export function verifyAsync(
  hash: string,
  data: Buffer,
  key: KeyObject,
  signature: Buffer,
): Promise<boolean> {
  return new Promise((resolve) => {
    nodeVerify(hash, data, key, signature, (err, ok) => resolve(!err && ok));
  });
}

/** True if the private key's public half is the public key in `spki`. */
export function keyMatches(privateKey: KeyObject, spki: Buffer): boolean {
  try {
    return createPublicKey({ key: spki, format: 'der', type: 'spki' }).equals(
      createPublicKey(privateKey),
    );
  } catch {
    return false;
  }
}
