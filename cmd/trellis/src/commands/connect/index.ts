/** `trellis connect` and `trellis connect ca`: Connect's certificate authority. */
import { nestedCommand } from '../shared/nested.js';
import { caGetConfigCommand } from './ca-get.js';
import { caSetConfigCommand } from './ca-set.js';
import { connectProxyCommand } from '../connect-proxy.js';

export const connectCaCommand = nestedCommand({
  name: 'ca',
  synopsis: 'Interact with the Connect Certificate Authority (CA)',
  text: `Usage: trellis connect ca <subcommand> [options] [args]

  This command has subcommands for interacting with Connect's Certificate
  Authority (CA).

  Here are some simple examples, and more detailed examples are available
  in the subcommands or the documentation.

  Get the configuration:

      $ trellis connect ca get-config

  Update the configuration:

      $ trellis connect ca set-config -config-file ca.json

  For more examples, ask for subcommand help or view the documentation.`,
  subcommands: [caGetConfigCommand, caSetConfigCommand],
});

export const connectCommand = nestedCommand({
  name: 'connect',
  synopsis: 'Interact with Connect',
  text: `Usage: trellis connect <subcommand> [options] [args]

  This command has subcommands for interacting with Connect, the service mesh.
  Of Consul's Connect subcommands, Trellis has those of the certificate
  authority (ca) and the built-in proxy (proxy).

  Get the CA configuration:

      $ trellis connect ca get-config

  For more examples, ask for subcommand help or view the documentation.`,
  subcommands: [connectCaCommand, connectProxyCommand],
});
