/** `trellis tls`, `tls ca` and `tls cert`: the agents' own TLS CA and certificates. */
import { nestedCommand } from '../shared/nested.js';
import { tlsCaCreateCommand } from './ca-create.js';
import { tlsCertCreateCommand } from './cert-create.js';

export const tlsCaCommand = nestedCommand({
  name: 'ca',
  synopsis: 'Helpers for CAs',
  text: `Usage: trellis tls ca <subcommand> [options]

  This command has subcommands for interacting with Certificate Authorities.

  Here are some simple examples, and more detailed examples are available
  in the subcommands or the documentation.

  Create a CA

    $ trellis tls ca create
    ==> Saved consul-agent-ca.pem
    ==> Saved consul-agent-ca-key.pem

  For more examples, ask for subcommand help or view the documentation.`,
  subcommands: [tlsCaCreateCommand],
});

export const tlsCertCommand = nestedCommand({
  name: 'cert',
  synopsis: 'Helpers for certificates',
  text: `Usage: trellis tls cert <subcommand> [options]

  This command has subcommands for interacting with certificates.

  Here are some simple examples, and more detailed examples are available
  in the subcommands or the documentation.

  Create a server certificate

    $ trellis tls cert create -server

  Create a client certificate

    $ trellis tls cert create -client

  For more examples, ask for subcommand help or view the documentation.`,
  subcommands: [tlsCertCreateCommand],
});

export const tlsCommand = nestedCommand({
  name: 'tls',
  synopsis: 'Builtin helpers for creating CAs and certificates',
  text: `Usage: trellis tls <subcommand> <subcommand> [options]

  This command has subcommands for creating the CA and the certificates the
  agents use for TLS on RPC and HTTPS (not Connect's, which the servers' CA
  issues).

  Here are some simple examples, and more detailed examples are available
  in the subcommands or the documentation.

  Create a CA

    $ trellis tls ca create

  Create a server certificate

    $ trellis tls cert create -server

  Create a client certificate

    $ trellis tls cert create -client

  For more examples, ask for subcommand help or view the documentation.`,
  subcommands: [tlsCaCommand, tlsCertCommand],
});
