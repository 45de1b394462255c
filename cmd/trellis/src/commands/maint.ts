/**
 * `trellis maint`: node or service maintenance mode, as Consul's command/maint does. With
 * -enable or -disable it calls PUT /v1/agent/maintenance or
 * PUT /v1/agent/service/maintenance/<id>; with neither it lists what is in maintenance, read
 * from the agent's checks: "_node_maintenance" for the node and "_service_maintenance:<id>"
 * for a service, the reason being the check's Notes.
 */
import type { Command, Io } from '../command.js';
import { parseFlags, type FlagSpec } from '../flags.js';
import { CLIENT_FLAGS, bool, clientOrReport, str, usage } from './shared/http-flags.js';
import { agentNodeName } from './shared/agent-self.js';
import { AGENT_NOUN, fail, goQuote, out } from './shared/output.js';
import { pathSegment } from './shared/query.js';

/** Consul's check IDs for maintenance mode (agent/agent.go). */
export const NODE_MAINTENANCE_CHECK_ID = '_node_maintenance';
export const SERVICE_MAINTENANCE_CHECK_PREFIX = '_service_maintenance:';

const flags: FlagSpec[] = [
  { name: 'enable', kind: 'bool', usage: 'Enable maintenance mode.' },
  { name: 'disable', kind: 'bool', usage: 'Disable maintenance mode.' },
  { name: 'reason', kind: 'string', usage: 'Text describing the maintenance reason.' },
  {
    name: 'service',
    kind: 'string',
    usage: 'Control maintenance mode for a specific service ID.',
  },
];

/** The fields of an /v1/agent/checks entry the listing reads. */
interface AgentCheck {
  readonly CheckID: string;
  readonly ServiceID: string;
  readonly Notes: string;
}

function parseChecks(v: unknown): AgentCheck[] {
  if (v === undefined || v === null) return [];
  if (typeof v !== 'object' || Array.isArray(v)) {
    throw new Error('unexpected response: not a map of checks');
  }
  return Object.entries(v as Record<string, unknown>).map(([key, c]) => {
    const check = (c ?? {}) as Record<string, unknown>;
    const text = (f: string): string => (typeof check[f] === 'string' ? check[f] : '');
    return { CheckID: text('CheckID') || key, ServiceID: text('ServiceID'), Notes: text('Notes') };
  });
}

/**
 * The listing: a "Node:" block for node maintenance and a "Service:" block per service in
 * maintenance, each followed by a blank line. Consul walks a Go map (random order); checks
 * are sorted by ID here so the node comes first and services follow by ID.
 */
export function maintenanceListing(nodeName: string, checks: readonly AgentCheck[]): string {
  const lines: string[] = [];
  const sorted = [...checks].sort((a, b) => (a.CheckID < b.CheckID ? -1 : 1));
  for (const c of sorted) {
    if (c.CheckID === NODE_MAINTENANCE_CHECK_ID) {
      lines.push('Node:', `  Name:   ${nodeName}`, `  Reason: ${c.Notes}`, '');
    } else if (c.CheckID.startsWith(SERVICE_MAINTENANCE_CHECK_PREFIX)) {
      lines.push('Service:', `  ID:     ${c.ServiceID}`, `  Reason: ${c.Notes}`, '');
    }
  }
  return lines.map((l) => l + '\n').join('');
}

export const maintCommand: Command = {
  name: 'maint',
  synopsis: 'Controls node or service maintenance mode',
  help: () =>
    usage(
      `Usage: trellis maint [options]

  Puts a node or a service into maintenance mode, or takes it out. While in
  maintenance, the node or service is left out of DNS and API query results, as
  if it were unavailable: the agent registers an extra critical health check
  for it.

  A reason may be given with -enable; it becomes the "Notes" of that health
  check. Without one, a default text is used.

  Maintenance mode survives an agent restart: it must be disabled before the
  node or service returns to the pool.

  The node as a whole is the default target; -service selects one service
  instead.

  Without -enable or -disable, the command lists what is in maintenance on this
  agent, and prints nothing when nothing is.`,
      CLIENT_FLAGS,
      flags,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values, args: rest } = parseFlags([...CLIENT_FLAGS, ...flags], args);
    const enable = bool(values, 'enable');
    const disable = bool(values, 'disable');
    const reason = str(values, 'reason') ?? '';
    const serviceId = str(values, 'service') ?? '';
    // Consul ignores extra arguments; `maint enable` (no dash) would then silently list.
    if (rest.length > 0) {
      return fail(io, `Too many arguments (expected 0, got ${rest.length})`);
    }
    if (enable && disable) return fail(io, 'Only one of -enable or -disable may be provided');
    if (!enable && reason !== '') return fail(io, 'Reason may only be provided with -enable');
    if (!enable && !disable && serviceId !== '') {
      return fail(io, 'Service requires either -enable or -disable');
    }
    const client = clientOrReport(values, io);
    if (!client) return 1;

    if (!enable && !disable) {
      let nodeName: string;
      try {
        nodeName = await agentNodeName(client);
      } catch (e) {
        return fail(io, `Error querying ${AGENT_NOUN}: ${(e as Error).message}`);
      }
      let checks: AgentCheck[];
      try {
        const { value } = await client.json<unknown>('GET', '/v1/agent/checks');
        checks = parseChecks(value);
      } catch (e) {
        return fail(io, `Error getting checks: ${(e as Error).message}`);
      }
      io.stdout.write(maintenanceListing(nodeName, checks));
      return 0;
    }

    const [doing, done] = enable ? ['enabling', 'enabled'] : ['disabling', 'disabled'];
    const query = enable ? { enable: 'true', reason } : { enable: 'false' };
    if (serviceId === '') {
      try {
        await client.request('PUT', '/v1/agent/maintenance', { query });
      } catch (e) {
        return fail(io, `Error ${doing} node maintenance: ${(e as Error).message}`);
      }
      out(io, `Node maintenance is now ${done}`);
      return 0;
    }
    try {
      await client.request('PUT', `/v1/agent/service/maintenance/${pathSegment(serviceId)}`, {
        query,
      });
    } catch (e) {
      return fail(io, `Error ${doing} service maintenance: ${(e as Error).message}`);
    }
    out(io, `Service maintenance is now ${done} for ${goQuote(serviceId)}`);
    return 0;
  },
};
