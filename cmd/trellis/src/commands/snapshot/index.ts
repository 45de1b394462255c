/** `trellis snapshot`: save and restore the servers' state. */
import { nestedCommand } from '../shared/nested.js';
import { snapshotRestoreCommand } from './restore.js';
import { snapshotSaveCommand } from './save.js';

export const snapshotCommand = nestedCommand({
  name: 'snapshot',
  synopsis: 'Saves and restores snapshots of Trellis server state',
  text: `Usage: trellis snapshot <subcommand> [options] [args]

  This command has subcommands for saving and restoring the state of the servers
  for disaster recovery. These are atomic, point-in-time snapshots which include
  key/value entries, service catalog, prepared queries, sessions, and ACLs.

  Create a snapshot:

      $ trellis snapshot save backup.snap

  Restore a snapshot:

      $ trellis snapshot restore backup.snap

  For more examples, ask for subcommand help or view the documentation.`,
  subcommands: [snapshotSaveCommand, snapshotRestoreCommand],
});
