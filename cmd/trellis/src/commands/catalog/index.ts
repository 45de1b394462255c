/** `trellis catalog`: read the catalog's datacenters, nodes and services. */
import { nestedCommand } from '../shared/nested.js';
import { catalogDatacentersCommand } from './datacenters.js';
import { catalogNodesCommand } from './nodes.js';
import { catalogServicesCommand } from './services.js';

export const catalogCommand = nestedCommand({
  name: 'catalog',
  synopsis: 'Interact with the catalog',
  text: `Usage: trellis catalog <subcommand> [options] [args]

  This command has subcommands for reading the catalog, the cluster-wide
  registry of nodes and services (not to be confused with one agent's local
  state, although the APIs and answers look alike).

  List all datacenters:

      $ trellis catalog datacenters

  List all nodes:

      $ trellis catalog nodes

  List all services:

      $ trellis catalog services

  For more examples, ask for subcommand help or view the documentation.`,
  subcommands: [catalogDatacentersCommand, catalogNodesCommand, catalogServicesCommand],
});
