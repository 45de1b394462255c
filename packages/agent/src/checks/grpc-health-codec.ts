/**
 * Protobuf encoding of grpc.health.v1 (grpc/grpc-proto grpc/health/v1/health.proto), by hand:
 *
 *   message HealthCheckRequest  { string service = 1; }
 *   message HealthCheckResponse { ServingStatus status = 1; }
 *   enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; }
 *
 * Decoders follow proto3: absent fields take their defaults, unknown fields are skipped, the
 * last occurrence of a repeated scalar wins; malformed input throws {@link ProtoDecodeError}.
 */

export const SERVING_STATUS_NAMES: Readonly<Record<number, string>> = {
  0: 'UNKNOWN',
  1: 'SERVING',
  2: 'NOT_SERVING',
  3: 'SERVICE_UNKNOWN',
};

export const SERVING = 1;

/** An enum value's name as Go's protobuf String() prints it (the number when unknown). */
export function servingStatusName(status: number): string {
  return SERVING_STATUS_NAMES[status] ?? String(status);
}

export class ProtoDecodeError extends Error {
  override readonly name = 'ProtoDecodeError';
}

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

function encodeVarint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/** A cursor over one message. */
class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  varint(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.pos >= this.buf.length) throw new ProtoDecodeError('truncated varint');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return BigInt.asUintN(64, result);
    }
    throw new ProtoDecodeError('varint longer than 10 bytes');
  }

  skip(n: number): void {
    if (n < 0 || this.pos + n > this.buf.length) throw new ProtoDecodeError('truncated field');
    this.pos += n;
  }

  bytes(): Uint8Array {
    const len = this.varint();
    if (len > BigInt(this.buf.length - this.pos)) throw new ProtoDecodeError('truncated field');
    const start = this.pos;
    this.pos += Number(len);
    return this.buf.subarray(start, this.pos);
  }

  /** Reads one field's key, then calls `onField` or skips the value. */
  field(onField: (fieldNo: number, wire: number) => boolean): void {
    const key = this.varint();
    const fieldNo = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (fieldNo === 0) throw new ProtoDecodeError('field number 0');
    if (onField(fieldNo, wire)) return;
    switch (wire) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_I64:
        this.skip(8);
        return;
      case WIRE_LEN:
        this.bytes();
        return;
      case WIRE_I32:
        this.skip(4);
        return;
      default:
        throw new ProtoDecodeError(`unsupported wire type ${wire}`);
    }
  }
}

export function encodeHealthCheckRequest(req: { readonly service: string }): Buffer {
  if (req.service === '') return Buffer.alloc(0);
  const text = Buffer.from(req.service);
  return Buffer.concat([Buffer.from([(1 << 3) | WIRE_LEN, ...encodeVarint(text.length)]), text]);
}

export function decodeHealthCheckRequest(buf: Uint8Array): { service: string } {
  const r = new Reader(buf);
  let service = '';
  while (!r.done) {
    r.field((no, wire) => {
      if (no !== 1 || wire !== WIRE_LEN) return false;
      service = new TextDecoder('utf-8', { fatal: true }).decode(r.bytes());
      return true;
    });
  }
  return { service };
}

export function encodeHealthCheckResponse(res: { readonly status: number }): Buffer {
  if (res.status === 0) return Buffer.alloc(0);
  // Enums are int32 on the wire: negative values take ten bytes (two's complement in 64 bits).
  const v = BigInt.asUintN(64, BigInt(res.status));
  const bytes: number[] = [(1 << 3) | WIRE_VARINT];
  let rest = v;
  while (rest > 0x7fn) {
    bytes.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  bytes.push(Number(rest));
  return Buffer.from(bytes);
}

export function decodeHealthCheckResponse(buf: Uint8Array): { status: number } {
  const r = new Reader(buf);
  let status = 0;
  while (!r.done) {
    r.field((no, wire) => {
      if (no !== 1 || wire !== WIRE_VARINT) return false;
      status = Number(BigInt.asIntN(32, r.varint()));
      return true;
    });
  }
  return { status };
}
