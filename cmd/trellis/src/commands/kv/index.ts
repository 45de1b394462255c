/** `trellis kv`: the key-value store's subcommands. */
import { nestedCommand } from '../shared/nested.js';
import { kvDeleteCommand } from './delete.js';
import { kvExportCommand } from './export.js';
import { kvGetCommand } from './get.js';
import { kvImportCommand } from './import.js';
import { kvPutCommand } from './put.js';

export const kvCommand = nestedCommand({
  name: 'kv',
  synopsis: 'Interact with the key-value store',
  text: `Usage: trellis kv <subcommand> [options] [args]

  This command has subcommands for interacting with the key-value store. Here
  are some simple examples, and more detailed examples are available in the
  subcommands or the documentation.

  Create or update the key named "redis/config/connections" with the value "5":

      $ trellis kv put redis/config/connections 5

  Read this value back:

      $ trellis kv get redis/config/connections

  Or get detailed key information:

      $ trellis kv get -detailed redis/config/connections

  Finally, delete the key:

      $ trellis kv delete redis/config/connections

  For more examples, ask for subcommand help or view the documentation.`,
  subcommands: [kvDeleteCommand, kvExportCommand, kvGetCommand, kvImportCommand, kvPutCommand],
});
