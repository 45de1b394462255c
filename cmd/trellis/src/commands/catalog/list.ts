/**
 * What `catalog nodes` and `catalog services` share before their request: no positional
 * arguments, the agent client, `-filter` (inline, @file or stdin), repeated `-node-meta`
 * as Consul's `node-meta=k:v`, and `-stale`.
 */
import type { Io } from '../../command.js';
import type { ApiClient } from '../../api/index.js';
import type { FlagValue } from '../../flags.js';
import { clientOrReport, keyValues, staleQuery, str } from '../shared/http-flags.js';
import { filterArgument } from '../shared/input.js';
import { fail } from '../shared/output.js';
import { listQuery, type ListQuery } from '../shared/query.js';

/** The client and the list query, or the exit code after reporting why not. */
export async function catalogListRequest(
  values: ReadonlyMap<string, FlagValue>,
  rest: readonly string[],
  io: Io,
  extra: ListQuery = {},
): Promise<{ client: ApiClient; query: ReturnType<typeof listQuery> } | number> {
  const nodeMeta = keyValues(values, 'node-meta');
  if (rest.length > 0) return fail(io, `Too many arguments (expected 0, got ${rest.length})`);
  const client = clientOrReport(values, io);
  if (!client) return 1;
  const filter = await filterArgument(str(values, 'filter') ?? '', io);
  if (filter === undefined) return 1;
  const query = listQuery(client, {
    ...extra,
    ...(nodeMeta.size > 0 ? { 'node-meta': [...nodeMeta].map(([k, v]) => `${k}:${v}`) } : {}),
    ...(filter !== '' ? { filter } : {}),
    ...staleQuery(values),
  });
  return { client, query };
}
