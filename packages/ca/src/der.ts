/**
 * A small DER writer and a strict DER reader: just the ASN.1 needed for X.509 certificates
 * and PKCS#10 requests. Leaf signing builds and parses with these directly (the general
 * ASN.1 schema library costs close to a millisecond per CSR); the reader checks every length
 * against its enclosing value, accepts only definite, minimally encoded lengths and
 * single-byte tags, and never reads past the end of its input.
 */

/** A structural error in DER input; callers turn it into a {@link CaError} with context. */
export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DerError';
  }
}

export const Tag = {
  Boolean: 0x01,
  Integer: 0x02,
  BitString: 0x03,
  OctetString: 0x04,
  Null: 0x05,
  Oid: 0x06,
  Utf8String: 0x0c,
  PrintableString: 0x13,
  Ia5String: 0x16,
  UtcTime: 0x17,
  GeneralizedTime: 0x18,
  Sequence: 0x30,
  Set: 0x31,
} as const;

// ---------------------------------------------------------------------------------------
// Writer

function lengthBytes(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One tag-length-value. */
export function tlv(tag: number, content: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([tag]), lengthBytes(content.length), content]);
}

export function seq(...parts: Uint8Array[]): Buffer {
  return tlv(Tag.Sequence, Buffer.concat(parts));
}

export function set(...parts: Uint8Array[]): Buffer {
  return tlv(Tag.Set, Buffer.concat(parts));
}

/** A non-negative INTEGER from its unsigned big-endian magnitude. */
export function uintFromBytes(magnitude: Uint8Array): Buffer {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  let body = Buffer.from(magnitude.subarray(i));
  if (body.length === 0) body = Buffer.from([0]);
  if ((body[0] ?? 0) & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  return tlv(Tag.Integer, body);
}

export function uint(v: bigint | number): Buffer {
  return uintFromBytes(bigintToBytes(BigInt(v)));
}

export function bigintToBytes(v: bigint): Buffer {
  if (v < 0n) throw new RangeError('negative value');
  let hex = v.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  return Buffer.from(hex, 'hex');
}

const oidCache = new Map<string, Buffer>();

export function oid(dotted: string): Buffer {
  const cached = oidCache.get(dotted);
  if (cached) return cached;
  const arcs = dotted.split('.').map((a) => Number(a));
  const [first, second, ...rest] = arcs;
  if (first === undefined || second === undefined || arcs.some((a) => !Number.isSafeInteger(a))) {
    throw new RangeError(`bad OID ${dotted}`);
  }
  const out: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    const chunk: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) {
      chunk.unshift((v & 0x7f) | 0x80);
    }
    out.push(...chunk);
  }
  const encoded = tlv(Tag.Oid, Buffer.from(out));
  oidCache.set(dotted, encoded);
  return encoded;
}

export function bool(v: boolean): Buffer {
  return tlv(Tag.Boolean, Buffer.from([v ? 0xff : 0]));
}

export function nullValue(): Buffer {
  return Buffer.from([Tag.Null, 0]);
}

export function bitString(bytes: Uint8Array, unusedBits = 0): Buffer {
  return tlv(Tag.BitString, Buffer.concat([Buffer.from([unusedBits]), bytes]));
}

export function octetString(bytes: Uint8Array): Buffer {
  return tlv(Tag.OctetString, bytes);
}

export function utf8String(s: string): Buffer {
  return tlv(Tag.Utf8String, Buffer.from(s, 'utf8'));
}

/** `[n]` EXPLICIT (constructed) around `content`. */
export function explicit(n: number, content: Uint8Array): Buffer {
  return tlv(0xa0 | n, content);
}

/** `[n]` IMPLICIT primitive: `content` is the value's contents octets. */
export function implicitPrimitive(n: number, content: Uint8Array): Buffer {
  return tlv(0x80 | n, content);
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds, Z. */
export function time(d: Date): Buffer {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const year = d.getUTCFullYear();
  const digits = iso.slice(0, 19).replace(/[-T:]/g, ''); // YYYYMMDDHHMMSS
  if (year >= 1950 && year < 2050) return tlv(Tag.UtcTime, Buffer.from(digits.slice(2) + 'Z'));
  if (year < 0 || year > 9999) throw new RangeError(`date out of range: ${iso}`);
  return tlv(Tag.GeneralizedTime, Buffer.from(digits + 'Z'));
}

// ---------------------------------------------------------------------------------------
// Reader

export interface Tlv {
  tag: number;
  /** Offset of the tag byte in `buf`. */
  start: number;
  /** Offset of the first contents byte. */
  contentStart: number;
  /** Offset just past the value. */
  end: number;
  buf: Buffer;
}

export function content(t: Tlv): Buffer {
  return t.buf.subarray(t.contentStart, t.end);
}

/** The whole encoding (tag, length and contents). */
export function raw(t: Tlv): Buffer {
  return t.buf.subarray(t.start, t.end);
}

export class DerReader {
  private pos: number;

  constructor(
    private readonly buf: Buffer,
    start = 0,
    private readonly limit = buf.length,
  ) {
    this.pos = start;
  }

  static of(t: Tlv): DerReader {
    return new DerReader(t.buf, t.contentStart, t.end);
  }

  hasMore(): boolean {
    return this.pos < this.limit;
  }

  peekTag(): number | undefined {
    return this.pos < this.limit ? this.buf[this.pos] : undefined;
  }

  next(what = 'value'): Tlv {
    const start = this.pos;
    if (start >= this.limit) throw new DerError(`truncated: expected ${what}`);
    const tag = this.buf[start] ?? 0;
    if ((tag & 0x1f) === 0x1f) throw new DerError(`unsupported multi-byte tag in ${what}`);
    let p = start + 1;
    if (p >= this.limit) throw new DerError(`truncated length in ${what}`);
    const first = this.buf[p++] ?? 0;
    let len: number;
    if (first < 0x80) {
      len = first;
    } else {
      const n = first & 0x7f;
      if (n === 0) throw new DerError(`indefinite length in ${what}`);
      if (n > 4) throw new DerError(`length too large in ${what}`);
      if (p + n > this.limit) throw new DerError(`truncated length in ${what}`);
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + (this.buf[p + i] ?? 0);
      if (this.buf[p] === 0 || len < 0x80) {
        throw new DerError(`non-minimal length in ${what}`);
      }
      p += n;
    }
    const end = p + len;
    if (end > this.limit) throw new DerError(`truncated ${what}: needs ${len} bytes`);
    this.pos = end;
    return { tag, start, contentStart: p, end, buf: this.buf };
  }

  expect(tag: number, what: string): Tlv {
    const t = this.next(what);
    if (t.tag !== tag) {
      throw new DerError(
        `expected ${what} (tag 0x${hex2(tag)}), found tag 0x${hex2(t.tag)} at offset ${t.start}`,
      );
    }
    return t;
  }

  /** Reads the next value only if it has `tag`. */
  optional(tag: number, what: string): Tlv | undefined {
    return this.peekTag() === tag ? this.next(what) : undefined;
  }

  end(what: string): void {
    if (this.pos !== this.limit) throw new DerError(`unexpected data after ${what}`);
  }
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/** Parses exactly one value spanning the whole buffer. */
export function readOne(buf: Buffer, tag: number, what: string): Tlv {
  const r = new DerReader(buf);
  const t = r.expect(tag, what);
  r.end(what);
  return t;
}

export function readOid(t: Tlv): string {
  const c = content(t);
  if (c.length === 0) throw new DerError('empty OID');
  const arcs: number[] = [];
  let v = 0;
  for (let i = 0; i < c.length; i++) {
    const b = c[i] ?? 0;
    if (v === 0 && b === 0x80) throw new DerError('non-minimal OID arc');
    v = v * 128 + (b & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER) throw new DerError('OID arc too large');
    if (!(b & 0x80)) {
      arcs.push(v);
      v = 0;
    } else if (i === c.length - 1) {
      throw new DerError('truncated OID');
    }
  }
  const head = arcs.shift() ?? 0;
  const first = head < 80 ? Math.floor(head / 40) : 2;
  return [first, head - first * 40, ...arcs].join('.');
}

/** An INTEGER's unsigned magnitude (minimal, at least one byte); rejects negative values. */
export function readUint(t: Tlv, what: string): Buffer {
  const c = content(t);
  if (c.length === 0) throw new DerError(`empty INTEGER in ${what}`);
  if ((c[0] ?? 0) & 0x80) throw new DerError(`negative INTEGER in ${what}`);
  if (c.length > 1 && c[0] === 0 && !((c[1] ?? 0) & 0x80)) {
    throw new DerError(`non-minimal INTEGER in ${what}`);
  }
  let i = 0;
  while (i < c.length - 1 && c[i] === 0) i++;
  return c.subarray(i);
}

export function readSmallUint(t: Tlv, what: string): number {
  const b = readUint(t, what);
  if (b.length > 4) throw new DerError(`INTEGER too large in ${what}`);
  let v = 0;
  for (const x of b) v = v * 256 + x;
  return v;
}

export function readBoolean(t: Tlv): boolean {
  const c = content(t);
  if (c.length !== 1) throw new DerError('BOOLEAN must be one byte');
  return c[0] !== 0;
}

/** A BIT STRING's bytes and unused-bit count. */
export function readBitString(t: Tlv): { bytes: Buffer; unusedBits: number } {
  const c = content(t);
  if (c.length === 0) throw new DerError('empty BIT STRING');
  const unusedBits = c[0] ?? 0;
  if (unusedBits > 7 || (c.length === 1 && unusedBits !== 0)) {
    throw new DerError('bad BIT STRING padding');
  }
  return { bytes: c.subarray(1), unusedBits };
}

export function readTime(t: Tlv): Date {
  const s = content(t).toString('latin1');
  let m: RegExpExecArray | null;
  let year: number;
  if (t.tag === Tag.UtcTime) {
    m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
    if (!m) throw new DerError(`bad UTCTime ${JSON.stringify(s)}`);
    const yy = Number(m[1]);
    year = yy < 50 ? 2000 + yy : 1900 + yy;
  } else if (t.tag === Tag.GeneralizedTime) {
    m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
    if (!m) throw new DerError(`bad GeneralizedTime ${JSON.stringify(s)}`);
    year = Number(m[1]);
  } else {
    throw new DerError(`expected a time, found tag 0x${hex2(t.tag)}`);
  }
  const [mo, d, h, mi, se] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const back = new Date(Date.UTC(2000, mo - 1, d, h, mi, se));
  back.setUTCFullYear(year, mo - 1, d);
  if (back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || se > 59) {
    throw new DerError(`invalid date ${JSON.stringify(s)}`);
  }
  return back;
}
