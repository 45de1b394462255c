/**
 * `trellis event`: fires a user event across the datacenter (PUT /v1/event/fire/<name>), as
 * Consul's command/event does: a name is required, the node/service/tag filters must be valid
 * regular expressions, a tag filter needs a service filter, and the optional payload is the
 * one argument. The agent is asked for its name first, so an unreachable agent fails early.
 *
 * The filters are checked with JavaScript's RegExp, an approximation of Go's RE2 syntax: a
 * leading `(?i)`, `(?m)` or `(?s)` group is read as RE2 reads it; lookaround and
 * backreferences pass here although RE2 (and so a Consul agent) rejects them. The agent
 * applies the filters; this check only catches mistakes before the event is sent.
 */
import type { Command, Io } from '../command.js';
import { parseFlags, type FlagSpec } from '../flags.js';
import { CLIENT_FLAGS, clientOrReport, str, usage } from './shared/http-flags.js';
import { agentNodeName } from './shared/agent-self.js';
import { AGENT_NOUN, fail, out } from './shared/output.js';
import { pathSegment } from './shared/query.js';

const flags: FlagSpec[] = [
  { name: 'name', kind: 'string', usage: 'Name of the event.' },
  { name: 'node', kind: 'string', usage: 'Regular expression to filter on node names.' },
  {
    name: 'service',
    kind: 'string',
    usage: 'Regular expression to filter on service instances.',
  },
  {
    name: 'tag',
    kind: 'string',
    usage: 'Regular expression to filter on service tags. Must be used with -service.',
  },
];

/**
 * Compiles a Go (RE2) regular expression with RegExp, reading a leading flag group such as
 * `(?i)` as RE2 does. Throws RegExp's SyntaxError for what does not compile.
 */
export function compileGoRegexp(source: string): RegExp {
  const m = /^\(\?([ims]+)\)/.exec(source);
  if (m) return new RegExp(source.slice(m[0].length), [...new Set(m[1])].join(''));
  return new RegExp(source);
}

export const eventCommand: Command = {
  name: 'event',
  synopsis: 'Fire a new event',
  help: () =>
    usage(
      `Usage: trellis event [options] [payload]

  Sends a custom user event to every agent of the datacenter. The event needs a
  name; the payload is optional. Which agents act on it can be narrowed with
  regular expressions on the node name, the service and the service's tags.`,
      CLIENT_FLAGS,
      flags,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values, args: rest } = parseFlags([...CLIENT_FLAGS, ...flags], args);
    const name = str(values, 'name') ?? '';
    const node = str(values, 'node') ?? '';
    const service = str(values, 'service') ?? '';
    const tag = str(values, 'tag') ?? '';
    if (name === '') {
      fail(io, 'Event name must be specified');
      fail(io, '');
      return fail(io, eventCommand.help());
    }
    for (const [what, source] of [
      ['node', node],
      ['service', service],
      ['tag', tag],
    ] as const) {
      if (source === '') continue;
      try {
        compileGoRegexp(source);
      } catch (e) {
        return fail(io, `Failed to compile ${what} filter regexp: ${(e as Error).message}`);
      }
    }
    if (tag !== '' && service === '') {
      return fail(io, 'Cannot provide tag filter without service filter.');
    }
    if (rest.length > 1) {
      fail(io, 'Too many command line arguments.');
      fail(io, '');
      return fail(io, eventCommand.help());
    }
    const payload = rest[0];

    const client = clientOrReport(values, io);
    if (!client) return 1;
    try {
      await agentNodeName(client);
    } catch (e) {
      return fail(io, `Error querying ${AGENT_NOUN}: ${(e as Error).message}`);
    }
    let id: string;
    try {
      const { value } = await client.json<unknown>('PUT', `/v1/event/fire/${pathSegment(name)}`, {
        query: {
          ...(node !== '' ? { node } : {}),
          ...(service !== '' ? { service } : {}),
          ...(tag !== '' ? { tag } : {}),
        },
        ...(payload !== undefined ? { body: payload } : {}),
      });
      const given = (value as { ID?: unknown } | undefined)?.ID;
      if (typeof given !== 'string') throw new Error('unexpected response: the event has no ID');
      id = given;
    } catch (e) {
      return fail(io, `Error firing event: ${(e as Error).message}`);
    }
    out(io, `Event ID: ${id}`);
    return 0;
  },
};
