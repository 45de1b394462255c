/**
 * `trellis snapshot save FILE`: streams GET /v1/snapshot into FILE.unverified (mode 0600,
 * fsynced), verifies it, then renames it over FILE and fsyncs the directory, so FILE is
 * either the previous content or a complete verified snapshot, never a partial one.
 */
import { createHash } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { dirname, extname } from 'node:path';
import type { Command, Io } from '../../command.js';
import { parseFlags, type FlagSpec } from '../../flags.js';
import { MAX_SNAPSHOT_BYTES, SNAPSHOT_TIMEOUT_MS, type ApiClient } from '../../api/index.js';
import {
  CLIENT_FLAGS,
  SERVER_FLAGS,
  clientFromFlags,
  staleQuery,
  str,
  usage,
} from '../shared/http-flags.js';
import { goFsError } from '../shared/input.js';
import { AGENT_NOUN, fail, goQuote, out } from '../shared/output.js';
import { verifySnapshotFile, type Received } from './verify.js';

const flags: FlagSpec[] = [
  {
    name: 'append-filename',
    kind: 'string',
    usage:
      'Comma-separated list of "version" and "dc": appends the agent\'s version and ' +
      'datacenter to the file name given.',
  },
];

const HTTP = [...CLIENT_FLAGS, ...SERVER_FLAGS];

async function appendToName(client: ApiClient, file: string, what: string[]): Promise<string> {
  const { value } = await client.json<{ Config?: { Version?: unknown; Datacenter?: unknown } }>(
    'GET',
    '/v1/agent/self',
  );
  const ext = extname(file);
  let stem = file.slice(0, file.length - ext.length);
  const cfg = value?.Config ?? {};
  if (what.includes('version') && typeof cfg.Version === 'string') stem += `-${cfg.Version}`;
  if (what.includes('dc') && typeof cfg.Datacenter === 'string') stem += `-${cfg.Datacenter}`;
  return stem + ext;
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export const snapshotSaveCommand: Command = {
  name: 'save',
  synopsis: 'Saves snapshot of Trellis server state',
  help: () =>
    usage(
      `Usage: trellis snapshot save [options] FILE

  Retrieves an atomic, point-in-time snapshot of the state of the servers which
  includes key/value entries, service catalog, prepared queries, sessions, and
  ACLs.

  To create a snapshot from the leader server and save it to "backup.snap":

    $ trellis snapshot save backup.snap

  To create a potentially stale snapshot from any available server (useful if no
  leader is available):

    $ trellis snapshot save -stale backup.snap`,
      HTTP,
      flags,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values, args: rest } = parseFlags([...HTTP, ...flags], args);
    if (rest.length === 0) return fail(io, 'Missing FILE argument');
    if (rest.length > 1) {
      return fail(io, `Too many arguments (expected 1 or 3, got ${rest.length})`);
    }
    let file = rest[0]!;
    let client;
    try {
      client = clientFromFlags(values);
    } catch (e) {
      return fail(io, `Error connecting to ${AGENT_NOUN}: ${(e as Error).message}`);
    }
    const append = (str(values, 'append-filename') ?? '').split(',').filter((s) => s !== '');
    if (append.length > 0) {
      try {
        file = await appendToName(client, file, append);
      } catch (e) {
        return fail(
          io,
          `Error connecting to ${AGENT_NOUN} and fetching datacenter/version: ${(e as Error).message}`,
        );
      }
    }

    let res;
    try {
      res = await client.stream('GET', '/v1/snapshot', {
        query: staleQuery(values),
        timeoutMs: SNAPSHOT_TIMEOUT_MS,
        maxBytes: MAX_SNAPSHOT_BYTES,
      });
    } catch (e) {
      return fail(io, `Error saving snapshot: ${(e as Error).message}`);
    }
    const index = Number(res.headers.get('x-consul-index') ?? 0) || 0;
    const declaredHeader = res.headers.get('content-length');
    const unverified = `${file}.unverified`;
    let received: Received;
    try {
      const fh = await open(unverified, 'w', 0o600).catch((e: unknown) => {
        throw new Error(goFsError('open', unverified, e));
      });
      const hash = createHash('sha256');
      let bytes = 0;
      try {
        for await (const c of res.chunks) {
          hash.update(c);
          bytes += c.byteLength;
          await fh.write(c);
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
      received = {
        bytes,
        sha256: hash.digest('hex'),
        ...(declaredHeader !== null && declaredHeader !== ''
          ? { declared: Number(declaredHeader) }
          : {}),
      };
    } catch (e) {
      await rm(unverified, { force: true });
      return fail(io, `Error writing unverified snapshot file: ${(e as Error).message}`);
    }
    try {
      await verifySnapshotFile(unverified, received);
    } catch (e) {
      await rm(unverified, { force: true });
      return fail(io, `Error verifying snapshot file: ${(e as Error).message}`);
    }
    try {
      await rename(unverified, file);
      await fsyncDir(dirname(file) || '.');
    } catch (e) {
      await rm(unverified, { force: true });
      return fail(
        io,
        `Error renaming ${goQuote(unverified)} to ${goQuote(file)}: ${(e as Error).message}`,
      );
    }
    out(io, `Saved and verified snapshot to index ${index}`);
    return 0;
  },
};
