/** What the config subcommands share: Consul's client error wording and the CAS flags. */
import type { ApiClient } from '../../api/index.js';
import type { Io } from '../../command.js';
import type { FlagSpec, FlagValue } from '../../flags.js';
import { clientFromFlags } from '../shared/http-flags.js';
import { AGENT_NOUN, fail } from '../shared/output.js';
import { pathSegment } from '../shared/query.js';

export const CAS_FLAGS: readonly FlagSpec[] = [
  {
    name: 'cas',
    kind: 'bool',
    usage:
      'Perform a Check-And-Set operation. Specifying this value also requires the ' +
      '-modify-index flag to be set. The default value is false.',
  },
  {
    name: 'modify-index',
    kind: 'int',
    min: 0,
    usage:
      'Unsigned integer representing the ModifyIndex of the config entry. This is used in ' +
      'combination with the -cas flag.',
  },
];

/**
 * The client, or undefined after reporting a bad address or token file. The wording is
 * Consul's config commands' own ("Error connect to Consul agent"), kept for scripts.
 */
export function configClient(
  values: ReadonlyMap<string, FlagValue>,
  io: Io,
): ApiClient | undefined {
  try {
    return clientFromFlags(values);
  } catch (e) {
    fail(io, `Error connect to ${AGENT_NOUN}: ${(e as Error).message}`);
    return undefined;
  }
}

/** `/v1/config/<kind>[/<name>]`, each part one escaped path segment. */
export function configPath(kind: string, name?: string): string {
  return `/v1/config/${pathSegment(kind)}${name === undefined ? '' : `/${pathSegment(name)}`}`;
}
