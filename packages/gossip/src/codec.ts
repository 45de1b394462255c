/**
 * The compact binary codec for gossip messages. Hand-written, big-endian, no
 * self-description: a message is one type byte (see {@link MessageType}) followed by its
 * fields in a fixed order.
 *
 * Field encodings:
 *   u8 / u16 / u32      unsigned big-endian integers
 *   u53                 8 bytes big-endian; the high 11 bits must be zero (a JS safe integer)
 *   bool                u8, exactly 0 or 1
 *   str8                u8 byte length + UTF-8 (names, addresses, tag keys and values)
 *   bytes16             u16 byte length + raw bytes
 *   tags                u16 block length (≤ MAX_META_BYTES) + pairs (str8 key, str8 value),
 *                       keys strictly ascending (canonical: equal tags ⇔ equal bytes)
 *   vsn                 u8 min, u8 max, u8 cur
 *
 * Messages:
 *   Ping          u32 seq, str8 target, str8 sourceAddr, str8 sourceNode
 *   IndirectPing  u32 seq, str8 target, str8 targetAddr, bool nack, str8 sourceAddr,
 *                 str8 sourceNode
 *   Ack           u32 seq, bytes16 payload (≤ MAX_ACK_PAYLOAD)
 *   Nack          u32 seq
 *   Suspect       u32 incarnation, str8 node, str8 from
 *   Alive         u32 incarnation, str8 node, str8 addr, tags, vsn
 *   Dead          u32 incarnation, str8 node, str8 from
 *   PushPull      bool join, u32 nodeCount, nodeCount × (str8 name, str8 addr, tags,
 *                 u32 incarnation, u8 state, vsn), u53 eventLTime, u16 eventCount,
 *                 eventCount × (u53 ltime, str8 name, bytes16 payload)
 *   Compound      u8 count (≥ 1), count × u16 length, then the messages back to back;
 *                 the lengths must add up to exactly the rest of the input; parts may not
 *                 themselves be compound
 *   UserEvent     u53 ltime, str8 name, bytes16 payload (≤ MAX_EVENT_PAYLOAD)
 *
 * Decoding is strict: every byte must be consumed, enums and bools must be in range,
 * strings must be valid UTF-8, member names non-empty. Every failure is a
 * {@link GossipError} (GOSSIP_TRUNCATED, GOSSIP_OVERSIZED, GOSSIP_UNKNOWN_TYPE,
 * GOSSIP_MALFORMED) carrying the byte offset; nothing else is ever thrown. Allocation is
 * bounded by the input: a declared count or length is checked against the bytes actually
 * remaining before anything is allocated for it.
 */
import { ErrorCode, GossipError } from './errors.js';
import {
  MessageType,
  NodeState,
  PROTOCOL_VERSION_MAX,
  type AliveMsg,
  type Message,
  type PushNodeState,
  type Tags,
  type UserEventRecord,
  type Vsn,
} from './messages.js';

/** Largest UDP payload (IPv4: 65,535 − 8 UDP − 20 IP). Packets above it are rejected. */
export const MAX_PACKET_BYTES = 65_507;
/** Largest stream (TCP) message: memberlist's maxPushStateBytes (20 MB). */
export const MAX_STREAM_BYTES = 20 * 1024 * 1024;
/** Encoded tag block limit: memberlist's MetaMaxSize (512 bytes). */
export const MAX_META_BYTES = 512;
/** Ack payload limit (memberlist's ping delegate payloads are small). */
export const MAX_ACK_PAYLOAD = 512;
/** User event payload hard limit; the configured limit (serf: 512) must be ≤ this. */
export const MAX_EVENT_PAYLOAD = 1024;
/** Events carried in one push-pull (the recent-events buffer is bounded below this). */
export const MAX_PUSH_PULL_EVENTS = 4096;
/** Bytes of a compound packet's header: the type byte and the count byte. */
export const COMPOUND_HEADER_OVERHEAD = 2;
/** Bytes each part adds to a compound packet: its u16 length. */
export const COMPOUND_PART_OVERHEAD = 2;
/** Most parts a compound packet can carry. */
export const MAX_COMPOUND_PARTS = 255;

const TWO_POW_32 = 0x1_0000_0000;
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// ---------------------------------------------------------------------------------------
// Writer

class Writer {
  #buf: Uint8Array;
  #view: DataView;
  #len = 0;

  constructor(initial = 64) {
    this.#buf = new Uint8Array(initial);
    this.#view = new DataView(this.#buf.buffer);
  }

  #ensure(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  u8(v: number): void {
    checkUint(v, 0xff, 'u8');
    this.#ensure(1);
    this.#view.setUint8(this.#len, v);
    this.#len += 1;
  }

  u16(v: number): void {
    checkUint(v, 0xffff, 'u16');
    this.#ensure(2);
    this.#view.setUint16(this.#len, v);
    this.#len += 2;
  }

  u32(v: number): void {
    checkUint(v, 0xffff_ffff, 'u32');
    this.#ensure(4);
    this.#view.setUint32(this.#len, v);
    this.#len += 4;
  }

  u53(v: number): void {
    checkUint(v, Number.MAX_SAFE_INTEGER, 'u53');
    this.#ensure(8);
    this.#view.setUint32(this.#len, Math.floor(v / TWO_POW_32));
    this.#view.setUint32(this.#len + 4, v % TWO_POW_32);
    this.#len += 8;
  }

  bool(v: boolean): void {
    this.u8(v ? 1 : 0);
  }

  raw(b: Uint8Array): void {
    this.#ensure(b.length);
    this.#buf.set(b, this.#len);
    this.#len += b.length;
  }

  str8(s: string, what: string): void {
    const b = utf8Encoder.encode(s);
    if (b.length > 0xff) {
      throw new GossipError(ErrorCode.Oversized, `${what} is ${b.length} bytes (max 255)`);
    }
    this.u8(b.length);
    this.raw(b);
  }

  bytes16(b: Uint8Array, max: number, what: string): void {
    if (b.length > max) {
      throw new GossipError(ErrorCode.Oversized, `${what} is ${b.length} bytes (max ${max})`);
    }
    this.u16(b.length);
    this.raw(b);
  }

  finish(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
}

function checkUint(v: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new GossipError(ErrorCode.Oversized, `${what} value ${v} out of range [0, ${max}]`);
  }
}

// ---------------------------------------------------------------------------------------
// Reader

class Reader {
  readonly #buf: Uint8Array;
  readonly #view: DataView;
  #pos: number;
  readonly #end: number;

  constructor(buf: Uint8Array, start = 0, end = buf.length) {
    this.#buf = buf;
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.#pos = start;
    this.#end = end;
  }

  get pos(): number {
    return this.#pos;
  }

  get remaining(): number {
    return this.#end - this.#pos;
  }

  #need(n: number, what: string): void {
    if (this.#end - this.#pos < n) {
      throw new GossipError(
        ErrorCode.Truncated,
        `need ${n} byte(s) for ${what}, ${this.#end - this.#pos} left`,
        this.#pos,
      );
    }
  }

  u8(what: string): number {
    this.#need(1, what);
    return this.#view.getUint8(this.#pos++);
  }

  u16(what: string): number {
    this.#need(2, what);
    const v = this.#view.getUint16(this.#pos);
    this.#pos += 2;
    return v;
  }

  u32(what: string): number {
    this.#need(4, what);
    const v = this.#view.getUint32(this.#pos);
    this.#pos += 4;
    return v;
  }

  u53(what: string): number {
    this.#need(8, what);
    const hi = this.#view.getUint32(this.#pos);
    const lo = this.#view.getUint32(this.#pos + 4);
    if (hi > 0x1f_ffff) {
      throw new GossipError(ErrorCode.Oversized, `${what} exceeds 2^53 − 1`, this.#pos);
    }
    this.#pos += 8;
    return hi * TWO_POW_32 + lo;
  }

  bool(what: string): boolean {
    const at = this.#pos;
    const v = this.u8(what);
    if (v > 1) throw new GossipError(ErrorCode.Malformed, `${what}: bool byte ${v}`, at);
    return v === 1;
  }

  bytes(n: number, what: string): Uint8Array {
    this.#need(n, what);
    const b = this.#buf.slice(this.#pos, this.#pos + n);
    this.#pos += n;
    return b;
  }

  str8(what: string): string {
    const n = this.u8(`${what} length`);
    this.#need(n, what);
    const at = this.#pos;
    let s: string;
    try {
      s = utf8Decoder.decode(this.#buf.subarray(at, at + n));
    } catch (cause) {
      throw new GossipError(ErrorCode.Malformed, `${what}: invalid UTF-8`, at, { cause });
    }
    this.#pos += n;
    return s;
  }

  name(what: string): string {
    const at = this.#pos;
    const s = this.str8(what);
    if (s === '') throw new GossipError(ErrorCode.Malformed, `${what} is empty`, at);
    return s;
  }

  bytes16(max: number, what: string): Uint8Array {
    const at = this.#pos;
    const n = this.u16(`${what} length`);
    if (n > max) {
      throw new GossipError(ErrorCode.Oversized, `${what} is ${n} bytes (max ${max})`, at);
    }
    return this.bytes(n, what);
  }

  /** A count whose elements take at least `minSize` bytes each: bounded by what is left. */
  count(n: number, minSize: number, max: number, what: string, at: number): number {
    if (n > max) {
      throw new GossipError(ErrorCode.Oversized, `${what} ${n} exceeds ${max}`, at);
    }
    if (n * minSize > this.remaining) {
      throw new GossipError(
        ErrorCode.Truncated,
        `${what} ${n} needs ≥ ${n * minSize} bytes, ${this.remaining} left`,
        at,
      );
    }
    return n;
  }
}

// ---------------------------------------------------------------------------------------
// Shared field groups

/** Canonical encoding of tags: the block (without its u16 length prefix). */
export function encodeTags(tags: Tags): Uint8Array {
  const w = new Writer();
  for (const key of Object.keys(tags).sort()) {
    w.str8(key, `tag key ${JSON.stringify(key)}`);
    w.str8(tags[key] ?? '', `tag ${JSON.stringify(key)}`);
  }
  return w.finish();
}

function writeTags(w: Writer, tags: Tags): void {
  const block = encodeTags(tags);
  if (block.length > MAX_META_BYTES) {
    throw new GossipError(
      ErrorCode.MetaTooLarge,
      `tags encode to ${block.length} bytes (max ${MAX_META_BYTES})`,
    );
  }
  w.u16(block.length);
  w.raw(block);
}

function readTags(r: Reader): Tags {
  const at = r.pos;
  const len = r.u16('tags length');
  if (len > MAX_META_BYTES) {
    throw new GossipError(
      ErrorCode.Oversized,
      `tags block ${len} bytes (max ${MAX_META_BYTES})`,
      at,
    );
  }
  if (len > r.remaining) {
    throw new GossipError(ErrorCode.Truncated, `tags block ${len} bytes, ${r.remaining} left`, at);
  }
  const end = r.pos + len;
  const tags: Record<string, string> = Object.create(null) as Record<string, string>;
  let prev: string | undefined;
  while (r.pos < end) {
    const keyAt = r.pos;
    const key = r.str8('tag key');
    const value = r.str8('tag value');
    if (r.pos > end) {
      throw new GossipError(ErrorCode.Malformed, 'tag pair crosses the tags block end', keyAt);
    }
    if (prev !== undefined && !(key > prev)) {
      throw new GossipError(ErrorCode.Malformed, 'tag keys not strictly ascending', keyAt);
    }
    prev = key;
    tags[key] = value;
  }
  return { ...tags };
}

function writeVsn(w: Writer, v: Vsn): void {
  w.u8(v.min);
  w.u8(v.max);
  w.u8(v.cur);
}

function readVsn(r: Reader): Vsn {
  const at = r.pos;
  const min = r.u8('vsn min');
  const max = r.u8('vsn max');
  const cur = r.u8('vsn cur');
  if (min > max || cur < min || cur > max || min === 0) {
    throw new GossipError(ErrorCode.Malformed, `vsn ${min}/${max}/${cur} inconsistent`, at);
  }
  return { min, max, cur };
}

// ---------------------------------------------------------------------------------------
// Messages

function writeMessage(w: Writer, m: Message): void {
  w.u8(m.type);
  switch (m.type) {
    case MessageType.Ping:
      w.u32(m.seq);
      w.str8(m.target, 'ping target');
      w.str8(m.sourceAddr, 'ping source address');
      w.str8(m.sourceNode, 'ping source node');
      return;
    case MessageType.IndirectPing:
      w.u32(m.seq);
      w.str8(m.target, 'indirect ping target');
      w.str8(m.targetAddr, 'indirect ping target address');
      w.bool(m.nack);
      w.str8(m.sourceAddr, 'indirect ping source address');
      w.str8(m.sourceNode, 'indirect ping source node');
      return;
    case MessageType.Ack:
      w.u32(m.seq);
      w.bytes16(m.payload, MAX_ACK_PAYLOAD, 'ack payload');
      return;
    case MessageType.Nack:
      w.u32(m.seq);
      return;
    case MessageType.Suspect:
    case MessageType.Dead:
      w.u32(m.incarnation);
      w.str8(m.node, 'node name');
      w.str8(m.from, 'from name');
      return;
    case MessageType.Alive:
      w.u32(m.incarnation);
      w.str8(m.node, 'node name');
      w.str8(m.addr, 'node address');
      writeTags(w, m.tags);
      writeVsn(w, m.vsn);
      return;
    case MessageType.PushPull:
      w.bool(m.join);
      w.u32(m.nodes.length);
      for (const n of m.nodes) {
        w.str8(n.name, 'node name');
        w.str8(n.addr, 'node address');
        writeTags(w, n.tags);
        w.u32(n.incarnation);
        w.u8(n.state);
        writeVsn(w, n.vsn);
      }
      w.u53(m.eventLTime);
      if (m.events.length > MAX_PUSH_PULL_EVENTS) {
        throw new GossipError(ErrorCode.Oversized, `${m.events.length} events in push-pull`);
      }
      w.u16(m.events.length);
      for (const e of m.events) {
        w.u53(e.ltime);
        w.str8(e.name, 'event name');
        w.bytes16(e.payload, MAX_EVENT_PAYLOAD, 'event payload');
      }
      return;
    case MessageType.Compound: {
      const parts = m.parts.map((p) => encodeMessage(p));
      writeCompoundBody(w, parts);
      return;
    }
    case MessageType.UserEvent:
      w.u53(m.ltime);
      w.str8(m.name, 'event name');
      w.bytes16(m.payload, MAX_EVENT_PAYLOAD, 'event payload');
      return;
  }
}

function writeCompoundBody(w: Writer, parts: readonly Uint8Array[]): void {
  if (parts.length === 0 || parts.length > MAX_COMPOUND_PARTS) {
    throw new GossipError(ErrorCode.Oversized, `compound of ${parts.length} parts`);
  }
  w.u8(parts.length);
  for (const p of parts) {
    if (p.length > 0 && p[0] === MessageType.Compound) {
      throw new GossipError(ErrorCode.Malformed, 'nested compound');
    }
    w.u16(p.length);
  }
  for (const p of parts) w.raw(p);
}

/** Encodes one message (a compound too). Throws GossipError when a field exceeds limits. */
export function encodeMessage(m: Message): Uint8Array {
  const w = new Writer();
  writeMessage(w, m);
  return w.finish();
}

/** Packs already-encoded messages: one alone is sent as is, several as a compound. */
export function encodeCompound(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const w = new Writer();
  w.u8(MessageType.Compound);
  writeCompoundBody(w, parts);
  return w.finish();
}

/** Encoded size of a packet made of these encoded messages. */
export function packetSize(parts: readonly Uint8Array[]): number {
  if (parts.length === 1) return parts[0]!.length;
  let n = COMPOUND_HEADER_OVERHEAD;
  for (const p of parts) n += COMPOUND_PART_OVERHEAD + p.length;
  return n;
}

const MIN_NODE_STATE_BYTES = 1 + 1 + 2 + 4 + 1 + 3;
const MIN_EVENT_BYTES = 8 + 1 + 2;

function readBody(r: Reader, type: number, typeAt: number, allowCompound: boolean): Message {
  switch (type) {
    case MessageType.Ping:
      return {
        type,
        seq: r.u32('seq'),
        target: r.str8('ping target'),
        sourceAddr: r.str8('ping source address'),
        sourceNode: r.str8('ping source node'),
      };
    case MessageType.IndirectPing:
      return {
        type,
        seq: r.u32('seq'),
        target: r.name('indirect ping target'),
        targetAddr: r.str8('indirect ping target address'),
        nack: r.bool('nack flag'),
        sourceAddr: r.str8('indirect ping source address'),
        sourceNode: r.str8('indirect ping source node'),
      };
    case MessageType.Ack:
      return { type, seq: r.u32('seq'), payload: r.bytes16(MAX_ACK_PAYLOAD, 'ack payload') };
    case MessageType.Nack:
      return { type, seq: r.u32('seq') };
    case MessageType.Suspect:
    case MessageType.Dead:
      return {
        type,
        incarnation: r.u32('incarnation'),
        node: r.name('node name'),
        from: r.name('from name'),
      };
    case MessageType.Alive: {
      const m: AliveMsg = {
        type,
        incarnation: r.u32('incarnation'),
        node: r.name('node name'),
        addr: r.str8('node address'),
        tags: readTags(r),
        vsn: readVsn(r),
      };
      return m;
    }
    case MessageType.PushPull: {
      const join = r.bool('join flag');
      const countAt = r.pos;
      const n = r.count(
        r.u32('node count'),
        MIN_NODE_STATE_BYTES,
        0xffff_ffff,
        'node count',
        countAt,
      );
      const nodes: PushNodeState[] = [];
      for (let i = 0; i < n; i++) {
        const name = r.name('node name');
        const addr = r.str8('node address');
        const tags = readTags(r);
        const incarnation = r.u32('incarnation');
        const stateAt = r.pos;
        const state = r.u8('node state');
        if (state > NodeState.Left) {
          throw new GossipError(ErrorCode.Malformed, `node state ${state}`, stateAt);
        }
        const vsn = readVsn(r);
        nodes.push({ name, addr, tags, incarnation, state: state as NodeState, vsn });
      }
      const eventLTime = r.u53('event ltime');
      const evAt = r.pos;
      const ne = r.count(
        r.u16('event count'),
        MIN_EVENT_BYTES,
        MAX_PUSH_PULL_EVENTS,
        'event count',
        evAt,
      );
      const events: UserEventRecord[] = [];
      for (let i = 0; i < ne; i++) {
        events.push({
          ltime: r.u53('event ltime'),
          name: r.name('event name'),
          payload: r.bytes16(MAX_EVENT_PAYLOAD, 'event payload'),
        });
      }
      return { type, join, nodes, eventLTime, events };
    }
    case MessageType.Compound: {
      if (!allowCompound) {
        throw new GossipError(ErrorCode.Malformed, 'nested compound', typeAt);
      }
      const countAt = r.pos;
      const count = r.u8('compound count');
      if (count === 0) throw new GossipError(ErrorCode.Malformed, 'empty compound', countAt);
      r.count(count, 2, MAX_COMPOUND_PARTS, 'compound count', countAt);
      const lengths: number[] = [];
      let total = 0;
      for (let i = 0; i < count; i++) {
        const len = r.u16('compound part length');
        if (len === 0) throw new GossipError(ErrorCode.Malformed, 'empty compound part', r.pos - 2);
        lengths.push(len);
        total += len;
      }
      if (total > r.remaining) {
        throw new GossipError(
          ErrorCode.Truncated,
          `compound parts need ${total} bytes, ${r.remaining} left`,
          r.pos,
        );
      }
      if (total < r.remaining) {
        throw new GossipError(
          ErrorCode.Malformed,
          `${r.remaining - total} trailing byte(s)`,
          r.pos + total,
        );
      }
      const parts: Message[] = [];
      for (const len of lengths) {
        const start = r.pos;
        const sub = r.bytes(len, 'compound part');
        parts.push(decodeAt(sub, start, false));
      }
      return { type, parts };
    }
    case MessageType.UserEvent:
      return {
        type,
        ltime: r.u53('event ltime'),
        name: r.name('event name'),
        payload: r.bytes16(MAX_EVENT_PAYLOAD, 'event payload'),
      };
    default:
      throw new GossipError(
        ErrorCode.UnknownType,
        `type ${type} (this build speaks protocol ≤ ${PROTOCOL_VERSION_MAX})`,
        typeAt,
      );
  }
}

/** Decodes `buf` as exactly one message; error offsets are shifted by `base`. */
function decodeAt(buf: Uint8Array, base: number, allowCompound: boolean): Message {
  const r = new Reader(buf);
  try {
    const type = r.u8('message type');
    const m = readBody(r, type, 0, allowCompound);
    if (r.remaining !== 0) {
      throw new GossipError(ErrorCode.Malformed, `${r.remaining} trailing byte(s)`, r.pos);
    }
    return m;
  } catch (e) {
    if (e instanceof GossipError) {
      if (base === 0) throw e;
      throw new GossipError(e.code, e.message, (e.offset ?? 0) + base, { cause: e });
    }
    throw new GossipError(ErrorCode.Malformed, `unexpected decoder failure: ${String(e)}`, r.pos, {
      cause: e,
    });
  }
}

export interface DecodeOptions {
  /** Largest input accepted; defaults to MAX_PACKET_BYTES (use MAX_STREAM_BYTES for TCP). */
  readonly maxBytes?: number;
}

/**
 * Decodes one message (possibly a compound, whose parts come back in `parts`). Throws only
 * {@link GossipError}.
 */
export function decodeMessage(buf: Uint8Array, options: DecodeOptions = {}): Message {
  const max = options.maxBytes ?? MAX_PACKET_BYTES;
  if (!(buf instanceof Uint8Array)) {
    throw new GossipError(ErrorCode.Malformed, 'input is not a Uint8Array', 0);
  }
  if (buf.length > max) {
    throw new GossipError(ErrorCode.Oversized, `input is ${buf.length} bytes (max ${max})`, 0);
  }
  if (buf.length === 0) throw new GossipError(ErrorCode.Truncated, 'empty input', 0);
  return decodeAt(buf, 0, true);
}

/** Decodes a UDP packet into its messages (a compound's parts, or the one message). */
export function decodePacket(buf: Uint8Array): Message[] {
  const m = decodeMessage(buf, { maxBytes: MAX_PACKET_BYTES });
  return m.type === MessageType.Compound ? [...m.parts] : [m];
}

/** Decodes a stream (TCP) message: one message, not a compound, up to MAX_STREAM_BYTES. */
export function decodeStream(buf: Uint8Array, maxBytes = MAX_STREAM_BYTES): Message {
  const m = decodeMessage(buf, { maxBytes });
  if (m.type === MessageType.Compound) {
    throw new GossipError(ErrorCode.Malformed, 'compound on a stream', 0);
  }
  return m;
}
