/** `trellis snapshot restore FILE`: replaces the servers' state with a saved snapshot. */
import type { Command, Io } from '../../command.js';
import { parseFlags } from '../../flags.js';
import { MAX_SNAPSHOT_BYTES, SNAPSHOT_TIMEOUT_MS } from '../../api/index.js';
import { CLIENT_FLAGS, SERVER_FLAGS, clientFromFlags, usage } from '../shared/http-flags.js';
import { readFileBounded } from '../shared/input.js';
import { AGENT_NOUN, fail, out } from '../shared/output.js';

const HTTP = [...CLIENT_FLAGS, ...SERVER_FLAGS];

export const snapshotRestoreCommand: Command = {
  name: 'restore',
  synopsis: 'Restores snapshot of Trellis server state',
  help: () =>
    usage(
      `Usage: trellis snapshot restore [options] FILE

  Restores an atomic, point-in-time snapshot of the state of the servers which
  includes key/value entries, service catalog, prepared queries, sessions, and
  ACLs.

  Restores involve a potentially dangerous low-level Raft operation that is not
  designed to handle server failures during a restore. This command is primarily
  intended to be used when recovering from a disaster, restoring into a fresh
  cluster of servers.

  To restore a snapshot from the file "backup.snap":

    $ trellis snapshot restore backup.snap`,
      HTTP,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values, args: rest } = parseFlags(HTTP, args);
    if (rest.length === 0) return fail(io, 'Missing FILE argument');
    if (rest.length > 1) return fail(io, `Too many arguments (expected 1, got ${rest.length})`);
    const file = rest[0]!;
    let client;
    try {
      client = clientFromFlags(values);
    } catch (e) {
      return fail(io, `Error connecting to ${AGENT_NOUN}: ${(e as Error).message}`);
    }
    let archive: Buffer;
    try {
      archive = await readFileBounded(file, MAX_SNAPSHOT_BYTES);
    } catch (e) {
      return fail(io, `Error opening snapshot file: ${(e as Error).message}`);
    }
    try {
      await client.request('PUT', '/v1/snapshot', {
        body: archive,
        timeoutMs: SNAPSHOT_TIMEOUT_MS,
      });
    } catch (e) {
      return fail(io, `Error restoring snapshot: ${(e as Error).message}`);
    }
    out(io, 'Restored snapshot');
    return 0;
  },
};
