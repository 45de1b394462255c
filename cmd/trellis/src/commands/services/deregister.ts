/**
 * `trellis services deregister`: removes services from the local agent
 * (PUT /v1/agent/service/deregister/<id>), as Consul's command/services/deregister does: one
 * service by -id, or every service of the definition files (by ID, else by name; a
 * definition with neither is skipped).
 */
import type { Command, Io } from '../../command.js';
import { parseFlags, type FlagSpec } from '../../flags.js';
import { CLIENT_FLAGS, SERVER_FLAGS, clientOrReport, str, usage } from '../shared/http-flags.js';
import { fail, goQuote, out } from '../shared/output.js';
import { pathSegment } from '../shared/query.js';
import { DefinitionError, servicesFromFiles } from './definition.js';

const flags: FlagSpec[] = [
  {
    name: 'id',
    kind: 'string',
    usage: 'ID to delete. This must not be set if arguments are given.',
  },
];

const HTTP = [...CLIENT_FLAGS, ...SERVER_FLAGS];

export const servicesDeregisterCommand: Command = {
  name: 'deregister',
  synopsis: 'Deregister services with the local agent',
  help: () =>
    usage(
      `Usage: trellis services deregister [options] [FILE...]

  Removes services registered with the local agent, named by the definition
  files they were registered from:

      $ trellis services deregister web.json db.json

  or one service by its ID:

      $ trellis services deregister -id=web

  Only the local agent's services are removed: run the command against the
  agent the service was registered with.`,
      HTTP,
      flags,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values, args: files } = parseFlags([...HTTP, ...flags], args);
    const flagId = str(values, 'id') ?? '';
    if (files.length === 0 && flagId === '') {
      return fail(io, 'Service deregistration requires at least one argument or -id.');
    }
    if (files.length > 0 && flagId !== '') {
      return fail(io, 'Service deregistration requires arguments or -id, not both.');
    }
    let targets: Array<{ id: string; name: string }>;
    if (files.length > 0) {
      try {
        const loaded = await servicesFromFiles(files, (w) => io.stderr.write(w + '\n'));
        targets = loaded.map(({ registration: r }) => ({
          id: r.ID || r.Name || '',
          name: r.Name ?? '',
        }));
      } catch (e) {
        if (!(e instanceof DefinitionError)) throw e;
        for (const p of e.problems) fail(io, `Error: ${p}`);
        return 1;
      }
    } else {
      targets = [{ id: flagId, name: '' }];
    }
    const client = clientOrReport(values, io);
    if (!client) return 1;
    for (const { id, name } of targets) {
      if (id === '') continue;
      try {
        await client.request('PUT', `/v1/agent/service/deregister/${pathSegment(id)}`);
      } catch (e) {
        // Consul names the service here, which is "" for -id; the ID says more then.
        return fail(
          io,
          `Error deregistering service ${goQuote(name || id)}: ${(e as Error).message}`,
        );
      }
      out(io, `Deregistered service: ${id}`);
    }
    return 0;
  },
};
