/**
 * `trellis catalog services`: the catalog's service names (GET /v1/catalog/services), or the
 * services of one node (GET /v1/catalog/node/<node>), sorted by name; with -tags each name is
 * followed by its tags, sorted and comma-joined, in Go tabwriter columns as Consul prints them.
 *
 * -filter is a Trellis addition (Consul's command has none): the expression is passed to the
 * endpoint as `?filter=`, which both endpoints accept.
 */
import type { Command, Io } from '../../command.js';
import { parseFlags, type FlagSpec } from '../../flags.js';
import { CLIENT_FLAGS, SERVER_FLAGS, bool, str, usage } from '../shared/http-flags.js';
import { catalogListRequest } from './list.js';
import { fail, out, tabulate } from '../shared/output.js';
import { pathSegment } from '../shared/query.js';

const flags: FlagSpec[] = [
  { name: 'node', kind: 'string', usage: 'Node `id or name` for which to list services.' },
  {
    name: 'node-meta',
    kind: 'list',
    usage:
      'Metadata to filter nodes with the given `key=value` pairs. If specified, only ' +
      'services running on nodes matching the given metadata will be returned. This flag ' +
      'may be specified multiple times to filter on multiple sources of metadata.',
  },
  {
    name: 'tags',
    kind: 'bool',
    usage: "Display each service's tags as a comma-separated list beside each service entry.",
  },
  {
    name: 'filter',
    kind: 'string',
    usage: 'Filter to use with the request (a Trellis addition; Consul has no such flag here).',
  },
];

const HTTP = [...CLIENT_FLAGS, ...SERVER_FLAGS];

function isStringList(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((t) => typeof t === 'string');
}

/** /v1/catalog/services: service name → its tags (null when none). */
export function parseServiceTags(v: unknown): Map<string, string[]> {
  if (v === undefined || v === null) return new Map();
  if (typeof v !== 'object' || Array.isArray(v)) {
    throw new Error('unexpected response: not a map of service names to tags');
  }
  const out = new Map<string, string[]>();
  for (const [name, tags] of Object.entries(v as Record<string, unknown>)) {
    if (tags !== null && !isStringList(tags)) {
      throw new Error(`unexpected response: the tags of ${name} are not a list of strings`);
    }
    out.set(name, tags ?? []);
  }
  return out;
}

/**
 * /v1/catalog/node/<node>: its services (ID → {Service, Tags}), grouped by service name with
 * the tags of every instance gathered (duplicates kept, as Consul does). `null` — the node is
 * unknown — is no services.
 */
export function parseNodeServices(v: unknown): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (v === undefined || v === null) return out;
  const services = (v as { Services?: unknown }).Services;
  if (services === undefined || services === null) return out;
  if (typeof services !== 'object' || Array.isArray(services)) {
    throw new Error('unexpected response: Services is not a map');
  }
  for (const s of Object.values(services as Record<string, unknown>)) {
    const svc = (s ?? {}) as { Service?: unknown; Tags?: unknown };
    if (typeof svc.Service !== 'string')
      throw new Error('unexpected response: a service has no name');
    const tags = isStringList(svc.Tags) ? svc.Tags : [];
    out.set(svc.Service, [...(out.get(svc.Service) ?? []), ...tags]);
  }
  return out;
}

/**
 * The listing: names sorted; with tags, Go's tabwriter (padding 6) over "name\ttags" lines,
 * the whole output trimmed like strings.TrimSpace.
 */
export function servicesListing(
  services: ReadonlyMap<string, readonly string[]>,
  tags: boolean,
): string {
  const names = [...services.keys()].sort();
  if (!tags) return names.join('\n');
  return tabulate(names.map((n) => [n, [...services.get(n)!].sort().join(',')] as const)).trim();
}

export const catalogServicesCommand: Command = {
  name: 'services',
  synopsis: 'Lists all registered services in a datacenter',
  help: () =>
    usage(
      `Usage: trellis catalog services [options]

  Lists the services registered in a datacenter, by default the datacenter of
  the queried agent.

  All services:

      $ trellis catalog services

  With their tags:

      $ trellis catalog services -tags

  The services of one node:

      $ trellis catalog services -node=web

  The services on nodes with some metadata:

      $ trellis catalog services -node-meta="foo=bar"`,
      HTTP,
      flags,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values, args: rest } = parseFlags([...HTTP, ...flags], args);
    const node = str(values, 'node') ?? '';
    const req = await catalogListRequest(values, rest, io);
    if (typeof req === 'number') return req;
    const { client, query } = req;
    let services: Map<string, string[]>;
    try {
      if (node !== '') {
        const { value } = await client.json<unknown>(
          'GET',
          `/v1/catalog/node/${pathSegment(node)}`,
          {
            query,
          },
        );
        services = parseNodeServices(value);
      } else {
        const { value } = await client.json<unknown>('GET', '/v1/catalog/services', { query });
        services = parseServiceTags(value);
      }
    } catch (e) {
      const what = node !== '' ? 'Error listing services for node' : 'Error listing services';
      return fail(io, `${what}: ${(e as Error).message}`);
    }
    if (services.size === 0) {
      fail(io, 'No services match the given query - try expanding your search.');
      return 0;
    }
    out(io, servicesListing(services, bool(values, 'tags')));
    return 0;
  },
};
