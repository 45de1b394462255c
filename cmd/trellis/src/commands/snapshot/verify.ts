/**
 * What `snapshot save` can check about an archive without knowing the server's format: it is
 * not empty, it is as long as the server said, the bytes on disk hash to the bytes received,
 * a gzip archive decompresses with a good checksum, and a Trellis archive's state matches
 * the SHA-256 in its header.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';

export interface Received {
  readonly bytes: number;
  /** SHA-256 of the bytes as they came off the wire, hex. */
  readonly sha256: string;
  /** Content-Length the server declared, if any. */
  readonly declared?: number;
}

/** Largest decompressed size checked for a gzip archive (bounds a gzip bomb). */
const MAX_GUNZIP_BYTES = 8 * 1024 * 1024 * 1024;

/** Largest header line a Trellis archive has before its state bytes. */
const MAX_HEADER_BYTES = 4096;

/**
 * Trellis's archive (the agent's server/archive.ts): gzip of a one-line JSON header
 * `{"magic":"trellis-snapshot",…,"sha256":…,"size":…}`, a newline, then the state bytes.
 */
const TRELLIS_ARCHIVE_MAGIC = 'trellis-snapshot';

interface ArchiveHeader {
  readonly magic?: unknown;
  readonly sha256?: unknown;
  readonly size?: unknown;
}

/**
 * Decompresses the file (gzip's CRC and length checks catch corruption) and, for a Trellis
 * archive, checks the state bytes against the SHA-256 and size its header records, as
 * Consul's verify checks SHA256SUMS.
 */
async function gunzipCheck(path: string): Promise<void> {
  let total = 0;
  let head: Buffer | undefined = Buffer.alloc(0);
  let header: ArchiveHeader | undefined;
  const hash = createHash('sha256');
  let stateBytes = 0;
  const gz = createReadStream(path).pipe(createGunzip());
  try {
    for await (const chunk of gz as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > MAX_GUNZIP_BYTES) {
        throw new Error(`archive decompresses to more than ${MAX_GUNZIP_BYTES} bytes`);
      }
      let c = chunk;
      if (head !== undefined) {
        const nl = c.indexOf(10);
        if (nl < 0) {
          head = Buffer.concat([head, c]);
          if (head.length > MAX_HEADER_BYTES) head = undefined; // not a Trellis archive
          continue;
        }
        const line = Buffer.concat([head, c.subarray(0, nl)]).toString('utf8');
        head = undefined;
        try {
          const h = JSON.parse(line) as unknown;
          if (typeof h === 'object' && h !== null) header = h;
        } catch {
          header = undefined;
        }
        c = c.subarray(nl + 1);
      }
      hash.update(c);
      stateBytes += c.length;
    }
  } catch (e) {
    gz.destroy();
    const err = e as { code?: string; message: string };
    throw new Error(err.code?.startsWith('Z_') ? `gzip: ${err.message}` : err.message);
  }
  if (header?.magic !== TRELLIS_ARCHIVE_MAGIC) return;
  if (typeof header.size === 'number' && header.size !== stateBytes) {
    throw new Error(`archive state is ${stateBytes} bytes, its header says ${header.size}`);
  }
  if (typeof header.sha256 === 'string' && header.sha256 !== hash.digest('hex')) {
    throw new Error('archive state does not match the SHA-256 in its header');
  }
}

/** Throws with the reason when the file at `path` is not the archive that was received. */
export async function verifySnapshotFile(path: string, received: Received): Promise<void> {
  if (received.bytes === 0) throw new Error('snapshot is empty');
  if (received.declared !== undefined && received.declared !== received.bytes) {
    throw new Error(
      `snapshot is truncated: received ${received.bytes} of ${received.declared} bytes`,
    );
  }
  const hash = createHash('sha256');
  let bytes = 0;
  let head = Buffer.alloc(0);
  for await (const c of createReadStream(path) as AsyncIterable<Buffer>) {
    if (head.length < 2) head = Buffer.concat([head, c.subarray(0, 2 - head.length)]);
    hash.update(c);
    bytes += c.length;
  }
  if (bytes !== received.bytes || hash.digest('hex') !== received.sha256) {
    throw new Error('file contents differ from the snapshot received');
  }
  if (head[0] === 0x1f && head[1] === 0x8b) await gunzipCheck(path);
}
