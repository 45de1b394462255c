/** `trellis intention`: Connect's service-to-service permissions. */
import { nestedCommand } from '../shared/nested.js';
import { intentionCheckCommand } from './check.js';
import { intentionCreateCommand } from './create.js';
import { intentionDeleteCommand } from './delete.js';
import { intentionGetCommand } from './get.js';
import { intentionListCommand } from './list.js';
import { intentionMatchCommand } from './match.js';

export const intentionCommand = nestedCommand({
  name: 'intention',
  synopsis: 'Interact with Connect service intentions',
  text: `Usage: trellis intention <subcommand> [options] [args]

  This command has subcommands for interacting with intentions. Intentions
  are permissions describing which services are allowed to communicate via
  Connect. Here are some simple examples, and more detailed examples are
  available in the subcommands or the documentation.

  Create an intention to allow "web" to talk to "db":

      $ trellis intention create web db

  Test whether a "web" is allowed to connect to "db":

      $ trellis intention check web db

  Find all intentions for communicating to the "db" service:

      $ trellis intention match db

  For more examples, ask for subcommand help or view the documentation.`,
  subcommands: [
    intentionCheckCommand,
    intentionCreateCommand,
    intentionDeleteCommand,
    intentionGetCommand,
    intentionListCommand,
    intentionMatchCommand,
  ],
});
