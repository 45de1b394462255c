/**
 * The archive `GET /v1/snapshot` returns and `PUT /v1/snapshot` takes: gzip of a one-line
 * JSON header, a newline, then the state store's snapshot bytes. The header carries the
 * index, datacenter, time and the SHA-256 of the state, checked on restore, so a truncated or
 * altered archive is refused before anything changes. (Consul's archive is a tar of
 * meta.json, state.bin and SHA256SUMS; its state encoding is Consul's own, so the two are not
 * interchangeable in either case.)
 */
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';

export const ARCHIVE_MAGIC = 'trellis-snapshot';
export const ARCHIVE_VERSION = 1;
/** Largest archive accepted on restore (compressed), and largest it may inflate to. */
export const MAX_ARCHIVE_BYTES = 64 * 1024 * 1024;

export interface ArchiveHeader {
  readonly magic: typeof ARCHIVE_MAGIC;
  readonly version: number;
  readonly index: number;
  readonly datacenter: string;
  readonly created: string;
  readonly sha256: string;
  readonly size: number;
}

export class ArchiveError extends Error {
  override readonly name = 'ArchiveError';
}

export function writeArchive(state: Uint8Array, index: number, datacenter: string): Uint8Array {
  const header: ArchiveHeader = {
    magic: ARCHIVE_MAGIC,
    version: ARCHIVE_VERSION,
    index,
    datacenter,
    created: new Date().toISOString(),
    sha256: createHash('sha256').update(state).digest('hex'),
    size: state.length,
  };
  const head = Buffer.from(`${JSON.stringify(header)}\n`);
  return gzipSync(Buffer.concat([head, state]));
}

export function readArchive(archive: Uint8Array): { header: ArchiveHeader; state: Uint8Array } {
  if (archive.length > MAX_ARCHIVE_BYTES) {
    throw new ArchiveError(`snapshot archive is larger than ${MAX_ARCHIVE_BYTES} bytes`);
  }
  let raw: Buffer;
  try {
    raw = gunzipSync(archive, { maxOutputLength: MAX_ARCHIVE_BYTES });
  } catch (e) {
    throw new ArchiveError(
      `snapshot archive is not a gzip stream: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  const nl = raw.indexOf(10);
  if (nl < 0 || nl > 4096) throw new ArchiveError('snapshot archive has no header');
  let header: ArchiveHeader;
  try {
    header = JSON.parse(raw.subarray(0, nl).toString('utf8')) as ArchiveHeader;
  } catch {
    throw new ArchiveError('snapshot archive header is not JSON');
  }
  if (header.magic !== ARCHIVE_MAGIC) throw new ArchiveError('not a Trellis snapshot archive');
  if (header.version !== ARCHIVE_VERSION) {
    throw new ArchiveError(`unsupported snapshot archive version ${String(header.version)}`);
  }
  const state = raw.subarray(nl + 1);
  if (state.length !== header.size) {
    throw new ArchiveError(
      `snapshot archive is truncated: ${state.length} of ${header.size} state bytes`,
    );
  }
  const sum = createHash('sha256').update(state).digest('hex');
  if (sum !== header.sha256) throw new ArchiveError('snapshot archive checksum mismatch');
  return { header, state: new Uint8Array(state) };
}
