/**
 * `trellis services register`: registers services with the local agent
 * (PUT /v1/agent/service/register), as Consul's command/services/register does — either one
 * service described by flags or the definitions in files (see definition.ts), never both.
 * Every file is read and checked before the first registration.
 */
import type { Command, Io } from '../../command.js';
import { parseFlags, type FlagSpec } from '../../flags.js';
import {
  CLIENT_FLAGS,
  SERVER_FLAGS,
  clientOrReport,
  int,
  keyValues,
  list,
  str,
  usage,
} from '../shared/http-flags.js';
import { fail, goQuote, out } from '../shared/output.js';
import {
  DefinitionError,
  servicesFromFiles,
  type LoadedService,
  type ServiceRegistration,
} from './definition.js';

const flags: FlagSpec[] = [
  {
    name: 'id',
    kind: 'string',
    usage:
      "ID of the service to register for arg-based registration. If this isn't set, it " +
      'will default to the -name value.',
  },
  {
    name: 'name',
    kind: 'string',
    usage: 'Name of the service to register for arg-based registration.',
  },
  {
    name: 'address',
    kind: 'string',
    usage: 'Address of the service to register for arg-based registration.',
  },
  {
    name: 'port',
    kind: 'int',
    min: 0,
    max: 65535,
    usage: 'Port of the service to register for arg-based registration.',
  },
  {
    name: 'socket',
    kind: 'string',
    usage:
      'Path to the Unix domain socket to register for arg-based registration (conflicts ' +
      'with address and port).',
  },
  {
    name: 'meta',
    kind: 'list',
    usage:
      'Metadata to set on the service, formatted as key=value. This flag may be specified ' +
      'multiple times to set multiple meta fields.',
  },
  {
    name: 'tag',
    kind: 'list',
    usage:
      'Tag to add to the service. This flag can be specified multiple times to set multiple ' +
      'tags.',
  },
  {
    name: 'tagged-address',
    kind: 'list',
    usage:
      'Tagged address to set on the service, formatted as key=value. This flag may be ' +
      'specified multiple times to set multiple addresses.',
  },
  { name: 'kind', kind: 'string', usage: "The services 'kind'" },
];

const HTTP = [...CLIENT_FLAGS, ...SERVER_FLAGS];

/**
 * Go's net.SplitHostPort followed by strconv.Atoi, as Consul's api.ParseServiceAddr runs them
 * on a -tagged-address value; throws with Go's wording ("address x: missing port in address").
 */
export function parseServiceAddr(hostPort: string): { Address: string; Port: number } {
  const addrError = (why: string): Error => new Error(`address ${hostPort}: ${why}`);
  const colon = hostPort.lastIndexOf(':');
  if (colon < 0) throw addrError('missing port in address');
  let host: string;
  let afterHost = 0; // where a stray ']' would start to count
  if (hostPort.startsWith('[')) {
    const end = hostPort.indexOf(']');
    if (end < 0) throw addrError("missing ']' in address");
    if (end + 1 !== colon) {
      throw addrError(
        end + 1 < hostPort.length && hostPort[end + 1] === ':'
          ? 'too many colons in address'
          : 'missing port in address',
      );
    }
    host = hostPort.slice(1, end);
    afterHost = end + 1;
    if (hostPort.indexOf('[', 1) >= 0) throw addrError("unexpected '[' in address");
  } else {
    host = hostPort.slice(0, colon);
    if (host.includes(':')) throw addrError('too many colons in address');
    if (hostPort.includes('[')) throw addrError("unexpected '[' in address");
  }
  if (hostPort.indexOf(']', afterHost) >= 0) throw addrError("unexpected ']' in address");
  const portText = hostPort.slice(colon + 1);
  if (!/^[+-]?[0-9]+$/.test(portText)) {
    throw new Error(`strconv.Atoi: parsing ${goQuote(portText)}: invalid syntax`);
  }
  const port = Number(portText);
  if (port < 0 || port > 65535) throw new Error(`port ${portText} is out of range 0..65535`);
  return { Address: host, Port: port };
}

export const servicesRegisterCommand: Command = {
  name: 'register',
  synopsis: 'Register services with the local agent',
  help: () =>
    usage(
      `Usage: trellis services register [options] [FILE...]

  Registers one or more services with the local agent, from definition files
  (JSON, as in agent configuration: a "service" object or a "services" list) or
  from flags. The command returns once the agent has the service; remove it
  later with "trellis services deregister" (or the HTTP API).

      $ trellis services register web.json
      $ trellis services register -name=web -port=8080 -tag=v1 -meta=team=payments

  Flags and files cannot be mixed: with FILE arguments, -name must not be given.`,
      HTTP,
      flags,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values, args: files } = parseFlags([...HTTP, ...flags], args);
    const meta = keyValues(values, 'meta');
    const taggedRaw = keyValues(values, 'tagged-address');
    const tagged: Record<string, { Address: string; Port: number }> = {};
    for (const [k, v] of taggedRaw) {
      try {
        tagged[k] = parseServiceAddr(v);
      } catch (e) {
        return fail(io, `Invalid Tagged Address: ${(e as Error).message}`);
      }
    }
    const name = str(values, 'name') ?? '';
    if (files.length === 0 && name === '') {
      return fail(io, 'Service registration requires at least one argument or flags.');
    }
    if (files.length > 0 && name !== '') {
      return fail(io, 'Service registration requires arguments or -id, not both.');
    }

    let services: LoadedService[];
    if (files.length > 0) {
      try {
        services = await servicesFromFiles(files, (w) => io.stderr.write(w + '\n'));
      } catch (e) {
        if (!(e instanceof DefinitionError)) throw e;
        for (const p of e.problems) fail(io, `Error: ${p}`);
        return 1;
      }
      // Checked here rather than left to the agent, so that no service of the batch is
      // registered when a later one would be refused.
      const unnamed = services.find((s) => !s.registration.Name);
      if (unnamed) return fail(io, `Error: ${unnamed.source}: a service needs a "name"`);
    } else {
      const tags = list(values, 'tag');
      const port = int(values, 'port') ?? 0;
      const registration: ServiceRegistration = {
        ...(str(values, 'kind') ? { Kind: str(values, 'kind')! } : {}),
        ...(str(values, 'id') ? { ID: str(values, 'id')! } : {}),
        Name: name,
        ...(tags.length > 0 ? { Tags: tags } : {}),
        ...(port !== 0 ? { Port: port } : {}),
        ...(str(values, 'address') ? { Address: str(values, 'address')! } : {}),
        ...(str(values, 'socket') ? { SocketPath: str(values, 'socket')! } : {}),
        ...(taggedRaw.size > 0 ? { TaggedAddresses: tagged } : {}),
        ...(meta.size > 0 ? { Meta: Object.fromEntries(meta) } : {}),
      };
      services = [{ source: 'flags', registration }];
    }

    const client = clientOrReport(values, io);
    if (!client) return 1;
    for (const { registration } of services) {
      const svcName = registration.Name ?? '';
      try {
        await client.request('PUT', '/v1/agent/service/register', {
          body: JSON.stringify(registration),
        });
      } catch (e) {
        return fail(io, `Error registering service ${goQuote(svcName)}: ${(e as Error).message}`);
      }
      out(io, `Registered service: ${svcName}`);
    }
    return 0;
  },
};
