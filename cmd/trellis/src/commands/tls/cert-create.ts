/**
 * `trellis tls cert create -server|-client|-cli`: an agent certificate signed by the CA of
 * `tls ca create`, written to `<dc>-<kind>-<domain>-<n>.pem` and `…-<n>-key.pem` in the
 * current directory, `<n>` being the first index whose two files do not exist yet — Consul's
 * command/tls/cert/create. Existing files are never overwritten.
 */
import { isIP } from 'node:net';
import { createTlsCert, nextTlsCertFileNames, type TlsCertKind } from '@trellis/ca';
import type { Command, Io } from '../../command.js';
import { parseFlags, type FlagSpec } from '../../flags.js';
import { bool, int, list, str, usage } from '../shared/http-flags.js';
import { readFileBounded } from '../shared/input.js';
import { fail, goQuote, out } from '../shared/output.js';
import { fileExists, writePair } from './files.js';

/** Consul's placeholder in the -ca and -key defaults, replaced by -domain. */
const DOMAIN_PLACEHOLDER = '#DOMAIN#';

/** Largest CA certificate or key file read (a PEM is a few KiB). */
export const MAX_CA_FILE_BYTES = 1024 * 1024;

const flags: FlagSpec[] = [
  {
    name: 'ca',
    kind: 'string',
    default: `${DOMAIN_PLACEHOLDER}-agent-ca.pem`,
    usage: 'Provide path to the ca.',
  },
  {
    name: 'key',
    kind: 'string',
    default: `${DOMAIN_PLACEHOLDER}-agent-ca-key.pem`,
    usage: 'Provide path to the key.',
  },
  { name: 'server', kind: 'bool', usage: 'Generate server certificate.' },
  { name: 'client', kind: 'bool', usage: 'Generate client certificate.' },
  {
    name: 'node',
    kind: 'string',
    usage:
      'When generating a server cert and this is set an additional dns name is included of ' +
      'the form <node>.server.<datacenter>.<domain>.',
  },
  { name: 'cli', kind: 'bool', usage: 'Generate cli certificate.' },
  {
    name: 'days',
    kind: 'int',
    default: 365,
    usage: 'Provide number of days the certificate is valid for from now on.',
  },
  { name: 'dc', kind: 'string', default: 'dc1', usage: 'Provide the datacenter.' },
  { name: 'domain', kind: 'string', default: 'consul', usage: 'Provide the domain.' },
  {
    name: 'additional-dnsname',
    kind: 'list',
    usage:
      'Provide an additional dnsname for Subject Alternative Names. localhost is always ' +
      'included. This flag may be provided multiple times.',
  },
  {
    name: 'additional-ipaddress',
    kind: 'list',
    usage:
      'Provide an additional ipaddress for Subject Alternative Names. 127.0.0.1 is always ' +
      'included. This flag may be provided multiple times.',
  },
];

const SERVER_WARNING = `==> WARNING: Server Certificates grants authority to become a
    server and access all state in the cluster including root keys
    and all ACL tokens. Do not distribute them to production hosts
    that are not server nodes. Store them as securely as CA keys.`;

async function readPem(path: string): Promise<string> {
  return (await readFileBounded(path, MAX_CA_FILE_BYTES)).toString('utf8');
}

export const tlsCertCreateCommand: Command = {
  name: 'create',
  synopsis: 'Create a new agent TLS certificate',
  help: () =>
    usage(
      `Usage: trellis tls cert create [options]

  Create a new certificate signed by the CA of "trellis tls ca create":

  $ trellis tls cert create -server
  ==> WARNING: Server Certificates grants authority to become a
      server and access all state in the cluster including root keys
      and all ACL tokens. Do not distribute them to production hosts
      that are not server nodes. Store them as securely as CA keys.
  ==> Using consul-agent-ca.pem and consul-agent-ca-key.pem
  ==> Saved dc1-server-consul-0.pem
  ==> Saved dc1-server-consul-0-key.pem
  $ trellis tls cert create -client
  ==> Using consul-agent-ca.pem and consul-agent-ca-key.pem
  ==> Saved dc1-client-consul-0.pem
  ==> Saved dc1-client-consul-0-key.pem

  The files are written in the current directory with the first free index;
  existing files are never overwritten. Key files are readable by their owner
  only.`,
      [],
      flags,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values, args: rest } = parseFlags(flags, args);
    if (rest.length > 0) {
      return fail(io, `Too many arguments (expected 0, got ${rest.length})`);
    }
    const ca = str(values, 'ca') ?? `${DOMAIN_PLACEHOLDER}-agent-ca.pem`;
    const key = str(values, 'key') ?? `${DOMAIN_PLACEHOLDER}-agent-ca-key.pem`;
    if (ca === '') return fail(io, 'Please provide the ca');
    if (key === '') return fail(io, 'Please provide the key');
    const kinds = (['server', 'client', 'cli'] as const).filter((k) => bool(values, k));
    if (kinds.length !== 1) return fail(io, 'Please provide either -server, -client, or -cli');
    const kind: TlsCertKind = kinds[0]!;
    const node = str(values, 'node') ?? '';
    if (node !== '' && kind !== 'server') return fail(io, '-node requires -server');
    const ips = list(values, 'additional-ipaddress');
    // Checked before anything is read or printed (Go's net.ParseIP would just yield nil).
    const badIp = ips.map((ip) => ip.trim()).find((ip) => ip !== '' && isIP(ip) === 0);
    if (badIp !== undefined) return fail(io, `invalid IP address ${goQuote(badIp)}`);
    const datacenter = str(values, 'dc') ?? 'dc1';
    const domain = str(values, 'domain') ?? 'consul';

    let names;
    try {
      names = nextTlsCertFileNames({ kind, datacenter, domain }, fileExists);
    } catch {
      return fail(io, "Could not find a filename that doesn't already exist");
    }
    const caFile = ca.replace(DOMAIN_PLACEHOLDER, domain);
    const keyFile = key.replace(DOMAIN_PLACEHOLDER, domain);
    let caCertPem: string;
    let caKeyPem: string;
    try {
      caCertPem = await readPem(caFile);
    } catch (e) {
      return fail(io, `Error reading CA: ${(e as Error).message}`);
    }
    try {
      caKeyPem = await readPem(keyFile);
    } catch (e) {
      return fail(io, `Error reading CA key: ${(e as Error).message}`);
    }
    if (kind === 'server') out(io, SERVER_WARNING);
    out(io, `==> Using ${caFile} and ${keyFile}`);

    let pems;
    try {
      pems = await createTlsCert({
        caCertPem,
        caKeyPem,
        kind,
        datacenter,
        domain,
        days: int(values, 'days') ?? 365,
        additionalDnsNames: list(values, 'additional-dnsname'),
        additionalIps: ips,
        now: new Date(),
        ...(node !== '' ? { node } : {}),
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
