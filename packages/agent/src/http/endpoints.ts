/**
 * The non-KV endpoints: /v1/status (status_endpoint.go), /v1/agent self/members/leave
 * (agent_endpoint.go), /v1/operator raft and autopilot (operator_endpoint.go) and /v1/snapshot
 * (snapshot_endpoint.go). Each follows Consul's parsing order: shared query options first,
 * endpoint arguments next, then the datacenter check where Consul would forward the RPC.
 */
import { empty, json, setMeta, type Answer, type Ctx } from './context.js';
import { badRequest, methodNotAllowed } from './errors.js';
import { checkDatacenter, parseQueryOptions, readBody } from './request.js';
import { qget, qhas } from './wire.js';

export interface Endpoint {
  readonly path: string;
  /** Consul's registered methods (OPTIONS is answered for every endpoint). */
  readonly methods: readonly string[];
  /** True when the handler reads the request body itself (others refuse large ones). */
  readonly readsBody?: boolean;
  /** Serve every path under `path` (which ends in "/"), e.g. /v1/catalog/service/. */
  readonly prefix?: boolean;
  readonly handler: (ctx: Ctx) => Answer | Promise<Answer>;
}

// ---------------------------------------------------------------- status

function statusLeader(ctx: Ctx): Answer {
  checkDatacenter(ctx.query, ctx.backend);
  // "" when no leader is known, as Consul answers (200, JSON string).
  return json(ctx.backend.leaderAddress());
}

function statusPeers(ctx: Ctx): Answer {
  checkDatacenter(ctx.query, ctx.backend);
  return json(ctx.backend.peerAddresses());
}

// ---------------------------------------------------------------- agent

function agentSelf(ctx: Ctx): Answer {
  return json(ctx.agent.self());
}

function agentMembers(ctx: Ctx): Answer {
  // Trellis runs no WAN gossip pool yet: ?wan lists no members (Consul would list the WAN
  // pool of a server). The LAN list is the backend's, this agent included.
  if (qhas(ctx.query, 'wan')) return json([]);
  return json(ctx.agent.members());
}

async function agentLeave(ctx: Ctx): Promise<Answer> {
  await ctx.agent.leave();
  return empty();
}

// ---------------------------------------------------------------- operator

async function raftConfiguration(ctx: Ctx): Promise<Answer> {
  // Consul parses the full query options here (stale allowed) but sets no X-Consul-Index.
  parseQueryOptions(ctx.query, ctx.limits);
  checkDatacenter(ctx.query, ctx.backend);
  const cfg = await ctx.backend.raftConfiguration();
  return json({ Servers: cfg.Servers, Index: cfg.Index });
}

async function raftPeerDelete(ctx: Ctx): Promise<Answer> {
  const q = ctx.query;
  const hasId = qhas(q, 'id');
  const hasAddress = qhas(q, 'address');
  if (!hasId && !hasAddress) {
    throw badRequest(
      "Must specify either ?id with the server's ID or ?address with IP:port of peer to remove",
    );
  }
  if (hasId && hasAddress) throw badRequest('Must specify only one of ?id or ?address');
  checkDatacenter(q, ctx.backend);
  await ctx.backend.removeRaftPeer(hasId ? { id: qget(q, 'id') } : { address: qget(q, 'address') });
  return empty();
}

async function transferLeader(ctx: Ctx): Promise<Answer> {
  checkDatacenter(ctx.query, ctx.backend);
  const id = qget(ctx.query, 'id');
  await ctx.backend.transferLeader(id === '' ? undefined : id);
  return json({ Success: true });
}

async function autopilotHealth(ctx: Ctx): Promise<Answer> {
  checkDatacenter(ctx.query, ctx.backend);
  const h = await ctx.backend.autopilotHealth();
  // Consul answers 429 (with the same body) when the cluster is unhealthy, so a plain HTTP
  // health check can use the status alone.
  return json(
    { Healthy: h.Healthy, FailureTolerance: h.FailureTolerance, Servers: h.Servers },
    h.Healthy ? 200 : 429,
  );
}

// ---------------------------------------------------------------- snapshot

/** gzip's magic; Go's http.DetectContentType names such a body application/x-gzip. */
function sniff(b: Uint8Array): string {
  return b.length >= 3 && b[0] === 0x1f && b[1] === 0x8b && b[2] === 0x08
    ? 'application/x-gzip'
    : 'application/octet-stream';
}

async function snapshot(ctx: Ctx): Promise<Answer> {
  // Consul's snapshot endpoint reads only ?dc and ?stale (not ?consistent, ?wait or ?index).
  const mode = qhas(ctx.query, 'stale') ? 'stale' : 'default';
  switch (ctx.method) {
    case 'GET': {
      checkDatacenter(ctx.query, ctx.backend);
      const meta = await ctx.backend.readBarrier(mode, ctx.signal);
      const snap = await ctx.backend.snapshotSave(mode);
      setMeta(ctx, snap.index, meta, mode);
      // Consul sets no Content-Type; Go sniffs the archive's first bytes.
      return { kind: 'bytes', body: snap.archive, contentType: sniff(snap.archive) };
    }
    case 'PUT': {
      const archive = await readBody(ctx.request.raw, ctx.limits.snapshotMaxBytes);
      checkDatacenter(ctx.query, ctx.backend);
      await ctx.backend.snapshotRestore(archive);
      return empty();
    }
    default:
      throw methodNotAllowed(ctx.method, ['GET', 'PUT']);
  }
}

/** Consul's agent/http_register.go entries for the endpoints this layer serves. */
export const ENDPOINTS: readonly Endpoint[] = [
  { path: '/v1/status/leader', methods: ['GET'], handler: statusLeader },
  { path: '/v1/status/peers', methods: ['GET'], handler: statusPeers },
  { path: '/v1/agent/self', methods: ['GET'], handler: agentSelf },
  { path: '/v1/agent/members', methods: ['GET'], handler: agentMembers },
  { path: '/v1/agent/leave', methods: ['PUT'], handler: agentLeave },
  { path: '/v1/operator/raft/configuration', methods: ['GET'], handler: raftConfiguration },
  { path: '/v1/operator/raft/peer', methods: ['DELETE'], handler: raftPeerDelete },
  { path: '/v1/operator/raft/transfer-leader', methods: ['POST'], handler: transferLeader },
  { path: '/v1/operator/autopilot/health', methods: ['GET'], handler: autopilotHealth },
  { path: '/v1/snapshot', methods: ['GET', 'PUT'], readsBody: true, handler: snapshot },
];
