/**
 * /v1/agent — the endpoints about the agent a request reaches (Consul's agent_endpoint.go):
 * its services and checks (local state, synced to the catalog by anti-entropy), TTL check
 * updates, maintenance mode, local service health, join, force-leave. They are answered by
 * this agent and never forwarded.
 */
import type { CheckStatus } from '@trellis/state';
import type { AgentApi } from './backend.js';
import { compileQueryFilter, goMap } from './catalog.js';
import { empty, json, type Answer, type Ctx } from './context.js';
import type { Endpoint } from './endpoints.js';
import { HttpError, badRequest } from './errors.js';
import { readBody } from './request.js';
import { parseJsonObject, qget, qhas } from './wire.js';
import {
  LocalAgentError,
  aggregateStatus,
  type AggregatedStatus,
  type LocalAgent,
} from '../local/agent.js';
import { checkDefinitionMap } from '../local/anti-entropy.js';
import type { LocalCheckEntry } from '../local/state.js';
import type { LocalService } from '../local/types.js';
import { parseCheckDefinitionBody, parseServiceDefinitionBody } from '../local/definition.js';
import { formatGoDuration } from './duration.js';

/** Largest service or check definition read (bytes); Consul sets none. */
export const AGENT_MAX_BODY_BYTES = 1024 * 1024;
/** Largest output a TTL update carries (Consul truncates to the check's OutputMaxSize). */
const MAX_TTL_NOTE = 64 * 1024;

function local(ctx: Ctx): LocalAgent {
  const l = ctx.agent.local;
  if (l === undefined) throw new HttpError(500, 'this agent keeps no local services');
  return l;
}

/** The rest of the path after `prefix` (decoded), or a 400 when it is empty. */
function arg(ctx: Ctx, prefix: string, missing: string): string {
  const rest = ctx.path.slice(prefix.length);
  if (rest === '') throw badRequest(missing);
  return rest;
}

/** Runs `fn`, turning the local agent's refusals into their HTTP status and text. */
function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof LocalAgentError) throw new HttpError(e.status, e.message);
    throw e;
  }
}

// ---------------------------------------------------------------- JSON shapes

/** api.AgentService as Consul's /v1/agent/services lists it. */
export function agentServiceJson(s: LocalService, dc: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (s.Kind !== '') out.Kind = s.Kind;
  out.ID = s.ID;
  out.Service = s.Service;
  out.Tags = [...s.Tags];
  out.Meta = goMap({ ...s.Meta });
  out.Port = s.Port;
  out.Address = s.Address;
  if (Object.keys(s.TaggedAddresses).length > 0)
    out.TaggedAddresses = goMap({ ...s.TaggedAddresses });
  out.Weights = { Passing: s.Weights.Passing, Warning: s.Weights.Warning };
  out.EnableTagOverride = s.EnableTagOverride;
  if (s.Kind === 'connect-proxy') {
    out.Proxy = {
      DestinationServiceName: s.Proxy.DestinationServiceName,
      DestinationServiceID: s.Proxy.DestinationServiceID,
      LocalServiceAddress: s.Proxy.LocalServiceAddress,
      LocalServicePort: s.Proxy.LocalServicePort,
      Config: s.Proxy.Config,
      Upstreams: s.Proxy.Upstreams.map((u) => ({ ...u })),
      MeshGateway: {},
      Expose: {},
    };
  }
  if (s.Connect.Native) out.Connect = { Native: true };
  out.Datacenter = dc;
  return out;
}

/** structs.HealthCheck as /v1/agent/checks lists it (indexes are 0 for local state). */
export function agentCheckJson(
  node: string,
  c: LocalCheckEntry,
  svc: LocalService | undefined,
): Record<string, unknown> {
  return {
    Node: node,
    CheckID: c.def.CheckID,
    Name: c.def.Name,
    Status: c.state.Status,
    Notes: c.def.Notes,
    Output: c.state.Output,
    ServiceID: c.def.ServiceID,
    ServiceName: svc?.Service ?? '',
    ServiceTags: svc ? [...svc.Tags] : [],
    Type: c.def.kind === 'ttl' && c.def.TTL === 0 ? '' : c.def.kind,
    Interval: c.def.Interval > 0 ? formatGoDuration(c.def.Interval) : '',
    Timeout:
      c.def.kind !== 'ttl' && c.def.kind !== 'alias' && c.def.Timeout > 0
        ? formatGoDuration(c.def.Timeout)
        : '',
    ExposedPort: 0,
    Definition: checkDefinitionMap(c.def),
    CreateIndex: 0,
    ModifyIndex: 0,
  };
}

function filtered<T extends Record<string, unknown>>(ctx: Ctx, items: readonly T[]): T[] {
  const keep = compileQueryFilter(ctx.query, undefined);
  return keep === undefined ? [...items] : items.filter((i) => keep(i));
}

// ---------------------------------------------------------------- services

function services(ctx: Ctx): Answer {
  const l = local(ctx);
  const list = l.services().map((s) => agentServiceJson(s, ctx.agent.datacenter));
  const out: Record<string, unknown> = {};
  for (const s of filtered(ctx, list)) out[s.ID as string] = s;
  return json(goMap(out));
}

function service(ctx: Ctx): Answer {
  const id = arg(ctx, '/v1/agent/service/', 'Missing service ID');
  const s = local(ctx).service(id);
  if (s === undefined) throw new HttpError(404, `unknown service ID: ${id}`);
  return json(agentServiceJson(s, ctx.agent.datacenter));
}

async function serviceRegister(ctx: Ctx): Promise<Answer> {
  const l = local(ctx);
  const raw = await readBody(ctx.request.raw, AGENT_MAX_BODY_BYTES);
  const replace = replaceChecks(ctx);
  const parsed = parseServiceDefinitionBody(raw, l.definitionContext());
  wrap(() => {
    l.addService({ service: parsed.service, checks: parsed.checks }, replace);
    if (parsed.sidecar) l.addService(parsed.sidecar, replace);
  });
  return empty();
}

/** `?replace-existing-checks`: present and empty, or a true value (Go's ParseBool). */
function replaceChecks(ctx: Ctx): boolean {
  if (!qhas(ctx.query, 'replace-existing-checks')) return false;
  const v = qget(ctx.query, 'replace-existing-checks');
  return v === '' || parseGoBool(v) === true;
}

function serviceDeregister(ctx: Ctx): Answer {
  const id = arg(ctx, '/v1/agent/service/deregister/', 'Missing service ID');
  const l = local(ctx);
  if (l.service(id) === undefined) {
    throw new HttpError(
      404,
      `Unknown service ID "${id}". Ensure that the service ID is passed, not the service name.`,
    );
  }
  l.removeService(id);
  // A sidecar registered with its service goes with it (Consul's sidecar cleanup).
  const sidecar = `${id}-sidecar-proxy`;
  const sc = l.service(sidecar);
  if (sc !== undefined && sc.Proxy.DestinationServiceID === id) l.removeService(sidecar);
  return empty();
}

function maintenanceArgs(ctx: Ctx): { enable: boolean; reason: string } {
  if (!qhas(ctx.query, 'enable')) throw badRequest('Missing value for enable');
  const raw = qget(ctx.query, 'enable');
  const v = parseGoBool(raw);
  if (v === undefined) throw badRequest(`Invalid value for enable: "${raw}"`);
  return { enable: v, reason: qget(ctx.query, 'reason') };
}

/** Go's strconv.ParseBool. */
function parseGoBool(s: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  return undefined;
}

function serviceMaintenance(ctx: Ctx): Answer {
  const id = arg(ctx, '/v1/agent/service/maintenance/', 'Missing service ID');
  const { enable, reason } = maintenanceArgs(ctx);
  const l = local(ctx);
  wrap(() => {
    if (l.service(id) === undefined) throw new HttpError(404, `Unknown service ID "${id}"`);
    if (enable) l.enableServiceMaintenance(id, reason);
    else l.disableServiceMaintenance(id);
  });
  return empty();
}

function nodeMaintenance(ctx: Ctx): Answer {
  const { enable, reason } = maintenanceArgs(ctx);
  const l = local(ctx);
  if (enable) l.enableNodeMaintenance(reason);
  else l.disableNodeMaintenance();
  return empty();
}

// ---------------------------------------------------------------- checks

function checks(ctx: Ctx): Answer {
  const l = local(ctx);
  const list = l
    .checks()
    .map((c) =>
      agentCheckJson(
        ctx.agent.nodeName,
        c,
        c.def.ServiceID === '' ? undefined : l.service(c.def.ServiceID),
      ),
    );
  const out: Record<string, unknown> = {};
  for (const c of filtered(ctx, list)) out[c.CheckID as string] = c;
  return json(goMap(out));
}

async function checkRegister(ctx: Ctx): Promise<Answer> {
  const l = local(ctx);
  const raw = await readBody(ctx.request.raw, AGENT_MAX_BODY_BYTES);
  const def = parseCheckDefinitionBody(raw, l.checkDefinitionContext());
  wrap(() => l.addCheck(def));
  return empty();
}

function checkDeregister(ctx: Ctx): Answer {
  const id = arg(ctx, '/v1/agent/check/deregister/', 'Missing check ID');
  const l = local(ctx);
  if (l.state.check(id) === undefined) {
    throw new HttpError(
      404,
      `Unknown check ID "${id}". Ensure that the check ID is passed, not the check name.`,
    );
  }
  l.removeCheck(id);
  return empty();
}

function ttl(status: CheckStatus, prefix: string) {
  return (ctx: Ctx): Answer => {
    const id = arg(ctx, prefix, 'Missing check ID');
    const note = qget(ctx.query, 'note');
    if (note.length > MAX_TTL_NOTE) throw badRequest(`note: at most ${MAX_TTL_NOTE} bytes`);
    wrap(() => local(ctx).updateTtl(id, status, note));
    return empty();
  };
}

async function checkUpdate(ctx: Ctx): Promise<Answer> {
  const id = arg(ctx, '/v1/agent/check/update/', 'Missing check ID');
  const raw = await readBody(ctx.request.raw, AGENT_MAX_BODY_BYTES);
  let o: Readonly<Record<string, unknown>>;
  try {
    o = parseJsonObject(raw);
  } catch (e) {
    throw badRequest(`Request decode failed: ${(e as Error).message}`);
  }
  const get = (name: string): unknown => {
    for (const [k, v] of Object.entries(o)) if (k.toLowerCase() === name.toLowerCase()) return v;
    return undefined;
  };
  const status = get('Status');
  const output = get('Output') ?? '';
  if (typeof status !== 'string' || typeof output !== 'string') {
    throw badRequest('Request decode failed: Status and Output must be strings');
  }
  if (status !== 'passing' && status !== 'warning' && status !== 'critical') {
    throw badRequest(`Invalid check status: '${status}'`);
  }
  wrap(() => local(ctx).updateTtl(id, status, output));
  return empty();
}

// ---------------------------------------------------------------- local service health

const HEALTH_CODE: Readonly<Record<AggregatedStatus, number>> = {
  passing: 200,
  warning: 429,
  critical: 503,
  maintenance: 503,
};

function serviceInfo(
  ctx: Ctx,
  l: LocalAgent,
  id: string,
): { status: AggregatedStatus; value: Record<string, unknown> } | undefined {
  const h = l.serviceHealth(id);
  const s = l.service(id);
  if (h === undefined || s === undefined) return undefined;
  return {
    status: h.status,
    value: {
      AggregatedStatus: h.status,
      Service: agentServiceJson(s, ctx.agent.datacenter),
      Checks: h.checks.map((c) =>
        agentCheckJson(ctx.agent.nodeName, c, c.def.ServiceID === '' ? undefined : s),
      ),
    },
  };
}

function healthById(ctx: Ctx): Answer {
  const id = arg(ctx, '/v1/agent/health/service/id/', 'Missing serviceID');
  const text = qget(ctx.query, 'format') === 'text';
  const info = serviceInfo(ctx, local(ctx), id);
  if (info === undefined) {
    const reason = `ServiceId ${id} not found`;
    if (text) throw new HttpError(404, reason);
    return json({ AggregatedStatus: 'critical', Service: null, Checks: null }, 404);
  }
  const code = HEALTH_CODE[info.status];
  if (text)
    return {
      kind: 'bytes',
      body: Buffer.from(info.status),
      contentType: 'text/plain',
      status: code,
    };
  return json(info.value, code);
}

function healthByName(ctx: Ctx): Answer {
  const name = arg(ctx, '/v1/agent/health/service/name/', 'Missing service Name');
  const text = qget(ctx.query, 'format') === 'text';
  const l = local(ctx);
  const infos = l
    .services()
    .filter((s) => s.Service === name)
    .map((s) => serviceInfo(ctx, l, s.ID))
    .filter((i) => i !== undefined);
  if (infos.length === 0) {
    const reason = `ServiceName ${name} Not Found`;
    if (text) throw new HttpError(404, reason);
    return json([], 404);
  }
  const status = aggregateStatus(
    infos.map((i) => ({
      CheckID: i.status === 'maintenance' ? '_node_maintenance' : '',
      Status: i.status === 'maintenance' ? 'critical' : i.status,
    })),
  );
  const code = HEALTH_CODE[status];
  if (text)
    return { kind: 'bytes', body: Buffer.from(status), contentType: 'text/plain', status: code };
  return json(
    infos.map((i) => i.value),
    code,
  );
}

// ---------------------------------------------------------------- membership

async function join(ctx: Ctx): Promise<Answer> {
  const addr = arg(ctx, '/v1/agent/join/', 'Missing address');
  if (qhas(ctx.query, 'wan'))
    throw new HttpError(500, 'WAN join is not supported: Trellis has no WAN pool yet');
  const n = await joinOrFail(ctx.agent, addr);
  if (n === 0) throw new HttpError(500, `Failed to join ${addr}: no member answered`);
  return empty();
}

async function joinOrFail(agent: AgentApi, addr: string): Promise<number> {
  try {
    return await agent.join([addr]);
  } catch (e) {
    throw new HttpError(500, `Failed to join ${addr}: ${(e as Error).message}`);
  }
}

async function forceLeave(ctx: Ctx): Promise<Answer> {
  const node = arg(ctx, '/v1/agent/force-leave/', 'Missing node name');
  const done = await ctx.agent.forceLeave(node);
  if (!done) {
    const m = ctx.agent.members().find((x) => x.Name === node);
    if (m === undefined) throw new HttpError(500, `agent: No node found with name '${node}'`);
    if (m.Status === 1)
      throw new HttpError(
        500,
        `agent: node '${node}' is alive; only failed members can be forced to leave`,
      );
  }
  return empty();
}

/** Consul's agent/http_register.go entries for the local agent endpoints. */
export const AGENT_ENDPOINTS: readonly Endpoint[] = [
  { path: '/v1/agent/services', methods: ['GET'], handler: services },
  {
    path: '/v1/agent/service/register',
    methods: ['PUT'],
    readsBody: true,
    handler: serviceRegister,
  },
  {
    path: '/v1/agent/service/deregister/',
    methods: ['PUT'],
    prefix: true,
    handler: serviceDeregister,
  },
  {
    path: '/v1/agent/service/maintenance/',
    methods: ['PUT'],
    prefix: true,
    handler: serviceMaintenance,
  },
  { path: '/v1/agent/service/', methods: ['GET'], prefix: true, handler: service },
  { path: '/v1/agent/maintenance', methods: ['PUT'], handler: nodeMaintenance },
  { path: '/v1/agent/checks', methods: ['GET'], handler: checks },
  { path: '/v1/agent/check/register', methods: ['PUT'], readsBody: true, handler: checkRegister },
  { path: '/v1/agent/check/deregister/', methods: ['PUT'], prefix: true, handler: checkDeregister },
  {
    path: '/v1/agent/check/pass/',
    methods: ['PUT'],
    prefix: true,
    handler: ttl('passing', '/v1/agent/check/pass/'),
  },
  {
    path: '/v1/agent/check/warn/',
    methods: ['PUT'],
    prefix: true,
    handler: ttl('warning', '/v1/agent/check/warn/'),
  },
  {
    path: '/v1/agent/check/fail/',
    methods: ['PUT'],
    prefix: true,
    handler: ttl('critical', '/v1/agent/check/fail/'),
  },
  {
    path: '/v1/agent/check/update/',
    methods: ['PUT'],
    readsBody: true,
    prefix: true,
    handler: checkUpdate,
  },
  { path: '/v1/agent/health/service/id/', methods: ['GET'], prefix: true, handler: healthById },
  { path: '/v1/agent/health/service/name/', methods: ['GET'], prefix: true, handler: healthByName },
  { path: '/v1/agent/join/', methods: ['PUT'], prefix: true, handler: join },
  { path: '/v1/agent/force-leave/', methods: ['PUT'], prefix: true, handler: forceLeave },
];
