/**
 * `trellis members`: the agent's view of gossip membership (GET /v1/agent/members), printed
 * as Consul's command/members does — same columns, ordering, tag defaults and exit codes
 * (2 when the -status filter leaves no member).
 */
import type { Command, Io } from '../command.js';
import { parseFlags, type FlagSpec } from '../flags.js';
import { CLIENT_FLAGS, bool, clientFromFlags, str, usage } from './shared/http-flags.js';
import { AGENT_NOUN, columnize, fail, out } from './shared/output.js';

/** One entry of /v1/agent/members, the fields the table reads. */
export interface AgentMember {
  readonly Name: string;
  readonly Addr: string;
  readonly Port: number;
  readonly Tags: Readonly<Record<string, string>>;
  readonly Status: number;
}

/** Consul's api.AllSegments: ask for members of every network segment. */
const ALL_SEGMENTS = '_all';

const flags: FlagSpec[] = [
  { name: 'detailed', kind: 'bool', usage: 'Provides detailed information about nodes.' },
  {
    name: 'status',
    kind: 'string',
    usage:
      'If provided, output is filtered to only nodes matching the regular expression for status.',
    default: '.*',
  },
  {
    name: 'wan',
    kind: 'bool',
    usage:
      'If the agent is in server mode, this can be used to return the other peers in the WAN pool.',
  },
  { name: 'filter', kind: 'string', usage: 'Filter to use with the request.' },
];

/** Serf's MemberStatus names. */
export function memberStatus(status: number): string {
  return ['none', 'alive', 'leaving', 'left', 'failed'][status] ?? `unknown(${status})`;
}

/** Go's net.TCPAddr{IP, Port}.String(): IPv6 in brackets, an unparsable IP left out. */
export function tcpAddr(ip: string, port: number): string {
  if (/^[0-9.]+$/.test(ip) && ip.split('.').length === 4) return `${ip}:${port}`;
  if (ip.includes(':')) return `[${ip}]:${port}`;
  return `:${port}`;
}

const isDefault = (p: string): boolean => p === '' || p === 'default';

/**
 * Applies Consul's tag defaults (partition "default"; segment "<all>" for servers and
 * "<default>" for clients of the default partition), filters by status, and sorts: servers
 * first, then the default partition, then by segment, partition and name.
 */
export function prepareMembers(members: readonly AgentMember[], statusRe: RegExp): AgentMember[] {
  const kept: AgentMember[] = [];
  for (const m of members) {
    const tags: Record<string, string> = { ...m.Tags };
    if (!tags['ap']) tags['ap'] = 'default';
    if (isDefault(tags['ap'])) {
      if (tags['role'] === 'consul') tags['segment'] = '<all>';
      else if (!tags['segment']) tags['segment'] = '<default>';
    } else {
      tags['segment'] = '';
    }
    if (!statusRe.test(memberStatus(m.Status))) continue;
    kept.push({ ...m, Tags: tags });
  }
  const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  return kept.sort((a, b) => {
    const sa = a.Tags['role'] === 'consul';
    const sb = b.Tags['role'] === 'consul';
    if (sa !== sb) return sa ? -1 : 1;
    const pa = a.Tags['ap'] ?? '';
    const pb = b.Tags['ap'] ?? '';
    if (isDefault(pa) !== isDefault(pb)) return isDefault(pa) ? -1 : 1;
    return (
      cmp(a.Tags['segment'] ?? '', b.Tags['segment'] ?? '') || cmp(pa, pb) || cmp(a.Name, b.Name)
    );
  });
}

/** The default table: Node Address Status Type Build Protocol DC Partition Segment. */
export function standardTable(members: readonly AgentMember[]): string {
  const rows: string[][] = [
    ['Node', 'Address', 'Status', 'Type', 'Build', 'Protocol', 'DC', 'Partition', 'Segment'],
  ];
  for (const m of members) {
    const t = m.Tags;
    const addr = tcpAddr(m.Addr, m.Port);
    const status = memberStatus(m.Status);
    let build = t['build'] ?? '';
    if (build === '') build = '< 0.3';
    else if (build.includes(':')) build = build.slice(0, build.indexOf(':'));
    const type = t['role'] === 'node' ? 'client' : t['role'] === 'consul' ? 'server' : undefined;
    if (type === undefined) {
      rows.push([m.Name, addr, status, 'unknown', '', '', '', '', '']);
    } else {
      rows.push([
        m.Name,
        addr,
        status,
        type,
        build,
        t['vsn'] ?? '',
        t['dc'] ?? '',
        t['ap'] ?? '',
        t['segment'] ?? '',
      ]);
    }
  }
  return columnize(rows);
}

/** -detailed: Node Address Status Tags, tags as k=v sorted by key. */
export function detailedTable(members: readonly AgentMember[]): string {
  const rows: string[][] = [['Node', 'Address', 'Status', 'Tags']];
  for (const m of members) {
    const tags = Object.keys(m.Tags)
      .sort()
      .map((k) => `${k}=${m.Tags[k]}`)
      .join(',');
    rows.push([m.Name, tcpAddr(m.Addr, m.Port), memberStatus(m.Status), tags]);
  }
  return columnize(rows);
}

function isMemberList(v: unknown): v is AgentMember[] {
  return (
    Array.isArray(v) &&
    v.every(
      (m) =>
        typeof m === 'object' &&
        m !== null &&
        typeof (m as AgentMember).Name === 'string' &&
        typeof (m as AgentMember).Addr === 'string' &&
        typeof (m as AgentMember).Port === 'number' &&
        typeof (m as AgentMember).Status === 'number' &&
        typeof (m as AgentMember).Tags === 'object' &&
        (m as AgentMember).Tags !== null,
    )
  );
}

export const membersCommand: Command = {
  name: 'members',
  synopsis: 'Lists the members of a Trellis cluster',
  help: () =>
    usage(
      'Usage: trellis members [options]\n\n  Outputs the members of a running Trellis agent.',
      CLIENT_FLAGS,
      flags,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values } = parseFlags([...CLIENT_FLAGS, ...flags], args);
    const statusText = str(values, 'status') ?? '.*';
    let statusRe: RegExp;
    try {
      statusRe = new RegExp(statusText);
    } catch (e) {
      return fail(io, `Failed to compile status regexp: ${(e as Error).message}`);
    }
    let client;
    try {
      client = clientFromFlags(values);
    } catch (e) {
      return fail(io, `Error connecting to ${AGENT_NOUN}: ${(e as Error).message}`);
    }
    let members: AgentMember[];
    try {
      const filter = str(values, 'filter');
      const { value } = await client.json<unknown>('GET', '/v1/agent/members', {
        query: {
          segment: ALL_SEGMENTS,
          ...(bool(values, 'wan') ? { wan: '1' } : {}),
          ...(filter ? { filter } : {}),
        },
      });
      if (!isMemberList(value)) throw new Error('unexpected response: not a list of members');
      members = value;
    } catch (e) {
      return fail(io, `Error retrieving members: ${(e as Error).message}`);
    }
    const shown = prepareMembers(members, statusRe);
    if (shown.length === 0) return 2;
    out(io, bool(values, 'detailed') ? detailedTable(shown) : standardTable(shown));
    return 0;
  },
};
