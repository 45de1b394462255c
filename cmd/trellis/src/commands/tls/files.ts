/**
 * Writing the TLS commands' files: each is created exclusively (O_EXCL), so an existing file
 * is never overwritten — not even one that appeared after the command checked the name — and
 * a file whose write failed is removed rather than left half-written.
 */
import { existsSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { goFsError } from '../shared/input.js';

/** Mode of a certificate (public); the umask applies. */
export const CERT_FILE_MODE = 0o644;
/** Mode of a private key: owner only, as Consul writes keys. */
export const KEY_FILE_MODE = 0o600;

/**
 * Consul's tls.FileDoesNotExist, inverted (os.Stat: a dangling link counts as absent; the
 * exclusive create below still refuses to write through it).
 */
export function fileExists(path: string): boolean {
  return existsSync(path);
}

/** Creates `path` with `data`, failing with Go's wording if it exists or cannot be written. */
export async function writeNewFile(path: string, data: string, mode: number): Promise<void> {
  let fh;
  try {
    fh = await open(path, 'wx', mode);
  } catch (e) {
    throw new Error(goFsError('open', path, e));
  }
  try {
    await fh.writeFile(data, 'utf8');
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await rm(path, { force: true });
    throw new Error(goFsError('write', path, e));
  }
  await fh.close();
}

/**
 * Writes a certificate, then its key. If the key cannot be written the certificate just
 * written is removed again, so a retry does not meet a lone certificate.
 */
export async function writePair(
  files: { cert: string; key: string },
  pems: { certPem: string; keyPem: string },
): Promise<void> {
  await writeNewFile(files.cert, pems.certPem, CERT_FILE_MODE);
  try {
    await writeNewFile(files.key, pems.keyPem, KEY_FILE_MODE);
  } catch (e) {
    await rm(files.cert, { force: true });
    throw e;
  }
}
