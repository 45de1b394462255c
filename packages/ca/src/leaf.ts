/**
 * Leaf signing: what Consul's ConnectCA.Sign endpoint and the built-in provider's Sign do
 * with a CSR (agent/consul/leader_connect_ca.go SignCertificate, provider_consul.go Sign).
 *
 * The CSR is checked before anything is signed: size, PEM, DER structure, signature, key
 * type and size, exactly one URI SAN that is a service or agent SPIFFE ID of this trust
 * domain and datacenter. The leaf then has Consul's contents: an empty subject with a
 * critical SAN (the SPIFFE ID, then the CSR's DNS names and IP addresses), basicConstraints
 * CA:FALSE (critical), keyUsage digitalSignature, keyEncipherment, dataEncipherment and
 * keyAgreement (critical), extKeyUsage clientAuth and serverAuth, subject key id of the CSR's
 * key and authority key id of the signing certificate; valid from a minute before `now`.
 *
 * Everything is parsed and encoded with the package's own DER code and signed with
 * node:crypto off the event loop, so a signer does several thousand EC P-256 leaves a second.
 */
import type { KeyObject } from 'node:crypto';
import {
  EkuOids,
  EMPTY_NAME,
  ExtOids,
  authorityKeyId,
  basicConstraints,
  decodeGeneralNames,
  encodeTbs,
  extKeyUsage,
  keyUsage,
  randomSerial,
  readExtensions,
  signCertificate,
  subjectAltName,
  subjectKeyId,
  type DecodedNames,
  type ExtensionInput,
} from './cert.js';
import {
  CLOCK_SKEW_MS,
  MAX_CSR_BYTES,
  checkedDuration,
  checkedTime,
  checkedValidity,
} from './config.js';
import {
  DerError,
  DerReader,
  Tag,
  raw,
  readBitString,
  readOid,
  readOne,
  readSmallUint,
} from './der.js';
import { CaError } from './errors.js';
import {
  keyIdOf,
  requesterKeyFromSpki,
  signatureAlgorithmByOid,
  signatureAlgorithmFor,
  verifyAsync,
  type KeyType,
  type SignatureAlgorithm,
} from './keys.js';
import { colonHex, derToPem, parsePemBlocks } from './pem.js';
import { loadCaCert, loadCaKey, serialBytes } from './root.js';
import {
  normalizeTrustDomain,
  parseSpiffeId,
  type SpiffeAgentId,
  type SpiffeServiceId,
} from './spiffe.js';

export interface SignerOptions {
  /** The signing certificate: the active root, or an intermediate under it. */
  certPem: string;
  keyPem: string;
  /** Appended to every leaf, in order (for example a cross-signed root after a rotation). */
  intermediatesPem?: string[];
}

export interface SignLeafOptions {
  trustDomain: string;
  datacenter: string;
  /** Validity after `now`; see validateLeafTtl for Consul's configurable range. */
  ttlMs: number;
  now: Date;
  /** Default: a random 63-bit serial. */
  serialNumber?: number | bigint;
}

export interface SignedLeaf {
  /** The leaf PEM followed by the signer's intermediates, as Consul's IssuedCert.CertPEM. */
  certPem: string;
  /** Colon hex (Consul's connect.EncodeSerialNumber). */
  serialNumber: string;
  /** The service name; empty for an agent certificate. */
  service: string;
  /** The service's SPIFFE ID; empty for an agent certificate. */
  serviceUri: string;
  /** The node name, for an agent certificate only. */
  agent?: string;
  /** The agent's SPIFFE ID, for an agent certificate only. */
  agentUri?: string;
  /** The parsed SPIFFE ID the certificate carries. */
  spiffeId: SpiffeServiceId | SpiffeAgentId;
  validAfter: string;
  validBefore: string;
}

export interface Signer {
  /** The signing certificate, normalized PEM. */
  readonly certPem: string;
  /** Colon hex of the signing certificate's subject key id (the leaves' authority key id). */
  readonly signingKeyId: string;
  readonly keyType: KeyType;
  readonly keyBits: number;
  /** Validates `csrPem` and signs it. Throws CaError for every problem with the input. */
  signLeaf(csrPem: string, opts: SignLeafOptions): Promise<SignedLeaf>;
}

const EXTENSION_REQUEST = '1.2.840.113549.1.9.14';

const LEAF_KEY_USAGE = keyUsage([
  'digitalSignature',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
]);
const LEAF_EXT_KEY_USAGE = extKeyUsage([EkuOids.clientAuth, EkuOids.serverAuth]);
const LEAF_BASIC_CONSTRAINTS = basicConstraints(false);

interface ParsedCsr {
  info: Buffer;
  signatureAlgorithm: string;
  signature: Buffer;
  spki: Buffer;
  names: DecodedNames;
}

function parseCsrDer(der: Buffer): ParsedCsr {
  const r = DerReader.of(readOne(der, Tag.Sequence, 'CertificationRequest'));
  const infoT = r.expect(Tag.Sequence, 'CertificationRequestInfo');
  const alg = DerReader.of(r.expect(Tag.Sequence, 'signatureAlgorithm'));
  const signatureAlgorithm = readOid(alg.expect(Tag.Oid, 'signature algorithm OID'));
  const sig = readBitString(r.expect(Tag.BitString, 'signature'));
  r.end('CertificationRequest');
  if (sig.unusedBits !== 0) throw new DerError('signature BIT STRING has unused bits');

  const i = DerReader.of(infoT);
  const version = readSmallUint(i.expect(Tag.Integer, 'version'), 'version');
  if (version !== 0) throw new DerError(`unsupported CSR version ${version}`);
  i.expect(Tag.Sequence, 'subject');
  const spki = raw(i.expect(Tag.Sequence, 'subjectPublicKeyInfo'));
  let names: DecodedNames = { dnsNames: [], uris: [], ips: [], others: 0 };
  const attrs = i.optional(0xa0, 'attributes');
  i.end('CertificationRequestInfo');
  if (attrs) {
    const ar = DerReader.of(attrs);
    let sawExtensions = false;
    while (ar.hasMore()) {
      const a = DerReader.of(ar.expect(Tag.Sequence, 'attribute'));
      const type = readOid(a.expect(Tag.Oid, 'attribute type'));
      const values = DerReader.of(a.expect(Tag.Set, 'attribute values'));
      a.end('attribute');
      if (type !== EXTENSION_REQUEST) continue;
      if (sawExtensions) throw new DerError('more than one extensionRequest attribute');
      sawExtensions = true;
      const list = DerReader.of(values.expect(Tag.Sequence, 'requested extensions'));
      values.end('extensionRequest values');
      const san = readExtensions(list).get(ExtOids.subjectAltName);
      if (san) names = decodeGeneralNames(san.value);
    }
  }
  return { info: raw(infoT), signatureAlgorithm, signature: sig.bytes, spki, names };
}

function bad(message: string): never {
  throw new CaError('bad-csr', message);
}

class LeafSigner implements Signer {
  readonly certPem: string;
  readonly signingKeyId: string;
  readonly keyType: KeyType;
  readonly keyBits: number;
  private readonly algorithm: SignatureAlgorithm;
  private readonly issuer: Buffer;
  private readonly authorityKeyId: ExtensionInput;
  private readonly chain: string;
  private readonly notAfter: number;

  constructor(
    ca: ReturnType<typeof loadCaCert>,
    private readonly key: KeyObject,
    intermediates: string[],
  ) {
    this.certPem = ca.pem;
    this.signingKeyId = colonHex(ca.keyId);
    this.keyType = ca.keyInfo.type;
    this.keyBits = ca.keyInfo.bits;
    this.algorithm = signatureAlgorithmFor(ca.keyInfo);
    this.issuer = ca.cert.subject;
    this.authorityKeyId = authorityKeyId(ca.keyId);
    this.chain = intermediates.join('');
    this.notAfter = ca.cert.notAfter.getTime();
  }

  async signLeaf(csrPem: string, opts: SignLeafOptions): Promise<SignedLeaf> {
    // Options first: they are the caller's, not the requester's.
    const now = checkedTime(opts.now);
    const ttl = checkedDuration(opts.ttlMs, 'ttlMs');
    const trustDomain = normalizeTrustDomain(opts.trustDomain);
    if (typeof opts.datacenter !== 'string' || opts.datacenter === '') {
      throw new CaError('bad-config', 'datacenter is required');
    }
    const serial =
      opts.serialNumber === undefined ? randomSerial() : serialBytes(opts.serialNumber);
    if (now > this.notAfter) {
      throw new CaError(
        'bad-root',
        `the signing certificate expired at ${new Date(this.notAfter).toISOString()}`,
      );
    }

    if (typeof csrPem !== 'string') bad('CSR must be a PEM string');
    const size = Buffer.byteLength(csrPem, 'utf8');
    if (size > MAX_CSR_BYTES) bad(`CSR is too large: ${size} bytes (limit ${MAX_CSR_BYTES})`);
    const blocks = parsePemBlocks(csrPem, 'bad-csr', 'CSR');
    if (blocks.length !== 1) bad(`expected one PEM block in the CSR, found ${blocks.length}`);
    const [block] = blocks as [{ label: string; der: Buffer }];
    if (block.label !== 'CERTIFICATE REQUEST' && block.label !== 'NEW CERTIFICATE REQUEST') {
      bad(`expected a CERTIFICATE REQUEST PEM block, found ${block.label}`);
    }
    let csr: ParsedCsr;
    try {
      csr = parseCsrDer(block.der);
    } catch (e) {
      if (!(e instanceof DerError)) throw e;
      bad(`CSR is not a valid PKCS#10 request: ${e.message}`);
    }

    const { key: publicKey, info } = requesterKeyFromSpki(csr.spki, "CSR's public key");
    const alg = signatureAlgorithmByOid(csr.signatureAlgorithm);
    if (!alg) bad(`CSR signature algorithm ${csr.signatureAlgorithm} is not supported`);
    if (alg.keyType !== info.type) {
      bad(`CSR signature algorithm does not match its ${info.type.toUpperCase()} key`);
    }
    if (!(await verifyAsync(alg.hash, csr.info, publicKey, csr.signature))) {
      bad('CSR signature does not verify');
    }

    const { uris, dnsNames, ips } = csr.names;
    if (uris.length !== 1) {
      bad(
        uris.length === 0
          ? 'CSR must carry exactly one URI SAN (its SPIFFE ID); it has none'
          : `CSR must carry exactly one URI SAN (its SPIFFE ID); it has ${uris.length}`,
      );
    }
    const id = parseSpiffeId(uris[0] ?? '');
    if (id.kind !== 'service' && id.kind !== 'agent') {
      throw new CaError('bad-spiffe-id', 'SPIFFE ID in CSR must be a service or agent ID');
    }
    if (id.trustDomain !== trustDomain) {
      throw new CaError(
        'wrong-trust-domain',
        `SPIFFE ID in CSR from a different trust domain: ${id.trustDomain}, we are ${trustDomain}`,
      );
    }
    if (id.datacenter !== opts.datacenter) {
      throw new CaError(
        'wrong-datacenter',
        `SPIFFE ID in CSR from a different datacenter: ${id.datacenter}, we are ${opts.datacenter}`,
      );
    }

    const notBefore = checkedValidity(now - CLOCK_SKEW_MS, 'notBefore');
    const notAfter = checkedValidity(now + ttl, 'notAfter');
    const tbs = encodeTbs({
      serial,
      algorithm: this.algorithm,
      issuer: this.issuer,
      notBefore,
      notAfter,
      subject: EMPTY_NAME,
      spki: csr.spki,
      extensions: [
        LEAF_KEY_USAGE,
        LEAF_EXT_KEY_USAGE,
        LEAF_BASIC_CONSTRAINTS,
        subjectKeyId(keyIdOf(csr.spki)),
        this.authorityKeyId,
        subjectAltName({ dnsNames, ips, uris: [id.uri] }, true),
      ],
    });
    const der = await signCertificate(tbs, this.algorithm, this.key);
    const leaf: SignedLeaf = {
      certPem: derToPem(der, 'CERTIFICATE') + this.chain,
      serialNumber: colonHex(serial),
      service: id.kind === 'service' ? id.service : '',
      serviceUri: id.kind === 'service' ? id.uri : '',
      spiffeId: id,
      validAfter: notBefore.toISOString(),
      validBefore: notAfter.toISOString(),
    };
    if (id.kind === 'agent') {
      leaf.agent = id.node;
      leaf.agentUri = id.uri;
    }
    return leaf;
  }
}

/**
 * A signer for one CA certificate and key: parses and checks them once (a v3 CA, key
 * supported and matching; CaError('bad-root') / ('bad-key') otherwise).
 */
// eslint-disable-next-line @typescript-eslint/require-await -- async so that errors reject
export async function createSigner(opts: SignerOptions): Promise<Signer> {
  const ca = loadCaCert(opts.certPem, 'signing certificate');
  const key = loadCaKey(opts.keyPem, ca, 'signing key');
  const intermediates: string[] = [];
  for (const [n, pem] of (opts.intermediatesPem ?? []).entries()) {
    for (const b of parsePemBlocks(pem, 'bad-root', `intermediate ${n}`)) {
      if (b.label !== 'CERTIFICATE') {
        throw new CaError('bad-root', `intermediate ${n}: expected CERTIFICATE, found ${b.label}`);
      }
      intermediates.push(derToPem(b.der, 'CERTIFICATE'));
    }
  }
  return new LeafSigner(ca, key, intermediates);
}
