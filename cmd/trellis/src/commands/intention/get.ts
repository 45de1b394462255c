/**
 * `trellis intention get SRC DST` or `trellis intention get ID`: one intention as Consul's
 * command/intention/get shows it.
 */
import type { Command, Io } from '../../command.js';
import { parseFlags } from '../../flags.js';
import {
  CLIENT_FLAGS,
  SERVER_FLAGS,
  clientOrReport,
  staleQuery,
  usage,
} from '../shared/http-flags.js';
import { columnize, fail, goJsonIndent, out } from '../shared/output.js';
import { destinationString, getFromArgs, sourceString, type Intention } from './intention.js';

const HTTP = [...CLIENT_FLAGS, ...SERVER_FLAGS];

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const two = (n: number): string => String(n).padStart(2, '0');

/**
 * Go's `t.Local().Format(time.RFC850)` ("Monday, 02-Jan-06 15:04:05 MST") for an RFC 3339
 * time; '' (an intention written as a config entry has no creation time) is Go's zero time.
 */
export function rfc850Local(iso: string): string {
  const d = new Date(iso);
  if (iso === '' || Number.isNaN(d.getTime())) return 'Monday, 01-Jan-01 00:00:00 UTC';
  const zone =
    new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' })
      .formatToParts(d)
      .find((p) => p.type === 'timeZoneName')?.value ?? 'UTC';
  return (
    `${DAYS[d.getDay()]!}, ${two(d.getDate())}-${MONTHS[d.getMonth()]!}-` +
    `${two(d.getFullYear() % 100)} ${two(d.getHours())}:${two(d.getMinutes())}:` +
    `${two(d.getSeconds())} ${zone}`
  );
}

/** The table Consul prints, then the L7 permissions as indented JSON. */
export function intentionDetails(ixn: Intention): string {
  const rows: [string, string][] = [
    ['Source:', sourceString(ixn)],
    ['Destination:', destinationString(ixn)],
  ];
  if (ixn.Action !== '') rows.push(['Action:', ixn.Action]);
  if (ixn.ID !== '') rows.push(['ID:', ixn.ID]);
  if (ixn.Description !== '') rows.push(['Description:', ixn.Description]);
  for (const k of Object.keys(ixn.Meta).sort()) rows.push([`Meta[${k}]:`, ixn.Meta[k]!]);
  rows.push(['Created At:', rfc850Local(ixn.CreatedAt)]);
  let text = columnize(rows);
  if (ixn.Permissions.length > 0) {
    text += '\nPermissions:\n' + goJsonIndent(ixn.Permissions, '  ');
  }
  return text;
}

export const intentionGetCommand: Command = {
  name: 'get',
  synopsis: 'Show information about an intention.',
  help: () =>
    usage(
      `Usage: trellis intention get [options] SRC DST
Usage: trellis intention get [options] ID

  Read and show the details about an intention. The intention can be looked
  up via an exact source/destination match or via the unique intention ID.

      $ trellis intention get web db`,
      HTTP,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values, args: rest } = parseFlags(HTTP, args);
    const client = clientOrReport(values, io);
    if (!client) return 1;
    let ixn;
    try {
      ixn = await getFromArgs(client, rest, staleQuery(values));
    } catch (e) {
      return fail(io, (e as Error).message);
    }
    out(io, intentionDetails(ixn));
    return 0;
  },
};
