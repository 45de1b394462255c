/**
 * The RPCs a client agent makes to servers (any server; a follower forwards writes to the
 * leader itself). Bodies are msgpack over @trellis/rpc. Each method's body and answer are
 * typed here and checked by the server, which never trusts a client's body.
 *
 * - `Client.HTTP`: an HTTP API request (everything but /v1/agent/* and /v1/event/*, which the
 *   client answers itself) executed by the server's own HTTP layer; the answer's status,
 *   headers and body come back byte for byte, so a client agent answers exactly as a server
 *   would (blocking queries park on the server).
 * - `Client.NodeState`: the node's row, services and checks (anti-entropy's full sync).
 * - `Client.Register` / `Client.Deregister`: catalog writes for the client's own node.
 * - `Client.NodeChecks`: a blocking query on a node's checks (alias checks of other nodes).
 * - `Client.DNS`: a DNS query packet answered by the server's DNS handler (its replica, its
 *   recursors); the answer packet comes back as it is.
 * - `Client.ConnectSign`: a CSR (PEM) for a service leaf certificate, signed by the server's
 *   CA from its replica (the private key never leaves the client).
 */
import type {
  DeregisterRequest,
  HealthCheck,
  Node,
  RegisterRequest,
  Service,
} from '@trellis/state';

export const CLIENT_RPC = {
  http: 'Client.HTTP',
  nodeState: 'Client.NodeState',
  register: 'Client.Register',
  deregister: 'Client.Deregister',
  nodeChecks: 'Client.NodeChecks',
  dns: 'Client.DNS',
  connectSign: 'Client.ConnectSign',
} as const;

/** Largest CSR a client may send to be signed (PEM). */
export const MAX_CSR_BYTES = 16 * 1024;

export interface ForwardedRequest {
  readonly method: string;
  /** Path and query, as received. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}

export interface ForwardedAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}

export interface NodeStateReply {
  readonly node: Node | null;
  readonly services: readonly Service[];
  readonly checks: readonly HealthCheck[];
}

export interface NodeChecksRequest {
  readonly node: string;
  readonly index: number;
  /** Milliseconds the server may park the query. */
  readonly waitMs: number;
}

export interface NodeChecksReply {
  readonly index: number;
  readonly exists: boolean;
  readonly checks: readonly HealthCheck[];
}

export type RegisterBody = { readonly req: RegisterRequest };
export type DeregisterBody = { readonly req: DeregisterRequest };

/** Request headers forwarded with an HTTP request (the rest are the hop's own). */
export const FORWARDED_REQUEST_HEADERS = [
  'content-type',
  'x-consul-token',
  'authorization',
] as const;

/**
 * The node of the client agent a forwarded request came through: what "this agent's node"
 * means to the endpoints that default to it (a session's Node), as on Consul, where the
 * client agent fills it in before its RPC.
 */
export const AGENT_NODE_HEADER = 'x-trellis-agent-node';

/** Largest body forwarded (the server's own endpoint limits apply after this). */
export const MAX_FORWARDED_BODY = 6 * 1024 * 1024;
/** Longest a forwarded blocking query may be held: Consul's 10 min cap plus its jitter. */
export const MAX_FORWARD_MS = 10 * 60_000 + (10 * 60_000) / 16 + 5_000;
/** Longest a `Client.NodeChecks` query parks on the server. */
export const MAX_NODE_CHECKS_WAIT_MS = 5 * 60_000;

export interface DnsRequest {
  readonly query: Uint8Array;
  readonly transport: 'udp' | 'tcp';
}

export interface DnsReply {
  /** null: the query is dropped (not answerable, e.g. garbage without a header). */
  readonly answer: Uint8Array | null;
}

/** Largest DNS message (TCP's two-byte length). */
export const MAX_DNS_MESSAGE = 65_535;
