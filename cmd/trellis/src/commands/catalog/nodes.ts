/**
 * `trellis catalog nodes`: the catalog's nodes (GET /v1/catalog/nodes), or the nodes providing
 * one service (GET /v1/catalog/service/<name>), in Consul's table: Node, ID (cut at its first
 * "-" unless -detailed), Address, DC, and with -detailed the tagged addresses and metadata.
 */
import type { Command, Io } from '../../command.js';
import { parseFlags, type FlagSpec } from '../../flags.js';
import { CLIENT_FLAGS, SERVER_FLAGS, bool, str, usage } from '../shared/http-flags.js';
import { catalogListRequest } from './list.js';
import { columnize, fail, out } from '../shared/output.js';
import { pathSegment } from '../shared/query.js';

const flags: FlagSpec[] = [
  { name: 'filter', kind: 'string', usage: 'Filter to use with the request' },
  {
    name: 'detailed',
    kind: 'bool',
    usage: 'Output detailed information about the nodes including their addresses and metadata.',
  },
  {
    name: 'near',
    kind: 'string',
    usage:
      'Node name to sort the node list in ascending order based on estimated round-trip ' +
      'time from that node. Passing "_agent" will use this agent\'s node for sorting.',
  },
  {
    name: 'node-meta',
    kind: 'list',
    usage:
      'Metadata to filter nodes with the given `key=value` pairs. This flag may be ' +
      'specified multiple times to filter on multiple sources of metadata.',
  },
  {
    name: 'service',
    kind: 'string',
    usage:
      'Service `id or name` to filter nodes. Only nodes which are providing the given ' +
      'service will be returned.',
  },
];

const HTTP = [...CLIENT_FLAGS, ...SERVER_FLAGS];

/** A catalog node, the fields the table shows. */
export interface CatalogNode {
  readonly ID: string;
  readonly Node: string;
  readonly Address: string;
  readonly Datacenter: string;
  readonly TaggedAddresses: Readonly<Record<string, string>>;
  readonly Meta: Readonly<Record<string, string>>;
}

function text(o: Record<string, unknown>, f: string): string {
  return typeof o[f] === 'string' ? o[f] : '';
}

function stringMap(v: unknown): Record<string, string> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return {};
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = String(x);
  return out;
}

/**
 * Nodes from /v1/catalog/nodes, or from /v1/catalog/service/<name> entries (whose node
 * metadata is NodeMeta); a node running two instances of the service is listed twice, as in
 * Consul. Throws when the answer is not a list of objects.
 */
export function parseNodes(v: unknown, fromService: boolean): CatalogNode[] {
  const list = v ?? [];
  if (!Array.isArray(list) || !list.every((n) => typeof n === 'object' && n !== null)) {
    throw new Error('unexpected response: not a list of nodes');
  }
  return (list as Array<Record<string, unknown>>).map((n) => ({
    ID: text(n, 'ID'),
    Node: text(n, 'Node'),
    Address: text(n, 'Address'),
    Datacenter: text(n, 'Datacenter'),
    TaggedAddresses: stringMap(n['TaggedAddresses']),
    Meta: stringMap(fromService ? n['NodeMeta'] : n['Meta']),
  }));
}

/** Consul's mapToKV: `k=v` pairs sorted by key, joined by ", ". */
export function mapToKV(m: Readonly<Record<string, string>>): string {
  return Object.keys(m)
    .sort()
    .map((k) => `${k}=${m[k]}`)
    .join(', ');
}

/** The table, header first, as columnize lays it out. */
export function nodesTable(nodes: readonly CatalogNode[], detailed: boolean): string {
  const rows: string[][] = [
    detailed
      ? ['Node', 'ID', 'Address', 'DC', 'TaggedAddresses', 'Meta']
      : ['Node', 'ID', 'Address', 'DC'],
  ];
  for (const n of nodes) {
    if (detailed) {
      rows.push([
        n.Node,
        n.ID,
        n.Address,
        n.Datacenter,
        mapToKV(n.TaggedAddresses),
        mapToKV(n.Meta),
      ]);
    } else {
      // The first group of a UUID is enough to tell nodes apart in the short table.
      const dash = n.ID.indexOf('-');
      rows.push([n.Node, dash > 0 ? n.ID.slice(0, dash) : n.ID, n.Address, n.Datacenter]);
    }
  }
  return columnize(rows);
}

export const catalogNodesCommand: Command = {
  name: 'nodes',
  synopsis: 'Lists all nodes in the given datacenter',
  help: () =>
    usage(
      `Usage: trellis catalog nodes [options]

  Lists the nodes registered in a datacenter, by default the datacenter of the
  queried agent.

  All nodes:

      $ trellis catalog nodes

  With full node IDs, tagged addresses and metadata:

      $ trellis catalog nodes -detailed

  Only the nodes providing a service:

      $ trellis catalog nodes -service=web

  Only the nodes with some metadata:

      $ trellis catalog nodes -node-meta="foo=bar"

  Sorted by estimated round-trip time from node-web:

      $ trellis catalog nodes -near=node-web`,
      HTTP,
      flags,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values, args: rest } = parseFlags([...HTTP, ...flags], args);
    const near = str(values, 'near') ?? '';
    const service = str(values, 'service') ?? '';
    const req = await catalogListRequest(values, rest, io, near !== '' ? { near } : {});
    if (typeof req === 'number') return req;
    const { client, query } = req;
    let nodes: CatalogNode[];
    try {
      const path =
        service !== '' ? `/v1/catalog/service/${pathSegment(service)}` : '/v1/catalog/nodes';
      const { value } = await client.json<unknown>('GET', path, { query });
      nodes = parseNodes(value, service !== '');
    } catch (e) {
      const what = service !== '' ? 'Error listing nodes for service' : 'Error listing nodes';
      return fail(io, `${what}: ${(e as Error).message}`);
    }
    if (nodes.length === 0) {
      fail(io, 'No nodes match the given query - try expanding your search.');
      return 0;
    }
    out(io, nodesTable(nodes, bool(values, 'detailed')));
    return 0;
  },
};
