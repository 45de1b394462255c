/**
 * `trellis connect proxy`: runs the sidecar proxy (@trellis/proxy) in the foreground, as
 * `consul connect proxy -sidecar-for=<id>` does, configured over the local agent's proxy
 * stream (Consul's gRPC port, 8502) instead of Envoy's xDS.
 *
 * `-sidecar-for=<service ID>` finds the proxy's own service ID the way Consul does
 * (LookupProxyIDForSidecar): the one `connect-proxy` service registered on the agent whose
 * Proxy.DestinationServiceID is the given ID, read from `GET /v1/agent/services` through the
 * HTTP API flags; `-proxy-id` names it directly. SIGINT/SIGTERM closes the proxy (listeners
 * and connections) and exits 0; a second signal exits 1 at once.
 *
 * `-gateway=ingress` runs an ingress gateway instead (as `consul connect envoy
 * -gateway=ingress`): the proxy ID is `-proxy-id`, else `-service`; the `ingress-gateway`
 * service must be registered on the agent, or `-register` registers it first (PUT
 * /v1/agent/service/register, Kind `ingress-gateway`, Name `-service`, Address and Port from
 * `-address`). Its listeners come from the `ingress-gateway` config entry of that name.
 */
import { createLogger, type LogLevel } from '@trellis/agent';
import { Proxy } from '@trellis/proxy';
import type { ApiClient } from '../api/index.js';
import type { Command, Io } from '../command.js';
import { FlagError, parseFlags, type FlagSpec } from '../flags.js';
import { CLIENT_FLAGS, bool, clientOrReport, int, str, usage } from './shared/http-flags.js';
import { fail } from './shared/output.js';

/** Where the agent's proxy stream listens unless told (Consul's default gRPC address). */
export const DEFAULT_GRPC_ADDR = '127.0.0.1:8502';
export const GRPC_ADDR_ENV = ['TRELLIS_GRPC_ADDR', 'CONSUL_GRPC_ADDR'] as const;
const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error'];

const GATEWAY_KINDS = ['mesh', 'terminating', 'ingress'] as const;

const SPECS: readonly FlagSpec[] = [
  {
    name: 'sidecar-for',
    kind: 'string',
    usage:
      'The ID of a service instance on the local agent that this proxy should become a ' +
      'sidecar for. It requires that the proxy service is registered with the agent as a ' +
      'connect-proxy with Proxy.DestinationServiceID set to this value. If more than one such ' +
      'proxy is registered, it will fail and instead -proxy-id must be given.',
  },
  {
    name: 'proxy-id',
    kind: 'string',
    usage: 'The proxy service ID on the local agent (instead of -sidecar-for).',
  },
  {
    name: 'gateway',
    kind: 'string',
    usage:
      'The type of gateway to run. Only "ingress" is supported: the proxy serves the ' +
      'listeners of the ingress-gateway config entry named after its service.',
  },
  {
    name: 'register',
    kind: 'bool',
    usage:
      'Register the gateway service (Kind ingress-gateway, named by -service) on the local ' +
      'agent before starting. Requires -gateway and -service.',
  },
  {
    name: 'service',
    kind: 'string',
    usage:
      'The gateway service name: the name registered with -register, and the proxy ID ' +
      'unless -proxy-id is given.',
  },
  {
    name: 'address',
    kind: 'string',
    usage:
      'With -register: the address (host or host:port) of the gateway service registration. ' +
      'Ingress listeners bind this host; without it they bind 0.0.0.0.',
  },
  {
    name: 'grpc-addr',
    kind: 'string',
    usage:
      "The address of the agent's proxy configuration stream: host:port or http://host:port. " +
      'Can also be set with TRELLIS_GRPC_ADDR or CONSUL_GRPC_ADDR.',
    default: DEFAULT_GRPC_ADDR,
  },
  {
    name: 'metrics-port',
    kind: 'int',
    min: 0,
    max: 65535,
    usage:
      'Serve Prometheus metrics at http://<metrics-addr>:<port>/metrics (0: any free port). ' +
      'Off unless given.',
  },
  {
    name: 'metrics-addr',
    kind: 'string',
    usage: 'The address the metrics listener binds.',
    default: '127.0.0.1',
  },
  {
    name: 'log-level',
    kind: 'string',
    usage: 'Log level: trace, debug, info, warn or error.',
    default: 'info',
  },
  { name: 'log-json', kind: 'bool', usage: 'Log in JSON lines instead of the readable format.' },
  {
    name: 'access-logs',
    kind: 'bool',
    usage: 'Log every request (HTTP) and connection (TCP) at info level.',
  },
];

const TEXT = `
Usage: trellis connect proxy [options]

  Starts a Connect sidecar proxy for a service registered on the local agent. The proxy
  opens the agent's proxy configuration stream, serves the service's public listener
  (mutual TLS, intentions enforced per connection and per HTTP request) and one local
  listener per upstream, and applies every new configuration without dropping
  connections. It runs until an interrupt is received.

    $ trellis connect proxy -sidecar-for=web

  With -gateway=ingress it runs an ingress gateway for an ingress-gateway service registered
  on the agent (or registered by -register): plain HTTP and TCP listeners from the
  ingress-gateway config entry, routed into the mesh over mutual TLS with the gateway's
  identity.

    $ trellis connect proxy -gateway=ingress -register -service=ingress -address=127.0.0.1
`;

/** `host` or `host:port` (IPv6 in brackets) of -address. Throws FlagError. */
export function parseGatewayAddress(raw: string): { host: string; port?: number } {
  const v = raw.trim();
  const m =
    /^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+)(?::(\d{1,5}))?$/.exec(v) ?? /^([0-9a-fA-F:]+)$/.exec(v);
  if (m === null) {
    throw new FlagError(`invalid value "${raw}" for flag -address: expected host or host:port`);
  }
  const host = (m[1] ?? '').replace(/^\[(.*)\]$/, '$1');
  if (m[2] === undefined) return { host };
  const port = Number(m[2]);
  if (port < 1 || port > 65535) {
    throw new FlagError(`invalid value "${raw}" for flag -address: port must be 1..65535`);
  }
  return { host, port };
}

/** The stream address as `host:port`. Throws FlagError for what cannot be one. */
export function resolveGrpcAddr(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): string {
  let raw = flag !== undefined && flag !== '' ? flag : undefined;
  for (const n of GRPC_ADDR_ENV) raw ??= env[n] !== '' ? env[n] : undefined;
  let addr = (raw ?? DEFAULT_GRPC_ADDR).trim();
  if (addr.startsWith('http://')) addr = addr.slice('http://'.length);
  else if (addr.includes('://')) {
    throw new FlagError(
      `invalid value "${addr}" for flag -grpc-addr: only plain http://host:port is supported`,
    );
  }
  addr = addr.replace(/\/+$/, '');
  if (!/^(\[[0-9a-fA-F:.]+\]|[^:/\s]+):\d{1,5}$/.test(addr)) {
    throw new FlagError(`invalid value "${addr}" for flag -grpc-addr: expected host:port`);
  }
  return addr;
}

/** Consul's LookupProxyIDForSidecar over GET /v1/agent/services. */
export async function lookupProxyIdForSidecar(
  client: ApiClient,
  serviceId: string,
): Promise<string> {
  const { value } = await client.json<Record<string, unknown>>('GET', '/v1/agent/services');
  const ids: string[] = [];
  for (const raw of Object.values(value ?? {})) {
    if (typeof raw !== 'object' || raw === null) continue;
    const s = raw as { ID?: unknown; Kind?: unknown; Proxy?: { DestinationServiceID?: unknown } };
    if (s.Kind === 'connect-proxy' && s.Proxy?.DestinationServiceID === serviceId) {
      if (typeof s.ID === 'string') ids.push(s.ID);
    }
  }
  ids.sort();
  if (ids.length === 0) throw new Error(`No sidecar proxy registered for ${serviceId}`);
  if (ids.length > 1) {
    throw new Error(
      `More than one sidecar proxy registered for ${serviceId}.\n` +
        `    Start proxy with -proxy-id and one of the following IDs: ${ids.join(', ')}`,
    );
  }
  return ids[0] as string;
}

function banner(rows: ReadonlyArray<[string, string]>): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return [
    '==> Trellis Connect proxy starting...',
    ...rows.map(([k, v]) => `${k.padStart(width + 4)}: ${v}`),
    '',
    '==> Log data will now stream in as it occurs:',
    '',
    '',
  ].join('\n');
}

/**
 * The command's body; `signal` (tests) stops the proxy like SIGINT does. Resolves with the
 * exit code once the proxy is closed.
 */
export async function runConnectProxy(
  args: readonly string[],
  io: Io,
  o: {
    readonly signal?: AbortSignal;
    readonly env?: Readonly<Record<string, string | undefined>>;
  } = {},
): Promise<number> {
  const env = o.env ?? process.env;
  const parsed = parseFlags([...CLIENT_FLAGS, ...SPECS], args);
  if (parsed.args.length > 0) throw new FlagError(`unexpected arguments: ${parsed.args.join(' ')}`);
  const v = parsed.values;
  const sidecarFor = str(v, 'sidecar-for') ?? '';
  let proxyId = str(v, 'proxy-id') ?? '';
  const gateway = (str(v, 'gateway') ?? '').toLowerCase();
  const service = str(v, 'service') ?? '';
  const register = bool(v, 'register');
  const address = str(v, 'address');
  if (gateway !== '') {
    if (!(GATEWAY_KINDS as readonly string[]).includes(gateway)) {
      return fail(io, '-gateway must be one of: terminating, mesh, or ingress');
    }
    if (gateway !== 'ingress') {
      return fail(io, `${gateway} gateways are not supported; only -gateway=ingress`);
    }
    if (sidecarFor !== '') return fail(io, '-sidecar-for and -gateway are mutually exclusive');
    if (register && service === '') return fail(io, '-register requires -service');
    if (proxyId === '') proxyId = service;
    if (proxyId === '') return fail(io, '-gateway=ingress requires -service or -proxy-id');
  } else {
    if (register) return fail(io, 'Auto-Registration can only be used for gateways');
    if (sidecarFor === '' && proxyId === '') {
      return fail(io, 'One of -sidecar-for or -proxy-id must be specified');
    }
    if (sidecarFor !== '' && proxyId !== '') {
      return fail(io, '-sidecar-for and -proxy-id are mutually exclusive');
    }
  }
  if (address !== undefined && !register) return fail(io, '-address requires -register');
  const gatewayAddr = address !== undefined ? parseGatewayAddress(address) : undefined;
  const level = (str(v, 'log-level') ?? 'info').toLowerCase() as LogLevel;
  if (!LOG_LEVELS.includes(level)) {
    return fail(
      io,
      `Invalid log level: "${str(v, 'log-level')}". Valid log levels are: ${LOG_LEVELS.join(', ')}`,
    );
  }
  const agentAddr = resolveGrpcAddr(str(v, 'grpc-addr'), env);
  if (sidecarFor !== '') {
    const client = clientOrReport(v, io);
    if (client === undefined) return 1;
    try {
      proxyId = await lookupProxyIdForSidecar(client, sidecarFor);
    } catch (e) {
      return fail(
        io,
        `Failed looking up sidecar proxy info for ${sidecarFor}: ${(e as Error).message}`,
      );
    }
  }
  if (register) {
    const client = clientOrReport(v, io);
    if (client === undefined) return 1;
    const registration = {
      Kind: 'ingress-gateway',
      ID: proxyId,
      Name: service,
      ...(gatewayAddr !== undefined ? { Address: gatewayAddr.host } : {}),
      ...(gatewayAddr?.port !== undefined ? { Port: gatewayAddr.port } : {}),
    };
    try {
      await client.request('PUT', '/v1/agent/service/register', {
        body: JSON.stringify(registration),
      });
    } catch (e) {
      return fail(io, `Error registering service "${service}": ${(e as Error).message}`);
    }
    io.stdout.write(`Registered service: ${service}\n`);
  }
  const logger = createLogger({
    level,
    json: bool(v, 'log-json'),
    write: (line) => io.stdout.write(line),
  });
  const metricsPort = int(v, 'metrics-port');
  const metricsHost = str(v, 'metrics-addr') ?? '127.0.0.1';
  let proxy: Proxy;
  try {
    proxy = await Proxy.start({
      agentAddr,
      proxyId,
      logger,
      ...(metricsPort !== undefined ? { metricsPort, metricsHost } : {}),
      ...(bool(v, 'access-logs') ? { accessLog: (e) => logger.info(e, 'access') } : {}),
    });
  } catch (e) {
    return fail(io, `==> Error starting proxy: ${(e as Error).message}`);
  }
  const rows: Array<[string, string]> = [['Configuration mode', `Agent stream (${agentAddr})`]];
  if (sidecarFor !== '') rows.push(['Sidecar for ID', sidecarFor]);
  if (gateway !== '') rows.push(['Gateway', gateway]);
  rows.push(['Proxy ID', proxyId]);
  const m = proxy.metricsAddress();
  if (m !== null) rows.push(['Metrics', `http://${metricsHost}:${m.port}/metrics`]);
  io.stdout.write(banner(rows));

  let signals = 0;
  const stop = (why: string): void => {
    signals++;
    if (signals > 1) {
      io.stderr.write(`==> Caught second signal ${why}. Exiting\n`);
      process.exit(1);
    }
    io.stdout.write(`==> Caught signal: ${why}\n`);
    void proxy.close();
  };
  const onSignal = (sig: NodeJS.Signals): void => stop(sig);
  const onAbort = (): void => stop('abort');
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  o.signal?.addEventListener('abort', onAbort, { once: true });
  if (o.signal?.aborted === true) onAbort();
  try {
    await proxy.closed;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    o.signal?.removeEventListener('abort', onAbort);
  }
  io.stdout.write('==> Trellis Connect proxy stopped\n');
  return 0;
}

/** Registered under `trellis connect` as its `proxy` subcommand. */
export const connectProxyCommand: Command = {
  name: 'proxy',
  synopsis: 'Runs a Connect sidecar proxy or ingress gateway',
  help: () => usage(TEXT, CLIENT_FLAGS, SPECS),
  run: (args, io) => runConnectProxy(args, io),
};
