/**
 * X.509 v3 certificates at the DER level: building and signing a TBSCertificate with the
 * extensions a CA issues, and parsing a certificate into the raw parts the CA reuses (the
 * subject to name as issuer, the public key, the extensions) plus decoders for the
 * extensions it inspects. Used for roots, cross-signed intermediates, leaves and agent TLS
 * certificates alike, so every certificate the package issues has one encoding.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import {
  DerError,
  DerReader,
  Tag,
  bitString,
  bool,
  content,
  explicit,
  implicitPrimitive,
  octetString,
  oid,
  raw,
  readBitString,
  readBoolean,
  readOid,
  readSmallUint,
  readTime,
  readUint,
  readOne,
  seq,
  set,
  time,
  tlv,
  uint,
  uintFromBytes,
  utf8String,
  type Tlv,
} from './der.js';
import { signAsync, type SignatureAlgorithm } from './keys.js';

export const ExtOids = {
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  nameConstraints: '2.5.29.30',
  extKeyUsage: '2.5.29.37',
  authorityKeyIdentifier: '2.5.29.35',
} as const;

export const EkuOids = {
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

export const NameOids = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
} as const;

/** Key usage bit numbers (RFC 5280 §4.2.1.3). */
export const KeyUsageBit = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
  encipherOnly: 7,
  decipherOnly: 8,
} as const;

export type KeyUsageName = keyof typeof KeyUsageBit;

export interface ExtensionInput {
  oid: string;
  critical: boolean;
  /** The DER value inside the extension's OCTET STRING. */
  value: Buffer;
}

export interface TbsInput {
  /** Unsigned big-endian magnitude of the serial number. */
  serial: Uint8Array;
  algorithm: SignatureAlgorithm;
  /** DER Name of the issuer (copied byte for byte from the issuer's subject). */
  issuer: Buffer;
  notBefore: Date;
  notAfter: Date;
  /** DER Name of the subject (an empty SEQUENCE for none). */
  subject: Buffer;
  /** DER SubjectPublicKeyInfo. */
  spki: Buffer;
  extensions: ExtensionInput[];
}

function extension(e: ExtensionInput): Buffer {
  return e.critical
    ? seq(oid(e.oid), bool(true), octetString(e.value))
    : seq(oid(e.oid), octetString(e.value));
}

export function encodeTbs(t: TbsInput): Buffer {
  const parts = [
    explicit(0, uint(2)), // v3
    uintFromBytes(t.serial),
    t.algorithm.identifier,
    t.issuer,
    seq(time(t.notBefore), time(t.notAfter)),
    t.subject,
    t.spki,
  ];
  if (t.extensions.length > 0) parts.push(explicit(3, seq(...t.extensions.map(extension))));
  return seq(...parts);
}

/** Signs a TBSCertificate and returns the DER certificate. */
export async function signCertificate(
  tbs: Buffer,
  algorithm: SignatureAlgorithm,
  key: KeyObject,
): Promise<Buffer> {
  const signature = await signAsync(algorithm.hash, tbs, key);
  return seq(tbs, algorithm.identifier, bitString(signature));
}

// ---------------------------------------------------------------------------------------
// Names and serials

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

/** A DER Name of single-valued RDNs; PrintableString when the value allows it (as Go). */
export function encodeName(attrs: ReadonlyArray<readonly [string, string]>): Buffer {
  return seq(
    ...attrs.map(([type, value]) =>
      set(
        seq(
          oid(type),
          PRINTABLE.test(value)
            ? tlv(Tag.PrintableString, Buffer.from(value, 'latin1'))
            : utf8String(value),
        ),
      ),
    ),
  );
}

export const EMPTY_NAME = seq();

/**
 * A random positive serial of up to `bytes` bytes (top bit clear, never zero), as its minimal
 * big-endian magnitude (no leading zero bytes, so its colon hex matches the certificate's).
 */
export function randomSerial(bytes = 8): Buffer {
  for (;;) {
    const b = randomBytes(bytes);
    b[0] = (b[0] ?? 0) & 0x7f;
    const first = b.findIndex((x) => x !== 0);
    if (first >= 0) return b.subarray(first);
  }
}

// ---------------------------------------------------------------------------------------
// Extension builders

export function basicConstraints(ca: boolean, pathLen?: number): ExtensionInput {
  const parts: Buffer[] = [];
  if (ca) parts.push(bool(true));
  if (ca && pathLen !== undefined) parts.push(uint(pathLen));
  return { oid: ExtOids.basicConstraints, critical: true, value: seq(...parts) };
}

export function keyUsage(usages: readonly KeyUsageName[]): ExtensionInput {
  const bits = usages.map((u) => KeyUsageBit[u]);
  const max = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(max / 8) + 1);
  for (const b of bits) {
    const i = Math.floor(b / 8);
    bytes[i] = (bytes[i] ?? 0) | (0x80 >> (b % 8));
  }
  const unused = bytes.length * 8 - (max + 1);
  return { oid: ExtOids.keyUsage, critical: true, value: bitString(bytes, unused) };
}

export function extKeyUsage(oids: readonly string[]): ExtensionInput {
  return { oid: ExtOids.extKeyUsage, critical: false, value: seq(...oids.map((o) => oid(o))) };
}

export function subjectKeyId(id: Uint8Array): ExtensionInput {
  return { oid: ExtOids.subjectKeyIdentifier, critical: false, value: octetString(id) };
}

export function authorityKeyId(id: Uint8Array): ExtensionInput {
  return {
    oid: ExtOids.authorityKeyIdentifier,
    critical: false,
    value: seq(implicitPrimitive(0, id)),
  };
}

export interface SanInput {
  dnsNames?: readonly string[];
  ips?: readonly Uint8Array[];
  uris?: readonly string[];
}

/** GeneralNames in Go's order: DNS names, IP addresses, URIs. */
export function generalNames(san: SanInput): Buffer {
  const names: Buffer[] = [];
  for (const d of san.dnsNames ?? []) names.push(implicitPrimitive(2, Buffer.from(d, 'latin1')));
  for (const ip of san.ips ?? []) names.push(implicitPrimitive(7, ip));
  for (const u of san.uris ?? []) names.push(implicitPrimitive(6, Buffer.from(u, 'latin1')));
  return seq(...names);
}

/** SAN; critical when the subject is empty (RFC 5280 §4.2.1.6). */
export function subjectAltName(san: SanInput, critical: boolean): ExtensionInput {
  return { oid: ExtOids.subjectAltName, critical, value: generalNames(san) };
}

/** Permitted DNS subtrees (Go's PermittedDNSDomains), critical. */
export function nameConstraints(permittedDns: readonly string[]): ExtensionInput {
  const subtrees = permittedDns.map((d) => seq(implicitPrimitive(2, Buffer.from(d, 'latin1'))));
  return {
    oid: ExtOids.nameConstraints,
    critical: true,
    value: seq(tlv(0xa0, Buffer.concat(subtrees))),
  };
}

// ---------------------------------------------------------------------------------------
// Parsing

export interface ParsedExtension {
  critical: boolean;
  value: Buffer;
}

export interface ParsedCertificate {
  der: Buffer;
  /** The TBSCertificate bytes, as signed. */
  tbs: Buffer;
  signatureAlgorithm: string;
  signature: Buffer;
  version: number;
  /** Unsigned big-endian magnitude, minimal. */
  serial: Buffer;
  issuer: Buffer;
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  spki: Buffer;
  extensions: Map<string, ParsedExtension>;
}

function readAlgorithm(t: Tlv): string {
  const r = DerReader.of(t);
  return readOid(r.expect(Tag.Oid, 'algorithm OID'));
}

/** Parses one DER certificate. Throws DerError. */
export function parseCertificate(der: Buffer): ParsedCertificate {
  const top = readOne(der, Tag.Sequence, 'Certificate');
  const r = DerReader.of(top);
  const tbsT = r.expect(Tag.Sequence, 'TBSCertificate');
  const sigAlg = readAlgorithm(r.expect(Tag.Sequence, 'signatureAlgorithm'));
  const sig = readBitString(r.expect(Tag.BitString, 'signature'));
  r.end('Certificate');

  const t = DerReader.of(tbsT);
  let version = 1;
  const v = t.optional(0xa0, 'version');
  if (v) {
    const vr = DerReader.of(v);
    version = readSmallUint(vr.expect(Tag.Integer, 'version'), 'version') + 1;
    vr.end('version');
  }
  const serial = readUint(t.expect(Tag.Integer, 'serialNumber'), 'serialNumber');
  const innerAlg = readAlgorithm(t.expect(Tag.Sequence, 'signature algorithm'));
  if (innerAlg !== sigAlg) throw new DerError('signature algorithms in and outside TBS differ');
  const issuer = raw(t.expect(Tag.Sequence, 'issuer'));
  const validity = DerReader.of(t.expect(Tag.Sequence, 'validity'));
  const notBefore = readTime(validity.next('notBefore'));
  const notAfter = readTime(validity.next('notAfter'));
  validity.end('validity');
  const subject = raw(t.expect(Tag.Sequence, 'subject'));
  const spki = raw(t.expect(Tag.Sequence, 'subjectPublicKeyInfo'));
  // v2 unique identifiers: [1] and [2] IMPLICIT BIT STRING, skipped.
  if (t.peekTag() === 0x81 || t.peekTag() === 0xa1) t.next('issuerUniqueID');
  if (t.peekTag() === 0x82 || t.peekTag() === 0xa2) t.next('subjectUniqueID');
  const extensions = new Map<string, ParsedExtension>();
  const extT = t.optional(0xa3, 'extensions');
  if (extT) {
    const er = DerReader.of(extT);
    const list = DerReader.of(er.expect(Tag.Sequence, 'extensions'));
    er.end('extensions');
    for (const [id, ext] of readExtensions(list)) extensions.set(id, ext);
  }
  t.end('TBSCertificate');
  return {
    der,
    tbs: raw(tbsT),
    signatureAlgorithm: sigAlg,
    signature: sig.bytes,
    version,
    serial,
    issuer,
    subject,
    notBefore,
    notAfter,
    spki,
    extensions,
  };
}

/** Reads a SEQUENCE OF Extension's elements; a repeated extension is an error. */
export function readExtensions(list: DerReader): Map<string, ParsedExtension> {
  const out = new Map<string, ParsedExtension>();
  while (list.hasMore()) {
    const e = DerReader.of(list.expect(Tag.Sequence, 'extension'));
    const id = readOid(e.expect(Tag.Oid, 'extension OID'));
    const c = e.optional(Tag.Boolean, 'critical');
    const critical = c ? readBoolean(c) : false;
    const value = content(e.expect(Tag.OctetString, 'extension value'));
    e.end('extension');
    if (out.has(id)) throw new DerError(`extension ${id} appears twice`);
    out.set(id, { critical, value });
  }
  return out;
}

export function decodeBasicConstraints(value: Buffer): { ca: boolean; pathLen?: number } {
  const r = DerReader.of(readOne(value, Tag.Sequence, 'basicConstraints'));
  const c = r.optional(Tag.Boolean, 'cA');
  const ca = c ? readBoolean(c) : false;
  const p = r.optional(Tag.Integer, 'pathLenConstraint');
  r.end('basicConstraints');
  return p ? { ca, pathLen: readSmallUint(p, 'pathLenConstraint') } : { ca };
}

/** Key usage as a bit mask: bit `n` set for usage number `n`. */
export function decodeKeyUsage(value: Buffer): number {
  const { bytes } = readBitString(readOne(value, Tag.BitString, 'keyUsage'));
  let mask = 0;
  for (let i = 0; i < Math.min(bytes.length, 2); i++) {
    for (let bit = 0; bit < 8; bit++) {
      if ((bytes[i] ?? 0) & (0x80 >> bit)) mask |= 1 << (i * 8 + bit);
    }
  }
  return mask;
}

export function decodeSubjectKeyId(value: Buffer): Buffer {
  return content(readOne(value, Tag.OctetString, 'subjectKeyIdentifier'));
}

export function decodeAuthorityKeyId(value: Buffer): Buffer | undefined {
  const r = DerReader.of(readOne(value, Tag.Sequence, 'authorityKeyIdentifier'));
  const k = r.optional(0x80, 'keyIdentifier');
  return k ? content(k) : undefined;
}

export interface DecodedNames {
  dnsNames: string[];
  uris: string[];
  /** Raw 4- or 16-byte addresses. */
  ips: Buffer[];
  /** Names of other forms (email, directory name, ...), counted but not kept. */
  others: number;
}

function ascii(t: Tlv, what: string): string {
  const c = content(t);
  for (const b of c) if (b >= 0x80) throw new DerError(`${what} is not ASCII`);
  return c.toString('latin1');
}

export function decodeGeneralNames(value: Buffer): DecodedNames {
  const r = DerReader.of(readOne(value, Tag.Sequence, 'GeneralNames'));
  const out: DecodedNames = { dnsNames: [], uris: [], ips: [], others: 0 };
  while (r.hasMore()) {
    const n = r.next('GeneralName');
    switch (n.tag) {
      case 0x82:
        out.dnsNames.push(ascii(n, 'DNS name'));
        break;
      case 0x86:
        out.uris.push(ascii(n, 'URI'));
        break;
      case 0x87: {
        const ip = content(n);
        if (ip.length !== 4 && ip.length !== 16) throw new DerError('IP address SAN of bad length');
        out.ips.push(ip);
        break;
      }
      default:
        out.others++;
    }
  }
  return out;
}

/** The raw bytes of an IPv4 or IPv6 address in text form, or undefined if it is not one. */
export function parseIp(text: string): Buffer | undefined {
  const kind = isIP(text);
  if (kind === 4) return Buffer.from(text.split('.').map(Number));
  if (kind !== 6 || text.includes('%')) return undefined;
  let s = text;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  let tail: number[] = [];
  if (v4?.[1]) {
    const b = v4[1].split('.').map(Number);
    tail = [((b[0] ?? 0) << 8) | (b[1] ?? 0), ((b[2] ?? 0) << 8) | (b[3] ?? 0)];
    s = s.slice(0, -v4[1].length);
    if (s.endsWith(':') && !s.endsWith('::')) s = s.slice(0, -1);
  }
  const [head = '', rest] = s.split('::');
  const parse = (part: string): number[] =>
    part === '' ? [] : part.split(':').map((g) => parseInt(g, 16));
  const left = parse(head);
  const right = rest === undefined ? [] : parse(rest);
  const fill = 8 - left.length - right.length - tail.length;
  const groups = [...left, ...Array<number>(Math.max(0, fill)).fill(0), ...right, ...tail];
  if (groups.length !== 8) return undefined;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

/** Dotted or colon text of a raw IP address. */
export function ipToString(ip: Uint8Array): string {
  if (ip.length === 4) return Array.from(ip).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2)
    groups.push((((ip[i] ?? 0) << 8) | (ip[i + 1] ?? 0)).toString(16));
  return groups.join(':');
}
