/**
 * Where command data comes from, as Consul's helpers.LoadDataSource reads it: the argument
 * itself, `@file`, or `-` for stdin (`-x`, longer than one dash, is literal data). Every
 * source is read with a byte limit so a wrong file or an endless pipe fails clearly instead
 * of filling memory.
 */
import { open } from 'node:fs/promises';
import type { Io } from '../../command.js';

/** Largest `@file` or stdin input a command reads (a KV value, an export to import). */
export const MAX_INPUT_BYTES = 64 * 1024 * 1024;

/** An Io that may carry stdin (tests hand one in; the real CLI falls back to process.stdin). */
export interface StdinIo extends Io {
  readonly stdin?: AsyncIterable<Uint8Array | string>;
}

export function stdinOf(io: Io): AsyncIterable<Uint8Array | string> {
  return (io as StdinIo).stdin ?? process.stdin;
}

/** A data source could not be read; the message is Consul's ("Failed to read file: …"). */
export class InputError extends Error {
  override readonly name = 'InputError';
}

/** Go's wording for the file errors users meet (`open x: no such file or directory`). */
export function goFsError(op: string, path: string, e: unknown): string {
  const code = (e as { code?: string }).code ?? '';
  const text: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EISDIR: 'is a directory',
    ENOTDIR: 'not a directory',
    EPERM: 'operation not permitted',
    ENOSPC: 'no space left on device',
    EEXIST: 'file exists',
  };
  return `${op} ${path}: ${text[code] ?? (e as Error).message}`;
}

/** Reads a whole file, refusing one larger than `maxBytes` (checked before and while reading). */
export async function readFileBounded(path: string, maxBytes: number): Promise<Buffer> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new InputError(goFsError('open', path, e));
  }
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw new InputError(`read ${path}: is a directory`);
    if (st.size > maxBytes) {
      throw new InputError(`${path} is ${st.size} bytes, over the limit of ${maxBytes} bytes`);
    }
    // Read one byte past the limit: a file that grew (or a FIFO) is caught too.
    const buf = Buffer.alloc(Math.min(maxBytes + 1, Math.max(st.size + 1, 64 * 1024)));
    let len = 0;
    const parts: Buffer[] = [];
    while (true) {
      const { bytesRead } = await fh.read(buf, len, buf.length - len, null);
      if (bytesRead === 0) break;
      len += bytesRead;
      if (len > maxBytes) {
        throw new InputError(`${path} is over the limit of ${maxBytes} bytes`);
      }
      if (len === buf.length) {
        parts.push(Buffer.from(buf.subarray(0, len)));
        len = 0;
      }
    }
    parts.push(buf.subarray(0, len));
    const all = Buffer.concat(parts);
    if (all.length > maxBytes)
      throw new InputError(`${path} is over the limit of ${maxBytes} bytes`);
    return all;
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(goFsError('read', path, e));
  } finally {
    await fh.close();
  }
}

/** Reads a stream to its end, refusing more than `maxBytes`. */
export async function readStreamBounded(
  stream: AsyncIterable<Uint8Array | string>,
  maxBytes: number,
): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const c of stream) {
    const b = typeof c === 'string' ? Buffer.from(c, 'utf8') : Buffer.from(c);
    total += b.length;
    if (total > maxBytes) throw new InputError(`input is over the limit of ${maxBytes} bytes`);
    parts.push(b);
  }
  return Buffer.concat(parts);
}

/**
 * Consul's data-source rules: '' is empty data, `@path` a file, `-` stdin, anything else the
 * data itself. Throws InputError with "Failed to read file: …" / "Failed to read stdin: …".
 */
export async function loadDataSource(
  arg: string,
  io: Io,
  maxBytes: number = MAX_INPUT_BYTES,
): Promise<Buffer> {
  if (arg === '') return Buffer.alloc(0);
  if (arg.startsWith('@')) {
    try {
      return await readFileBounded(arg.slice(1), maxBytes);
    } catch (e) {
      throw new InputError(`Failed to read file: ${(e as Error).message}`);
    }
  }
  if (arg === '-') {
    try {
      return await readStreamBounded(stdinOf(io), maxBytes);
    } catch (e) {
      throw new InputError(`Failed to read stdin: ${(e as Error).message}`);
    }
  }
  const data = Buffer.from(arg, 'utf8');
  if (data.length > maxBytes) {
    throw new InputError(`data is ${data.length} bytes, over the limit of ${maxBytes} bytes`);
  }
  return data;
}

const B64 = /[A-Za-z0-9+/]/;

/**
 * Decodes standard, padded base64 as strictly as Go's base64.StdEncoding (which Consul uses):
 * CR and LF are skipped, anything else outside the alphabet, missing or misplaced padding is
 * an error `illegal base64 data at input byte N` (N an offset into the input).
 */
export function decodeBase64Strict(s: string): Buffer {
  let clean = '';
  const at: number[] = []; // offset in `s` of each char of `clean`
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '\r' || ch === '\n') continue;
    if (ch !== '=' && !B64.test(ch)) throw new Error(`illegal base64 data at input byte ${i}`);
    clean += ch;
    at.push(i);
  }
  const pad = clean.indexOf('=');
  if (pad >= 0) {
    const tail = clean.slice(pad);
    if (!/^={1,2}$/.test(tail) || clean.length % 4 !== 0 || pad % 4 < 2) {
      throw new Error(`illegal base64 data at input byte ${at[pad]!}`);
    }
  } else if (clean.length % 4 !== 0) {
    const q = clean.length - (clean.length % 4);
    throw new Error(`illegal base64 data at input byte ${at[q] ?? s.length}`);
  }
  return Buffer.from(clean, 'base64');
}

/**
 * A `-filter` value: the expression itself, or read from `@file` or stdin (`-`) as Consul's
 * commands allow. Undefined after an unreadable source was reported on stderr.
 */
export async function filterArgument(value: string, io: Io): Promise<string | undefined> {
  if (value === '') return '';
  try {
    return (await loadDataSource(value, io)).toString('utf8');
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    io.stderr.write(`Could not process filter argument: ${e.message}\n`);
    return undefined;
  }
}
