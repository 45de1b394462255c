/** `trellis config`: centralized configuration entries. */
import { nestedCommand } from '../shared/nested.js';
import { configDeleteCommand } from './delete.js';
import { configListCommand } from './list.js';
import { configReadCommand } from './read.js';
import { configWriteCommand } from './write.js';

export const configCommand = nestedCommand({
  name: 'config',
  synopsis: 'Interact with centralized config entries',
  text: `Usage: trellis config <subcommand> [options] [args]

  This command has subcommands for interacting with the centralized
  configuration: config entries (service-defaults, proxy-defaults,
  service-intentions and ingress-gateway), written as JSON. Here are some
  simple examples, and more detailed examples are available in the
  subcommands or the documentation.

  Write a config:

    $ trellis config write web.service-defaults.json

  Read a config:

    $ trellis config read -kind service-defaults -name web

  List all configs for a type:

    $ trellis config list -kind service-defaults

  Delete a config:

    $ trellis config delete -kind service-defaults -name web

  For more examples, ask for subcommand help or view the documentation.`,
  subcommands: [configDeleteCommand, configListCommand, configReadCommand, configWriteCommand],
});
