/** `trellis services`: register and deregister the local agent's services. */
import { nestedCommand } from '../shared/nested.js';
import { servicesDeregisterCommand } from './deregister.js';
import { servicesRegisterCommand } from './register.js';

export const servicesCommand = nestedCommand({
  name: 'services',
  synopsis: 'Interact with services',
  text: `Usage: trellis services <subcommand> [options] [args]

  This command has subcommands for the services registered with the local
  agent. To read the services of the whole cluster, use "trellis catalog".

  Register a service from a definition file, then remove it:

      $ trellis services register web.json
      $ trellis services deregister web.json

  For more examples, ask for subcommand help or view the documentation.`,
  subcommands: [servicesDeregisterCommand, servicesRegisterCommand],
});
