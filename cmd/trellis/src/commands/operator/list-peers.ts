/** `trellis operator raft list-peers`: the Raft configuration as Consul's table. */
import type { Command, Io } from '../../command.js';
import { parseFlags } from '../../flags.js';
import {
  CLIENT_FLAGS,
  SERVER_FLAGS,
  clientFromFlags,
  staleQuery,
  usage,
} from '../shared/http-flags.js';
import { columnize, fail, out } from '../shared/output.js';

/** One server of /v1/operator/raft/configuration. */
export interface RaftServer {
  readonly ID: string;
  readonly Node: string;
  readonly Address: string;
  readonly Leader: boolean;
  readonly Voter: boolean;
  readonly ProtocolVersion: string;
  /** The server's last log index; absent from agents that do not report it (then 0, as Go decodes). */
  readonly LastIndex?: number;
}

export function parseRaftConfiguration(v: unknown): RaftServer[] {
  const servers = (v as { Servers?: unknown } | null | undefined)?.Servers;
  if (!Array.isArray(servers)) throw new Error('unexpected response: no Servers list');
  return servers.map((s: unknown) => {
    const r = (typeof s === 'object' && s !== null ? s : {}) as Record<string, unknown>;
    const text = (k: string): string => (typeof r[k] === 'string' ? r[k] : '');
    return {
      ID: text('ID'),
      Node: text('Node'),
      Address: text('Address'),
      Leader: r['Leader'] === true,
      Voter: r['Voter'] === true,
      ProtocolVersion: text('ProtocolVersion'),
      LastIndex: typeof r['LastIndex'] === 'number' ? r['LastIndex'] : 0,
    };
  });
}

/**
 * Consul's list-peers table (1.16+): Node ID Address State Voter RaftProtocol Commit Index
 * Trails Leader By; an empty protocol shows as "<=1", the leader trails by "-".
 */
export function peersTable(servers: readonly RaftServer[]): string {
  const leaderIndex = servers.find((s) => s.Leader)?.LastIndex ?? 0;
  const rows: string[][] = [
    ['Node', 'ID', 'Address', 'State', 'Voter', 'RaftProtocol', 'Commit Index', 'Trails Leader By'],
  ];
  for (const s of servers) {
    const last = s.LastIndex ?? 0;
    // Go subtracts unsigned integers; a follower ahead of a stale leader view wraps there.
    // Clamping at 0 shows what an operator means by "trails by".
    const behind = Math.max(0, leaderIndex - last);
    const trails = s.Leader ? '-' : behind === 1 ? '1 commit' : `${behind} commits`;
    rows.push([
      s.Node,
      s.ID,
      s.Address,
      s.Leader ? 'leader' : 'follower',
      String(s.Voter),
      s.ProtocolVersion === '' ? '<=1' : s.ProtocolVersion,
      String(last),
      trails,
    ]);
  }
  return columnize(rows);
}

const HTTP = [...CLIENT_FLAGS, ...SERVER_FLAGS];

export const listPeersCommand: Command = {
  name: 'list-peers',
  synopsis: 'Display the current Raft peer configuration',
  help: () =>
    usage(
      'Usage: trellis operator raft list-peers [options]\n\n  Displays the current Raft peer configuration.',
      HTTP,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values } = parseFlags(HTTP, args);
    let client;
    try {
      client = clientFromFlags(values);
    } catch (e) {
      return fail(io, `Error initializing client: ${(e as Error).message}`);
    }
    let servers;
    try {
      const { value } = await client.json<unknown>('GET', '/v1/operator/raft/configuration', {
        query: staleQuery(values),
      });
      servers = parseRaftConfiguration(value);
    } catch (e) {
      return fail(
        io,
        `Error getting peers: Failed to retrieve raft configuration: ${(e as Error).message}`,
      );
    }
    out(io, peersTable(servers));
    return 0;
  },
};
