/**
 * Gossip encryption: AES-256-GCM with a keyring (memberlist's keyring.go + security.go).
 *
 * Keys are Consul's `encrypt` form: 32 random bytes, standard base64 with padding (what
 * `consul keygen` prints, e.g. "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="). Only
 * 32-byte keys are accepted (AES-256; memberlist also takes 16/24-byte keys, we do not).
 *
 * Keyring semantics (memberlist's): the *primary* key encrypts everything we send; every
 * installed key is tried, primary first, to decrypt what we receive. Rotation without
 * downtime: `install` the new key on every member, then `use` it on every member, then
 * `remove` the old one everywhere. The primary key cannot be removed.
 *
 * Envelope (memberlist's encryption version 1 layout, without its padding):
 *
 *     u8 version (= 1) | 12-byte random nonce | ciphertext | 16-byte GCM tag
 *
 * so it adds {@link ENVELOPE_OVERHEAD} = 29 bytes. The AAD is not on the wire: the
 * transport passes a channel byte plus the cluster label (see transport.ts), so a packet
 * cannot be replayed on another channel or into a cluster with another label.
 *
 * Replay: GCM authenticates, it does not stop replays (neither does memberlist). The
 * transport keeps a {@link ReplayCache} of recent nonces and drops exact replays; older
 * replays get through the crypto and are harmless to SWIM because every state change is
 * ordered by incarnation number (an old alive/suspect/dead is ignored), pings are
 * idempotent and user events are deduplicated by Lamport time. Tests check both.
 */
import { createCipheriv, createDecipheriv, randomBytes, timingSafeEqual } from 'node:crypto';
import { GossipIoError, IoErrorCode } from './io-errors.js';

/** Key length in bytes: AES-256. */
export const KEY_BYTES = 32;
/** The only envelope version written and accepted. */
export const ENVELOPE_VERSION = 1;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
/** Bytes the envelope adds to its plaintext: version + nonce + tag. */
export const ENVELOPE_OVERHEAD = 1 + NONCE_BYTES + TAG_BYTES;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Decodes a key in Consul's base64 form. Throws GOSSIP_KEY_INVALID with a message saying
 * what is wrong (not base64, or the decoded length). Never echoes the key itself.
 */
export function parseKey(b64: string): Buffer {
  if (typeof b64 !== 'string') {
    throw new GossipIoError(IoErrorCode.KeyInvalid, 'key must be a base64 string');
  }
  const s = b64.trim();
  if (s === '' || s.length % 4 !== 0 || !BASE64.test(s)) {
    throw new GossipIoError(
      IoErrorCode.KeyInvalid,
      `key is not standard padded base64 (${s.length} characters); generate one with \`consul keygen\``,
    );
  }
  const key = Buffer.from(s, 'base64');
  // Non-canonical encodings (stray bits in the last character) do not round-trip.
  if (key.toString('base64') !== s) {
    throw new GossipIoError(IoErrorCode.KeyInvalid, 'key is not canonical base64');
  }
  if (key.length !== KEY_BYTES) {
    throw new GossipIoError(
      IoErrorCode.KeyInvalid,
      `key decodes to ${key.length} bytes, want ${KEY_BYTES} (AES-256)`,
    );
  }
  return key;
}

/** A fresh random key in Consul's form (like `consul keygen`). */
export function generateKey(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}

/** Encrypts `plain` under `key` into a version-1 envelope. */
export function sealEnvelope(key: Uint8Array, plain: Uint8Array, aad: Uint8Array): Uint8Array {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const body = cipher.update(plain);
  const fin = cipher.final();
  const tag = cipher.getAuthTag();
  const out = new Uint8Array(ENVELOPE_OVERHEAD + body.length + fin.length);
  out[0] = ENVELOPE_VERSION;
  out.set(nonce, 1);
  out.set(body, 1 + NONCE_BYTES);
  out.set(fin, 1 + NONCE_BYTES + body.length);
  out.set(tag, out.length - TAG_BYTES);
  return out;
}

export type OpenResult =
  | {
      readonly ok: true;
      readonly plain: Uint8Array;
      /** The envelope's nonce (for replay detection). */
      readonly nonce: Uint8Array;
      /** Which key (index into the list given) opened it. */
      readonly keyIndex: number;
    }
  | { readonly ok: false; readonly reason: 'truncated' | 'garbage' | 'decrypt' };

/**
 * Opens an envelope with the first key that authenticates it. Never throws: any input
 * yields a result. `truncated`: shorter than the overhead; `garbage`: not version 1;
 * `decrypt`: no key authenticates it.
 */
export function openEnvelope(
  keys: readonly Uint8Array[],
  bytes: Uint8Array,
  aad: Uint8Array,
): OpenResult {
  if (bytes.length < ENVELOPE_OVERHEAD) return { ok: false, reason: 'truncated' };
  if (bytes[0] !== ENVELOPE_VERSION) return { ok: false, reason: 'garbage' };
  const nonce = bytes.subarray(1, 1 + NONCE_BYTES);
  const body = bytes.subarray(1 + NONCE_BYTES, bytes.length - TAG_BYTES);
  const tag = bytes.subarray(bytes.length - TAG_BYTES);
  for (let i = 0; i < keys.length; i++) {
    try {
      const d = createDecipheriv('aes-256-gcm', keys[i]!, nonce, { authTagLength: TAG_BYTES });
      d.setAAD(aad);
      d.setAuthTag(tag);
      const a = d.update(body);
      const b = d.final();
      const plain = b.length === 0 ? a : Buffer.concat([a, b]);
      return { ok: true, plain: new Uint8Array(plain), nonce: nonce.slice(), keyIndex: i };
    } catch {
      // Wrong key or tampered: try the next one.
    }
  }
  return { ok: false, reason: 'decrypt' };
}

/**
 * The installed keys. Not thread-shared state in any interesting sense (single event
 * loop), but the transport reads it on every packet, so changes apply to the next packet.
 */
export class Keyring {
  /** Primary first. */
  #keys: Buffer[];

  /** `keys[0]` becomes the primary; duplicates are ignored. At least one key. */
  constructor(keys: readonly string[]) {
    if (keys.length === 0) {
      throw new GossipIoError(IoErrorCode.KeyInvalid, 'a keyring needs at least one key');
    }
    this.#keys = [];
    for (const k of keys) {
      const key = parseKey(k);
      if (this.#index(key) < 0) this.#keys.push(key);
    }
  }

  /** Adds a key (used for decryption at once). Returns false when already installed. */
  install(key: string): boolean {
    const k = parseKey(key);
    if (this.#index(k) >= 0) return false;
    this.#keys.push(k);
    return true;
  }

  /** Makes an installed key the primary (the one that encrypts). */
  use(key: string): void {
    const k = parseKey(key);
    const i = this.#index(k);
    if (i < 0) {
      throw new GossipIoError(IoErrorCode.KeyNotInstalled, 'install the key before using it');
    }
    const [chosen] = this.#keys.splice(i, 1);
    this.#keys.unshift(chosen!);
  }

  /** Removes a non-primary key. Removing a key that is not installed is an error. */
  remove(key: string): void {
    const k = parseKey(key);
    const i = this.#index(k);
    if (i < 0) throw new GossipIoError(IoErrorCode.KeyNotInstalled, 'key is not installed');
    if (i === 0) {
      throw new GossipIoError(
        IoErrorCode.KeyIsPrimary,
        'the primary key cannot be removed; `use` another key first',
      );
    }
    this.#keys.splice(i, 1);
  }

  /** Installed keys in base64, primary first. */
  list(): string[] {
    return this.#keys.map((k) => k.toString('base64'));
  }

  primary(): string {
    return this.#keys[0]!.toString('base64');
  }

  /** Encrypts with the primary key. */
  seal(plain: Uint8Array, aad: Uint8Array): Uint8Array {
    return sealEnvelope(this.#keys[0]!, plain, aad);
  }

  /** Decrypts with any installed key, primary first. Never throws. */
  open(bytes: Uint8Array, aad: Uint8Array): OpenResult {
    return openEnvelope(this.#keys, bytes, aad);
  }

  #index(key: Buffer): number {
    return this.#keys.findIndex((k) => timingSafeEqual(k, key));
  }
}

/**
 * Recently seen envelope nonces, to drop exact replays. Bounded: remembers the last
 * `capacity` nonces (FIFO). Random 96-bit nonces never repeat legitimately, so a repeat
 * is a replay (or a duplicated datagram, equally useless).
 */
export class ReplayCache {
  readonly capacity: number;
  readonly #set = new Set<string>();
  readonly #ring: string[] = [];
  #next = 0;

  constructor(capacity: number) {
    this.capacity = Math.max(0, Math.floor(capacity));
  }

  /** Records `nonce`; true when it was already recorded (a replay). */
  seen(nonce: Uint8Array): boolean {
    if (this.capacity === 0) return false;
    const k = Buffer.from(nonce.buffer, nonce.byteOffset, nonce.byteLength).toString('base64');
    if (this.#set.has(k)) return true;
    if (this.#ring.length < this.capacity) {
      this.#ring.push(k);
    } else {
      this.#set.delete(this.#ring[this.#next]!);
      this.#ring[this.#next] = k;
      this.#next = (this.#next + 1) % this.capacity;
    }
    this.#set.add(k);
    return false;
  }
}
