/**
 * Frames on the wire: one msgpack array per WebSocket binary message. The first element is
 * the frame type, from an append-only enum; within a protocol version the shape of each
 * type never changes. Decoding is strict: anything else is a {@link FrameError}.
 *
 * | type          | fields                                   |
 * |---------------|------------------------------------------|
 * | Request       | id, method, body                         |
 * | Response      | id, body                                 |
 * | Error         | id, code, message, meta                  |
 * | StreamOpen    | streamId, method, body                   |
 * | StreamMessage | streamId, body                           |
 * | StreamEnd     | streamId                  (half-close)   |
 * | StreamCancel  | streamId, code, message                  |
 * | StreamCredit  | streamId, n          (flow-control grant)|
 */
import { Packr } from 'msgpackr';

export enum FrameType {
  Request = 0,
  Response = 1,
  Error = 2,
  StreamOpen = 3,
  StreamMessage = 4,
  StreamEnd = 5,
  StreamCancel = 6,
  StreamCredit = 7,
}

export type Frame =
  | { type: FrameType.Request; id: number; method: string; body: unknown }
  | { type: FrameType.Response; id: number; body: unknown }
  | {
      type: FrameType.Error;
      id: number;
      code: string;
      message: string;
      meta: Record<string, unknown>;
    }
  | { type: FrameType.StreamOpen; streamId: number; method: string; body: unknown }
  | { type: FrameType.StreamMessage; streamId: number; body: unknown }
  | { type: FrameType.StreamEnd; streamId: number }
  | { type: FrameType.StreamCancel; streamId: number; code: string; message: string }
  | { type: FrameType.StreamCredit; streamId: number; n: number };

export class FrameError extends Error {
  readonly code = 'ERR_RPC_PROTOCOL';
  constructor(reason: string) {
    super(`malformed frame: ${reason}`);
    this.name = 'FrameError';
  }
}

/** Longest method name accepted; method names are short identifiers like `Raft.Append`. */
export const MAX_METHOD_LENGTH = 128;
/** Longest error code / message carried; longer ones are truncated when encoding. */
const MAX_CODE_LENGTH = 128;
const MAX_ERROR_MESSAGE = 4096;

// useRecords: false keeps the encoding plain msgpack (no msgpackr record extension), so any
// msgpack implementation can read a frame; Uint8Array and Buffer round-trip as bin.
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true });

export function encodeFrame(f: Frame): Buffer {
  switch (f.type) {
    case FrameType.Request:
      return packr.pack([f.type, f.id, f.method, f.body]);
    case FrameType.Response:
      return packr.pack([f.type, f.id, f.body]);
    case FrameType.Error:
      return packr.pack([
        f.type,
        f.id,
        f.code.slice(0, MAX_CODE_LENGTH),
        f.message.slice(0, MAX_ERROR_MESSAGE),
        f.meta,
      ]);
    case FrameType.StreamOpen:
      return packr.pack([f.type, f.streamId, f.method, f.body]);
    case FrameType.StreamMessage:
      return packr.pack([f.type, f.streamId, f.body]);
    case FrameType.StreamEnd:
      return packr.pack([f.type, f.streamId]);
    case FrameType.StreamCancel:
      return packr.pack([
        f.type,
        f.streamId,
        f.code.slice(0, MAX_CODE_LENGTH),
        f.message.slice(0, MAX_ERROR_MESSAGE),
      ]);
    case FrameType.StreamCredit:
      return packr.pack([f.type, f.streamId, f.n]);
  }
}

function uint(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new FrameError(`${what} must be a non-negative integer`);
  }
  return v;
}

function str(v: unknown, what: string, max: number): string {
  if (typeof v !== 'string') throw new FrameError(`${what} must be a string`);
  if (v.length === 0 || v.length > max)
    throw new FrameError(`${what} must be 1..${max} characters`);
  return v;
}

function arity(a: unknown[], n: number, type: string): void {
  if (a.length !== n) throw new FrameError(`${type} has ${a.length} fields, expected ${n}`);
}

/** Decodes one frame; throws FrameError for anything that is not exactly a valid frame. */
export function decodeFrame(data: Uint8Array): Frame {
  let v: unknown;
  try {
    v = packr.unpack(data);
  } catch (e) {
    throw new FrameError(`not msgpack (${(e as Error).message})`);
  }
  if (!Array.isArray(v) || v.length === 0) throw new FrameError('not a non-empty array');
  const a = v as unknown[];
  const type = a[0];
  switch (type) {
    case FrameType.Request:
      arity(a, 4, 'Request');
      return {
        type,
        id: uint(a[1], 'id'),
        method: str(a[2], 'method', MAX_METHOD_LENGTH),
        body: a[3],
      };
    case FrameType.Response:
      arity(a, 3, 'Response');
      return { type, id: uint(a[1], 'id'), body: a[2] };
    case FrameType.Error: {
      arity(a, 5, 'Error');
      const meta = a[4];
      if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) {
        throw new FrameError('error meta must be a map');
      }
      return {
        type,
        id: uint(a[1], 'id'),
        code: str(a[2], 'code', MAX_CODE_LENGTH),
        message: typeof a[3] === 'string' ? a[3] : '',
        meta: meta as Record<string, unknown>,
      };
    }
    case FrameType.StreamOpen:
      arity(a, 4, 'StreamOpen');
      return {
        type,
        streamId: uint(a[1], 'streamId'),
        method: str(a[2], 'method', MAX_METHOD_LENGTH),
        body: a[3],
      };
    case FrameType.StreamMessage:
      arity(a, 3, 'StreamMessage');
      return { type, streamId: uint(a[1], 'streamId'), body: a[2] };
    case FrameType.StreamEnd:
      arity(a, 2, 'StreamEnd');
      return { type, streamId: uint(a[1], 'streamId') };
    case FrameType.StreamCancel:
      arity(a, 4, 'StreamCancel');
      return {
        type,
        streamId: uint(a[1], 'streamId'),
        code: str(a[2], 'code', MAX_CODE_LENGTH),
        message: typeof a[3] === 'string' ? a[3] : '',
      };
    case FrameType.StreamCredit: {
      arity(a, 3, 'StreamCredit');
      const n = uint(a[2], 'credit');
      if (n === 0) throw new FrameError('credit must be positive');
      return { type, streamId: uint(a[1], 'streamId'), n };
    }
    default:
      throw new FrameError(`unknown frame type ${JSON.stringify(type)}`);
  }
}
