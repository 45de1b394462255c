/**
 * PEM (RFC 7468) in and out. Text outside the blocks is ignored, as Go's encoding/pem and
 * OpenSSL do; inside a block only base64 and whitespace are allowed, the padding must be
 * right and the BEGIN and END labels must agree. Encrypted PEM (RFC 1421 headers) is refused.
 */
import { CaError, type CaErrorCode } from './errors.js';

export interface PemBlock {
  label: string;
  der: Buffer;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]{1,64})-----([\s\S]*?)-----END ([A-Z0-9 ]{1,64})-----/g;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Every PEM block in `text`, in order. Throws CaError(`code`) if there is none or one is damaged. */
export function parsePemBlocks(
  text: string,
  code: CaErrorCode = 'bad-pem',
  what = 'PEM',
): PemBlock[] {
  if (typeof text !== 'string') throw new CaError(code, `${what} must be a string`);
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const [, begin = '', body = '', end = ''] = m;
    if (body.includes('-----BEGIN')) {
      throw new CaError(code, `${what}: unterminated ${begin} PEM block`);
    }
    if (begin !== end) {
      throw new CaError(code, `${what}: BEGIN ${begin} does not match END ${end}`);
    }
    if (body.includes(':')) {
      throw new CaError(code, `${what}: encrypted or header-carrying PEM is not supported`);
    }
    const b64 = body.replace(/[ \t\r\n]/g, '');
    if (b64.length === 0 || b64.length % 4 !== 0 || !BASE64.test(b64)) {
      throw new CaError(code, `${what}: the ${begin} block is not valid base64`);
    }
    const der = Buffer.from(b64, 'base64');
    if (der.length === 0) throw new CaError(code, `${what}: the ${begin} block is empty`);
    blocks.push({ label: begin, der });
  }
  if (blocks.length === 0) {
    throw new CaError(code, `${what}: no PEM-encoded data found`);
  }
  if (text.split('-----BEGIN').length - 1 !== blocks.length) {
    throw new CaError(code, `${what}: unterminated or malformed PEM block`);
  }
  return blocks;
}

/**
 * The DER bytes of the first PEM block. With `label`, the block must carry it (for example
 * `CERTIFICATE`).
 */
export function pemToDer(pem: string, label?: string): Buffer {
  const [first] = parsePemBlocks(pem);
  if (!first) throw new CaError('bad-pem', 'no PEM-encoded data found');
  if (label !== undefined && first.label !== label) {
    throw new CaError('bad-pem', `expected a ${label} PEM block, found ${first.label}`);
  }
  return first.der;
}

/** PEM text for `der`: 64-character lines, ending in a newline. */
export function derToPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** Lower-case hex bytes joined by colons (Consul's connect.HexString). */
export function colonHex(bytes: Uint8Array): string {
  const parts: string[] = [];
  for (const b of bytes) parts.push(b.toString(16).padStart(2, '0'));
  return parts.join(':');
}
