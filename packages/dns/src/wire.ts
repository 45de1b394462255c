/**
 * The DNS wire format (RFC 1035 §4.1, RFC 6891 for EDNS), on top of `dns-packet`: this file
 * converts between dns-packet's shapes and ours, and guards the library against hostile
 * input. dns-packet decodes the names (compression pointers included) and the record data,
 * and encodes whole messages.
 *
 * Names are presentation text, fully qualified ("web.service.consul."; the root is "."),
 * with a label's '.', '\' and bytes outside 0x21–0x7e escaped as "\." "\\" "\DDD" — the
 * form miekg/dns (and so Consul) works on. Case is kept as received.
 *
 * Decoding never throws anything but {@link WireError} and never loops or allocates beyond
 * the input: section counts are checked against the bytes present before any is read, each
 * record's RDLENGTH is checked against the input and the record decoder runs on a view that
 * ends with the record (dns-packet's own framing trusts neither, see decodeMessage), and
 * dns-packet's name decoder only follows pointers that go strictly backwards. The OPT
 * pseudo-record of the additional section is lifted into {@link Message.edns}; more than one
 * OPT is an error. Bytes after the last section are ignored, as miekg/dns does.
 *
 * Encoding does not compress names: dns-packet has no name compression, so what is measured
 * is what is sent. It throws WireError for a name that cannot be encoded (a label over 63
 * bytes, a name over 255, an empty label, or a label dns-packet cannot carry: see
 * {@link isEncodableName}) or an A/AAAA record whose address is not an IP of that family.
 */
import dnsPacket from 'dns-packet';
import { formatIpv4, formatIpv6, parseIp, to4 } from './ip.js';

/** Resource record types this package reads or writes (others decode as `raw`). */
export const RRType = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  DS: 43,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
} as const;

export const RCode = {
  NoError: 0,
  FormErr: 1,
  ServFail: 2,
  NXDomain: 3,
  NotImp: 4,
  Refused: 5,
} as const;

export const OpCode = { Query: 0, IQuery: 1, Status: 2, Notify: 4, Update: 5 } as const;

export const CLASS_IN = 1;
export const HEADER_BYTES = 12;
export const MAX_LABEL_BYTES = 63;
export const MAX_NAME_BYTES = 255;
/** RFC 7871 EDNS Client Subnet option code. */
export const EDNS_CLIENT_SUBNET = 8;

export interface Header {
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  /** The one remaining reserved bit (0x40 of the second flags byte). */
  z: boolean;
  ad: boolean;
  cd: boolean;
  /** The low four bits of the response code. */
  rcode: number;
}

export interface HeaderWithCounts extends Header {
  qdcount: number;
  ancount: number;
  nscount: number;
  arcount: number;
}

export interface Question {
  name: string;
  type: number;
  class: number;
}

export type RData =
  | { kind: 'a'; address: string }
  | { kind: 'aaaa'; address: string }
  /** CNAME, NS, PTR. */
  | { kind: 'name'; target: string }
  | { kind: 'srv'; priority: number; weight: number; port: number; target: string }
  | { kind: 'mx'; preference: number; exchange: string }
  | { kind: 'txt'; strings: Uint8Array[] }
  | {
      kind: 'soa';
      mname: string;
      rname: string;
      serial: number;
      refresh: number;
      retry: number;
      expire: number;
      minimum: number;
    }
  | { kind: 'opt'; options: EdnsOption[] }
  | { kind: 'raw'; bytes: Uint8Array };

export interface ResourceRecord {
  name: string;
  type: number;
  class: number;
  /** Seconds. */
  ttl: number;
  data: RData;
}

export interface EdnsOption {
  code: number;
  data: Uint8Array;
}

/** The OPT pseudo-record (RFC 6891 §6.1). */
export interface Edns {
  /** The requestor's UDP payload size (the OPT record's CLASS). */
  udpSize: number;
  extendedRcode: number;
  version: number;
  dnssecOk: boolean;
  options: EdnsOption[];
}

export interface Message {
  header: Header;
  question: Question[];
  answer: ResourceRecord[];
  authority: ResourceRecord[];
  /** Without the OPT record: that is `edns`. */
  additional: ResourceRecord[];
  edns?: Edns | undefined;
}

export class WireError extends Error {
  /** Byte offset at which decoding failed (-1 for encoding errors). */
  readonly offset: number;
  constructor(offset: number, detail: string) {
    super(offset >= 0 ? `${detail} at byte ${offset}` : detail);
    this.name = 'WireError';
    this.offset = offset;
  }
}

// ------------------------------------------------------------------------------- dns-packet

/**
 * The parts of dns-packet that @types/dns-packet leaves out: its name codec, the per-type
 * record-data codecs (`record(type)`), and the per-entry length functions. Each decoder
 * reports what it consumed in its `.bytes` property, set by the last call.
 */
interface Decoder<T> {
  (buf: Buffer, offset: number, opts?: { mail?: boolean }): T;
  bytes: number;
}
interface DnsPacketInternals {
  name: { decode: Decoder<string>; encodingLength(name: string): number };
  record(type: string): { decode: Decoder<unknown> };
  question: { encodingLength(q: dnsPacket.Question): number };
  answer: {
    encodingLength(a: dnsPacket.Answer): number;
    encode(a: dnsPacket.Answer): Buffer;
  };
}
const lib = dnsPacket as typeof dnsPacket & DnsPacketInternals;

/** dns-packet's names of the types we decode and encode with a typed codec. */
const TYPE_NAMES = new Map<number, string>([
  [RRType.A, 'A'],
  [RRType.NS, 'NS'],
  [RRType.CNAME, 'CNAME'],
  [RRType.SOA, 'SOA'],
  [RRType.PTR, 'PTR'],
  [RRType.MX, 'MX'],
  [RRType.TXT, 'TXT'],
  [RRType.AAAA, 'AAAA'],
  [RRType.SRV, 'SRV'],
  [RRType.OPT, 'OPT'],
]);
/** Any type as dns-packet spells it; "UNKNOWN_<n>" makes it write raw bytes (RFC 3597). */
const typeName = (t: number): string => TYPE_NAMES.get(t) ?? `UNKNOWN_${t}`;

/** The classes dns-packet can write; it writes any other as 0, so encodeMessage patches it. */
const CLASS_NAMES = new Map<number, string>([
  [1, 'IN'],
  [2, 'CS'],
  [3, 'CH'],
  [4, 'HS'],
  [255, 'ANY'],
]);

const asBuffer = (b: Uint8Array): Buffer =>
  Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);

function libError(offset: number, err: unknown): WireError {
  if (err instanceof WireError) return err;
  return new WireError(offset, err instanceof Error ? err.message : String(err));
}

// ------------------------------------------------------------------------------- names

/** A presentation label → wire bytes: "\DDD" and "\X" escapes, other text as UTF-8. */
export function labelBytes(label: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < label.length; i++) {
    const c = label[i]!;
    if (c !== '\\') {
      const code = label.charCodeAt(i);
      if (code < 0x80) out.push(code);
      else {
        // Code points beyond the BMP take two UTF-16 units; encode the whole character.
        const cp = label.codePointAt(i)!;
        const ch = String.fromCodePoint(cp);
        for (const b of Buffer.from(ch, 'utf8')) out.push(b);
        i += ch.length - 1;
      }
      continue;
    }
    const d = label.slice(i + 1, i + 4);
    if (/^[0-9]{3}$/.test(d)) {
      const v = Number(d);
      if (v > 255) throw new WireError(-1, `escape \\${d} is not a byte`);
      out.push(v);
      i += 3;
    } else if (i + 1 < label.length) {
      out.push(label.charCodeAt(i + 1) & 0xff);
      i += 1;
    } else {
      throw new WireError(-1, 'label ends in a lone backslash');
    }
  }
  return Uint8Array.from(out);
}

/** Wire bytes of a label → presentation text. */
export function labelText(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) {
    if (b === 0x2e || b === 0x5c) s += '\\' + String.fromCharCode(b);
    else if (b < 0x21 || b > 0x7e) s += '\\' + String(b).padStart(3, '0');
    else s += String.fromCharCode(b);
  }
  return s;
}

/**
 * The labels of a presentation name, split on unescaped dots; the root ("." or "") has none.
 * A trailing dot is optional. Labels keep their escapes.
 */
export function splitName(name: string): string[] {
  if (name === '.' || name === '') return [];
  const labels: string[] = [];
  let cur = '';
  for (let i = 0; i < name.length; i++) {
    const c = name[i]!;
    if (c === '\\' && i + 1 < name.length) {
      cur += c + name[i + 1]!;
      i++;
      continue;
    }
    if (c === '.') {
      labels.push(cur);
      cur = '';
      continue;
    }
    cur += c;
  }
  if (cur !== '' || !name.endsWith('.')) labels.push(cur);
  return labels;
}

/** `name` with a trailing dot (miekg's dns.Fqdn). */
export function fqdn(name: string): string {
  if (!name.endsWith('.')) return name + '.';
  // A dot after an odd number of backslashes is part of the last label.
  let slashes = 0;
  for (let i = name.length - 2; i >= 0 && name[i] === '\\'; i--) slashes++;
  return slashes % 2 === 0 ? name : name + '.';
}

/**
 * Whether `name` can be encoded: labels of 1–63 bytes, at most 255 bytes in all, and each
 * label one dns-packet can write. dns-packet takes a name as text, splits it on every '.',
 * writes each label as UTF-8 and strips a '.' at the start or end of any line of the text;
 * so it cannot write a label holding a '.' byte, bytes that are not UTF-8, or line breaks.
 * Those labels (and other control characters, to be safe) are refused.
 */
export function isEncodableName(name: string): boolean {
  try {
    packetName(name);
    return true;
  } catch {
    return false;
  }
}

/** Printable ASCII other than '\': text dns-packet writes byte for byte, needing no escape. */
const PLAIN_LABEL = /^[\x21-\x5b\x5d-\x7e]*$/;
/** What dns-packet cannot carry in a label (see isEncodableName). */
const UNWRITABLE = /[\x00-\x1f\x7f\u2028\u2029]/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * A presentation name → dns-packet's text form (labels joined by '.', no trailing dot, "."
 * for the root). `mail`: the name is an SOA RNAME, which dns-packet writes with its "mail"
 * rule (a label ending in '\' joins the next), so such labels are refused too.
 */
function packetName(name: string, mail = false): string {
  const labels = splitName(name);
  if (labels.length === 0) return '.';
  let total = 1;
  const out: string[] = [];
  for (const l of labels) {
    let text = l;
    if (!PLAIN_LABEL.test(l)) {
      const bytes = labelBytes(l);
      if (bytes.includes(0x2e)) throw new WireError(-1, `label ${l} holds a '.'`);
      try {
        text = utf8.decode(bytes);
      } catch {
        throw new WireError(-1, `label ${l} is not UTF-8`);
      }
      if (UNWRITABLE.test(text)) throw new WireError(-1, `label ${l} holds a control character`);
      if (mail && text.endsWith('\\')) throw new WireError(-1, `mailbox label ${l} ends in '\\'`);
    }
    const n = Buffer.byteLength(text);
    if (n === 0) throw new WireError(-1, 'empty label');
    if (n > MAX_LABEL_BYTES) throw new WireError(-1, `label of ${n} bytes`);
    total += n + 1;
    out.push(text);
  }
  if (total > MAX_NAME_BYTES) throw new WireError(-1, `name of ${total} bytes`);
  return out.join('.');
}

/**
 * The name at `off`, by dns-packet's name decoder (bounds-checked; pointers must go strictly
 * backwards, so chains end; at most 255 bytes), and the bytes it takes at `off`.
 *
 * dns-packet returns labels as UTF-8 text joined by '.', which loses bytes that are not
 * UTF-8 and a '.' or '\' inside a label. With its "mail" option a '.' inside a label comes
 * back as "\."; so any result that is not plain printable ASCII is re-read by
 * {@link exactName}, the one hand-written name reader left, to get the escaped form.
 */
function readName(buf: Buffer, off: number): { name: string; bytes: number } {
  const text = lib.name.decode(buf, off, { mail: true });
  const bytes = lib.name.decode.bytes;
  if (text === '.') return { name: '.', bytes };
  return { name: PLAIN_NAME.test(text) ? text + '.' : exactName(buf, off), bytes };
}
const PLAIN_NAME = /^[\x21-\x5b\x5d-\x7e]+$/;

/**
 * The presentation form of a name dns-packet has just decoded at `off`. It needs no checks:
 * dns-packet has walked the same labels and pointers without error.
 */
function exactName(buf: Buffer, off: number): string {
  const labels: string[] = [];
  let pos = off;
  for (let len = buf[pos]!; len !== 0; len = buf[pos]!) {
    if (len >= 0xc0) {
      pos = ((len & 0x3f) << 8) | buf[pos + 1]!;
      continue;
    }
    labels.push(labelText(buf.subarray(pos + 1, pos + 1 + len)));
    pos += 1 + len;
  }
  return labels.join('.') + '.';
}

// ------------------------------------------------------------------------------- decoding

/** The 12-byte header with its section counts, or null when `buf` is shorter. */
export function decodeHeader(buf: Uint8Array): HeaderWithCounts | null {
  // Our own, not dns-packet's: it must read the header of a packet dns-packet would refuse
  // (so FORMERR can carry the ID and opcode), and dns-packet does not export its header
  // codec (its decode allocates an array per section count before reading anything).
  if (buf.length < HEADER_BYTES) return null;
  const v = new DataView(buf.buffer, buf.byteOffset, HEADER_BYTES);
  const f1 = buf[2]!;
  const f2 = buf[3]!;
  return {
    id: v.getUint16(0),
    qr: (f1 & 0x80) !== 0,
    opcode: (f1 >> 3) & 0x0f,
    aa: (f1 & 0x04) !== 0,
    tc: (f1 & 0x02) !== 0,
    rd: (f1 & 0x01) !== 0,
    ra: (f2 & 0x80) !== 0,
    z: (f2 & 0x40) !== 0,
    ad: (f2 & 0x20) !== 0,
    cd: (f2 & 0x10) !== 0,
    rcode: f2 & 0x0f,
    qdcount: v.getUint16(4),
    ancount: v.getUint16(6),
    nscount: v.getUint16(8),
    arcount: v.getUint16(10),
  };
}

/** Smallest encodings: a question is a root name + type + class, a record adds TTL + length. */
const MIN_QUESTION_BYTES = 5;
const MIN_RECORD_BYTES = 11;

/**
 * Decodes a whole message. Throws WireError.
 *
 * dns-packet's top-level `decode` is not used: it trusts each record decoder to stop at
 * RDLENGTH, and they do not. An A record with RDLENGTH 5 is read as 4 bytes and the next
 * record starts one byte early; a TXT record whose RDLENGTH runs past the input leaves the
 * offset NaN, and later records are then read from byte 0 — garbage returned, no error.
 * So this drives dns-packet's name and record-data decoders one entry at a time: RDLENGTH
 * is checked against the input first, the record decoder gets a view that ends with the
 * record (so it cannot read past it), and what it consumed must equal RDLENGTH.
 */
export function decodeMessage(input: Uint8Array): Message {
  const h = decodeHeader(input);
  if (h === null) throw new WireError(0, 'shorter than a header');
  const minimum =
    HEADER_BYTES +
    h.qdcount * MIN_QUESTION_BYTES +
    (h.ancount + h.nscount + h.arcount) * MIN_RECORD_BYTES;
  if (minimum > input.length) {
    throw new WireError(0, `section counts need at least ${minimum} bytes, have ${input.length}`);
  }
  const buf = asBuffer(input);
  let off = HEADER_BYTES;
  try {
    const question: Question[] = [];
    for (let i = 0; i < h.qdcount; i++) {
      const { name, bytes } = readName(buf, off);
      off += bytes;
      if (off + 4 > buf.length) throw new WireError(off, 'question cut short');
      question.push({ name, type: buf.readUInt16BE(off), class: buf.readUInt16BE(off + 2) });
      off += 4;
    }
    const section = (n: number): ResourceRecord[] => {
      const out: ResourceRecord[] = [];
      for (let i = 0; i < n; i++) {
        const [rr, next] = readRecord(buf, off);
        out.push(rr);
        off = next;
      }
      return out;
    };
    const answer = section(h.ancount);
    const authority = section(h.nscount);
    const extra = section(h.arcount);
    let edns: Edns | undefined;
    const additional: ResourceRecord[] = [];
    for (const rr of extra) {
      if (rr.type !== RRType.OPT) {
        additional.push(rr);
        continue;
      }
      if (edns !== undefined) throw new WireError(-1, 'more than one OPT record');
      if (rr.name !== '.') throw new WireError(-1, 'OPT record not owned by the root');
      edns = {
        udpSize: rr.class,
        extendedRcode: rr.ttl >>> 24,
        version: (rr.ttl >>> 16) & 0xff,
        dnssecOk: (rr.ttl & 0x8000) !== 0,
        options: rr.data.kind === 'opt' ? rr.data.options : [],
      };
    }
    const { qdcount: _qd, ancount: _an, nscount: _ns, arcount: _ar, ...header } = h;
    return { header, question, answer, authority, additional, edns };
  } catch (err) {
    throw libError(off, err);
  }
}

/** Copies bytes out of the input, which the caller may reuse. */
const copy = (b: Uint8Array): Uint8Array => new Uint8Array(b);

/** The record at `off` and the offset after it. */
function readRecord(buf: Buffer, off: number): [ResourceRecord, number] {
  const owner = readName(buf, off);
  const fixed = off + owner.bytes;
  if (fixed + 10 > buf.length) throw new WireError(fixed, 'record header cut short');
  const type = buf.readUInt16BE(fixed);
  const klass = buf.readUInt16BE(fixed + 2);
  const ttl = buf.readUInt32BE(fixed + 4);
  const rdStart = fixed + 10;
  const rdlen = buf.readUInt16BE(fixed + 8);
  const end = rdStart + rdlen;
  if (end > buf.length)
    throw new WireError(fixed + 8, `record data of ${rdlen} bytes runs past the input`);
  const rr = { name: owner.name, type, class: klass, ttl };
  const typed = TYPE_NAMES.get(type);
  if (typed === undefined) {
    return [{ ...rr, data: { kind: 'raw', bytes: copy(buf.subarray(rdStart, end)) } }, end];
  }
  const view = buf.subarray(0, end);
  const codec = lib.record(typed);
  // dns-packet's record decoders start at the RDLENGTH field and count it in `.bytes`.
  const value = codec.decode(view, fixed + 8);
  if (codec.decode.bytes !== rdlen + 2) {
    throw new WireError(rdStart, `record data is ${rdlen} bytes, read ${codec.decode.bytes - 2}`);
  }
  /** A name inside the data, read exactly (see readName); it must end by `until`. */
  const nameAt = (at: number, until = end): { name: string; bytes: number } => {
    const n = readName(view, at);
    if (at + n.bytes > until) throw new WireError(at, 'name runs past its record data');
    return n;
  };
  let data: RData;
  switch (type) {
    case RRType.A:
      data = { kind: 'a', address: value as string };
      break;
    case RRType.AAAA:
      data = { kind: 'aaaa', address: formatIpv6(parseIp(value as string)!) };
      break;
    case RRType.CNAME:
    case RRType.NS:
    case RRType.PTR:
      data = { kind: 'name', target: nameAt(rdStart).name };
      break;
    case RRType.MX: {
      const mx = value as dnsPacket.MxData;
      data = { kind: 'mx', preference: mx.preference ?? 0, exchange: nameAt(rdStart + 2).name };
      break;
    }
    case RRType.SRV: {
      // dns-packet counts SRV data by RDLENGTH, not by what it read: check the target's end.
      const srv = value as dnsPacket.SrvData;
      const target = nameAt(rdStart + 6);
      if (rdStart + 6 + target.bytes !== end) {
        throw new WireError(rdStart, `SRV data is ${rdlen} bytes, read ${6 + target.bytes}`);
      }
      data = {
        kind: 'srv',
        priority: srv.priority ?? 0,
        weight: srv.weight ?? 0,
        port: srv.port,
        target: target.name,
      };
      break;
    }
    case RRType.SOA: {
      const soa = value as dnsPacket.SoaData;
      const mname = nameAt(rdStart);
      data = {
        kind: 'soa',
        mname: mname.name,
        rname: nameAt(rdStart + mname.bytes).name,
        serial: soa.serial ?? 0,
        refresh: soa.refresh ?? 0,
        retry: soa.retry ?? 0,
        expire: soa.expire ?? 0,
        minimum: soa.minimum ?? 0,
      };
      break;
    }
    case RRType.TXT:
      data = { kind: 'txt', strings: (value as Buffer[]).map(copy) };
      break;
    default: {
      // OPT: dns-packet's OPT options, each with its raw data.
      const options = value as Array<{ code: number; data: Buffer }>;
      data = { kind: 'opt', options: options.map((o) => ({ code: o.code, data: copy(o.data) })) };
    }
  }
  return [{ ...rr, data }, end];
}

// ------------------------------------------------------------------------------- encoding

function clampU32(n: number): number {
  if (!Number.isFinite(n) || n <= 0) return 0;
  return n >= 0xffffffff ? 0xffffffff : Math.floor(n);
}

const u16 = (n: number): number => (Number.isFinite(n) ? n & 0xffff : 0);

function dataType(rr: ResourceRecord, allowed: readonly number[]): string {
  if (!allowed.includes(rr.type)) {
    throw new WireError(-1, `${rr.data.kind} data in a record of type ${rr.type}`);
  }
  return TYPE_NAMES.get(rr.type)!;
}

/** One of our records as dns-packet's Answer. */
function toAnswer(rr: ResourceRecord): dnsPacket.Answer {
  const d = rr.data;
  const base = {
    name: packetName(rr.name),
    class: (CLASS_NAMES.get(rr.class) ?? 'IN') as dnsPacket.RecordClass,
    ttl: clampU32(rr.ttl),
  };
  let answer: { type: string; data: unknown };
  switch (d.kind) {
    case 'a': {
      const ip = parseIp(d.address);
      const v4 = ip === null ? null : to4(ip);
      if (v4 === null) throw new WireError(-1, `A record address ${d.address} is not IPv4`);
      answer = { type: dataType(rr, [RRType.A]), data: formatIpv4(v4) };
      break;
    }
    case 'aaaa': {
      const ip = parseIp(d.address);
      if (ip === null) throw new WireError(-1, `AAAA record address ${d.address} is not an IP`);
      answer = { type: dataType(rr, [RRType.AAAA]), data: formatIpv6(ip) };
      break;
    }
    case 'name':
      answer = {
        type: dataType(rr, [RRType.CNAME, RRType.NS, RRType.PTR]),
        data: packetName(d.target),
      };
      break;
    case 'mx':
      answer = {
        type: dataType(rr, [RRType.MX]),
        data: { preference: u16(d.preference), exchange: packetName(d.exchange) },
      };
      break;
    case 'srv':
      answer = {
        type: dataType(rr, [RRType.SRV]),
        data: {
          priority: u16(d.priority),
          weight: u16(d.weight),
          port: u16(d.port),
          target: packetName(d.target),
        },
      };
      break;
    case 'soa':
      answer = {
        type: dataType(rr, [RRType.SOA]),
        data: {
          mname: packetName(d.mname),
          rname: packetName(d.rname, true),
          serial: clampU32(d.serial),
          refresh: clampU32(d.refresh),
          retry: clampU32(d.retry),
          expire: clampU32(d.expire),
          minimum: clampU32(d.minimum),
        },
      };
      break;
    case 'txt':
      for (const s of d.strings) {
        if (s.length > 255) throw new WireError(-1, 'TXT string longer than 255 bytes');
      }
      answer = { type: dataType(rr, [RRType.TXT]), data: d.strings.map(asBuffer) };
      break;
    case 'opt':
      throw new WireError(-1, 'an OPT record belongs in Message.edns');
    case 'raw':
      answer = { type: `UNKNOWN_${rr.type}`, data: asBuffer(d.bytes) };
      break;
  }
  return { ...base, ...answer } as dnsPacket.Answer;
}

function optAnswer(e: Edns): dnsPacket.Answer {
  return {
    type: 'OPT',
    name: '.',
    udpPayloadSize: e.udpSize & 0xffff,
    extendedRcode: e.extendedRcode & 0xff,
    ednsVersion: e.version & 0xff,
    flags: e.dnssecOk ? dnsPacket.DNSSEC_OK : 0,
    options: e.options.map((o) => ({ code: o.code, data: asBuffer(o.data) })),
  } as dnsPacket.Answer;
}

/** `m` as dns-packet's Packet, and the CLASS values dns-packet cannot write (see patch). */
function toPacket(m: Message): { packet: dnsPacket.Packet; patch: boolean } {
  const h = m.header;
  for (const [what, n] of [
    ['question', m.question.length],
    ['answer', m.answer.length],
    ['authority', m.authority.length],
    ['additional', m.additional.length + (m.edns === undefined ? 0 : 1)],
  ] as const) {
    if (n > 0xffff) throw new WireError(-1, `${n} ${what} entries`);
  }
  const flags =
    ((h.opcode & 0x0f) << 11) |
    (h.aa ? dnsPacket.AUTHORITATIVE_ANSWER : 0) |
    (h.tc ? dnsPacket.TRUNCATED_RESPONSE : 0) |
    (h.rd ? dnsPacket.RECURSION_DESIRED : 0) |
    (h.ra ? dnsPacket.RECURSION_AVAILABLE : 0) |
    (h.z ? 0x40 : 0) |
    (h.ad ? dnsPacket.AUTHENTIC_DATA : 0) |
    (h.cd ? dnsPacket.CHECKING_DISABLED : 0) |
    (h.rcode & 0x0f);
  let patch = m.edns !== undefined && (m.edns.udpSize & 0xffff) === 0;
  const classOf = (c: number): dnsPacket.RecordClass => {
    const name = CLASS_NAMES.get(c);
    if (name !== undefined) return name as dnsPacket.RecordClass;
    patch = true;
    return 'IN';
  };
  const questions = m.question.map((q): dnsPacket.Question => ({
    name: packetName(q.name),
    type: typeName(q.type) as dnsPacket.RecordType,
    class: classOf(q.class),
  }));
  for (const rr of [...m.answer, ...m.authority, ...m.additional]) classOf(rr.class);
  const additionals = m.additional.map(toAnswer);
  if (m.edns !== undefined) additionals.push(optAnswer(m.edns));
  const packet: dnsPacket.Packet = {
    id: h.id & 0xffff,
    type: h.qr ? 'response' : 'query',
    flags,
    questions,
    answers: m.answer.map(toAnswer),
    authorities: m.authority.map(toAnswer),
    additionals,
  };
  return { packet, patch };
}

/**
 * Writes the CLASS fields dns-packet gets wrong: it writes 0 for a class it has no name for
 * (a question's class is echoed, whatever it is) and 4096 for an OPT payload size of 0.
 */
function patchClasses(out: Buffer, m: Message, p: dnsPacket.Packet): void {
  let off = HEADER_BYTES;
  m.question.forEach((q, i) => {
    off += lib.question.encodingLength(p.questions![i]!);
    out.writeUInt16BE(q.class & 0xffff, off - 2);
  });
  const records = [...m.answer, ...m.authority, ...m.additional];
  const answers = [...p.answers!, ...p.authorities!, ...p.additionals!];
  answers.forEach((a, i) => {
    const klass = records[i]?.class ?? m.edns!.udpSize;
    out.writeUInt16BE(klass & 0xffff, off + lib.name.encodingLength(a.name) + 2);
    off += lib.answer.encodingLength(a);
  });
}

/** Encodes a message (names uncompressed); section counts come from the arrays. Throws WireError. */
export function encodeMessage(m: Message): Uint8Array {
  const { packet, patch } = toPacket(m);
  let out: Buffer;
  try {
    out = dnsPacket.encode(packet);
  } catch (err) {
    throw libError(-1, err);
  }
  if (patch) patchClasses(out, m, packet);
  // A plain Uint8Array over the same bytes (no copy), as callers compare and store them.
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** The encoded size of `m` (miekg's Msg.Len, uncompressed as everything here is). */
export function messageLength(m: Message): number {
  try {
    return dnsPacket.encodingLength(toPacket(m).packet);
  } catch (err) {
    throw libError(-1, err);
  }
}

/**
 * The encoded size of one record as {@link encodeMessage} writes it (uncompressed, so a
 * message's size is the sum of its parts). Throws WireError.
 */
export function recordLength(rr: ResourceRecord): number {
  try {
    return lib.answer.encodingLength(toAnswer(rr));
  } catch (err) {
    throw libError(-1, err);
  }
}

/**
 * One record's bytes exactly as {@link encodeMessage} writes them inside a message (names
 * are not compressed, so a record's bytes do not depend on what precedes it). Throws
 * WireError.
 */
export function encodeRecord(rr: ResourceRecord): Uint8Array {
  let out: Buffer;
  try {
    const a = toAnswer(rr);
    out = lib.answer.encode(a);
    // dns-packet writes IN for a class it has no name for (see patchClasses).
    out.writeUInt16BE(rr.class & 0xffff, lib.name.encodingLength(a.name) + 2);
  } catch (err) {
    throw libError(-1, err);
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** The bytes of `m` besides its records: the header, the questions and the OPT record. */
export function fixedLength(m: Message): number {
  return messageLength({ ...m, answer: [], authority: [], additional: [] });
}

/** The SOA record's serial: its offset in {@link encodeRecord}'s bytes, for patching. */
export function soaSerialOffset(rr: ResourceRecord): number {
  if (rr.data.kind !== 'soa') throw new WireError(-1, 'not an SOA record');
  return (
    lib.name.encodingLength(packetName(rr.name)) +
    10 +
    lib.name.encodingLength(packetName(rr.data.mname)) +
    lib.name.encodingLength(packetName(rr.data.rname, true))
  );
}

/**
 * A query whose answer may come from the answer cache: what {@link parseSimpleQuery} read.
 * Everything else of the query that an answer echoes (ID, RD, CD, the question's class) is
 * read from its bytes when the answer is written.
 */
export interface SimpleQuery {
  /**
   * The question name's wire bytes as latin1 text (its exact spelling: names compare
   * case-insensitively, but an answer echoes the case it was asked in) and the type.
   */
  readonly key: string;
  readonly qtype: number;
  /** Offset just past the question (name, type, class). */
  readonly questionEnd: number;
  /** The OPT record's UDP payload size; undefined without EDNS. */
  readonly udpSize: number | undefined;
}

/** EDNS options dns-packet decodes beyond their bytes (and that may fail): never simple. */
const PARSED_OPTIONS = new Set([EDNS_CLIENT_SUBNET, 11, 14]);

/**
 * Reads a query of the common shape — QUERY opcode, one question whose name is plain
 * printable ASCII labels without compression, no answer or authority records, at most an
 * OPT record with no client-subnet option — or returns null for anything else (which
 * {@link decodeMessage} then reads in full). It accepts only queries that decodeMessage
 * decodes without error, to the same question and EDNS size.
 */
export function parseSimpleQuery(buf: Uint8Array): SimpleQuery | null {
  const len = buf.length;
  if (len < HEADER_BYTES + 5) return null;
  // QR clear and opcode QUERY; one question, no answer or authority, at most one more.
  if ((buf[2]! & 0xf8) !== 0) return null;
  if (buf[4] !== 0 || buf[5] !== 1 || buf[6] !== 0 || buf[7] !== 0 || buf[8] !== 0) return null;
  if (buf[9] !== 0 || buf[10] !== 0 || buf[11]! > 1) return null;
  let off = HEADER_BYTES;
  for (;;) {
    const l = buf[off];
    if (l === undefined || l > MAX_LABEL_BYTES) return null;
    off++;
    if (l === 0) break;
    const end = off + l;
    if (end > len || end - HEADER_BYTES >= MAX_NAME_BYTES) return null;
    for (; off < end; off++) {
      const c = buf[off]!;
      // Printable ASCII but '.' and backslash: the same bytes in presentation form.
      if (c < 0x21 || c > 0x7e || c === 0x2e || c === 0x5c) return null;
    }
  }
  const nameEnd = off;
  if (off + 4 > len) return null;
  const qtype = (buf[off]! << 8) | buf[off + 1]!;
  off += 4;
  const questionEnd = off;
  let udpSize: number | undefined;
  if (buf[11] === 1) {
    // The OPT record: root owner, type 41, options that exactly fill its data.
    if (off + 11 > len || buf[off] !== 0 || buf[off + 1] !== 0 || buf[off + 2] !== RRType.OPT) {
      return null;
    }
    udpSize = (buf[off + 3]! << 8) | buf[off + 4]!;
    const end = off + 11 + ((buf[off + 9]! << 8) | buf[off + 10]!);
    if (end > len) return null;
    for (off += 11; off < end;) {
      if (off + 4 > end) return null;
      if (PARSED_OPTIONS.has((buf[off]! << 8) | buf[off + 1]!)) return null;
      off += 4 + ((buf[off + 2]! << 8) | buf[off + 3]!);
    }
    if (off !== end) return null;
  }
  const key = `${asBuffer(buf).toString('latin1', HEADER_BYTES, nameEnd)}/${qtype}`;
  return { key, qtype, questionEnd, udpSize };
}

/** A header with every flag clear. */
export function emptyHeader(id = 0): Header {
  return {
    id,
    qr: false,
    opcode: OpCode.Query,
    aa: false,
    tc: false,
    rd: false,
    ra: false,
    z: false,
    ad: false,
    cd: false,
    rcode: RCode.NoError,
  };
}

/** A one-question query (RD set, as miekg's SetQuestion and dig do). */
export function makeQuery(
  id: number,
  name: string,
  type: number,
  opts: { edns?: Partial<Edns>; rd?: boolean } = {},
): Message {
  return {
    header: { ...emptyHeader(id), rd: opts.rd ?? true },
    question: [{ name: fqdn(name), type, class: CLASS_IN }],
    answer: [],
    authority: [],
    additional: [],
    edns:
      opts.edns === undefined
        ? undefined
        : {
            udpSize: 4096,
            extendedRcode: 0,
            version: 0,
            dnssecOk: false,
            options: [],
            ...opts.edns,
          },
  };
}
