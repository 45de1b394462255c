/**
 * `trellis tls ca create`: a CA for the agents' own TLS (RPC, HTTPS), written to
 * `<domain>-agent-ca.pem` and `<domain>-agent-ca-key.pem` in the current directory, as
 * Consul's command/tls/ca/create does. Existing files are never overwritten.
 */
import { createTlsCa, tlsCaFileNames } from '@trellis/ca';
import type { Command, Io } from '../../command.js';
import { parseFlags, type FlagSpec } from '../../flags.js';
import { bool, int, list, str, usage } from '../shared/http-flags.js';
import { fail, out } from '../shared/output.js';
import { fileExists, writePair } from './files.js';

const flags: FlagSpec[] = [
  {
    name: 'days',
    kind: 'int',
    default: 1825,
    usage: 'Number of days the CA is valid for (about 5 years by default).',
  },
  {
    name: 'name-constraint',
    kind: 'bool',
    usage:
      'Enables X.509 name constraints for the CA. If used, the CA only signs certificates ' +
      'for localhost and the domains specified by -domain and -additional-name-constraint. ' +
      'If the UI is served over HTTPS, add its DNS name with -additional-name-constraint. ' +
      'Defaults to false.',
  },
  {
    name: 'domain',
    kind: 'string',
    default: 'consul',
    usage:
      'The DNS domain of the cluster that agents are configured with. Names the files ' +
      '(<domain>-agent-ca.pem) and is used by -name-constraint and -cluster-id.',
  },
  {
    name: 'additional-name-constraint',
    kind: 'list',
    usage:
      'Add name constraints for the CA. Results in rejecting certificates for other DNS ' +
      'than specified. Can be used multiple times. Only used in combination with ' +
      '-name-constraint.',
  },
  {
    name: 'cluster-id',
    kind: 'string',
    usage:
      "ID of the cluster. Sets the CA's URI SAN to the SPIFFE ID of the cluster ID and " +
      'domain.',
  },
  {
    name: 'common-name',
    kind: 'string',
    usage: 'Common Name of the CA. Defaults to "Trellis Agent CA <serial number>".',
  },
];

export const tlsCaCreateCommand: Command = {
  name: 'create',
  synopsis: 'Create a new agent TLS CA',
  help: () =>
    usage(
      `Usage: trellis tls ca create [options]

  Create a new CA for the agents' TLS certificates:

  $ trellis tls ca create
  ==> Saved consul-agent-ca.pem
  ==> Saved consul-agent-ca-key.pem

  The files are written in the current directory; existing files are never
  overwritten. The key file is readable by its owner only.`,
      [],
      flags,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values, args: rest } = parseFlags(flags, args);
    if (rest.length > 0) {
      return fail(io, `Too many arguments (expected 0, got ${rest.length})`);
    }
    const domain = str(values, 'domain') ?? 'consul';
    const names = tlsCaFileNames(domain);
    for (const name of [names.cert, names.key]) {
      if (fileExists(name)) return fail(io, `${name} already exists.`);
    }
    const commonName = str(values, 'common-name') ?? '';
    const clusterId = str(values, 'cluster-id') ?? '';
    let pems;
    try {
      pems = await createTlsCa({
        domain,
        days: int(values, 'days') ?? 1825,
        now: new Date(),
        nameConstraint: bool(values, 'name-constraint'),
        additionalNameConstraints: list(values, 'additional-name-constraint'),
        ...(commonName !== '' ? { commonName } : {}),
        ...(clusterId !== '' ? { clusterId } : {}),
      });
    } catch (e) {
      return fail(io, (e as Error).message);
    }
    try {
      await writePair(names, pems);
    } catch (e) {
      return fail(io, (e as Error).message);
    }
    out(io, `==> Saved ${names.cert}`);
    out(io, `==> Saved ${names.key}`);
    return 0;
  },
};
