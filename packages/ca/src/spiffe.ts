/**
 * SPIFFE IDs as Consul's Connect CA uses them (agent/connect/uri*.go):
 *
 * - trust domain `<cluster id>.consul` (the tld is fixed, independent of the DNS domain);
 * - the CA's signing ID `spiffe://<trust domain>`;
 * - services `spiffe://<td>[/ap/<partition>]/ns/<namespace>/dc/<dc>/svc/<service>`;
 * - client agents `spiffe://<td>[/ap/<partition>]/agent/client/dc/<dc>/id/<node>`.
 *
 * Parsing is strict where Consul's regular expressions are loose: any query, fragment, port
 * or user info, an empty or dot segment, a bad or non-UTF-8 percent escape, a control
 * character or an encoded `/` is refused, as is an ID over 2048 bytes (the SPIFFE limit).
 * Formatting escapes path segments as Go's net/url does, so the URIs match Consul's byte for
 * byte; `parseSpiffeId(x).uri` is that canonical form.
 */
import { CaError } from './errors.js';

export const SPIFFE_ID_MAX_LENGTH = 2048;
const TRUST_DOMAIN_MAX_LENGTH = 255;
const DEFAULT = 'default';

export interface SpiffeServiceId {
  kind: 'service';
  trustDomain: string;
  partition: string;
  namespace: string;
  datacenter: string;
  service: string;
  /** The canonical URI. */
  uri: string;
}

export interface SpiffeAgentId {
  kind: 'agent';
  trustDomain: string;
  partition: string;
  datacenter: string;
  node: string;
  uri: string;
}

export interface SpiffeSigningId {
  kind: 'signing';
  trustDomain: string;
  /** The label before the first dot of the trust domain. */
  clusterId: string;
  /** The rest of the trust domain (`consul`). */
  domain: string;
  uri: string;
}

export type SpiffeId = SpiffeServiceId | SpiffeAgentId | SpiffeSigningId;

function fail(message: string): never {
  throw new CaError('bad-spiffe-id', message);
}

function quote(s: string): string {
  return JSON.stringify(s.length > 200 ? `${s.slice(0, 200)}…` : s);
}

const TRUST_DOMAIN = /^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/;

/** Lower-cases and checks a trust domain name (letters, digits, `.`, `-`, `_`). */
export function normalizeTrustDomain(td: string): string {
  if (typeof td !== 'string' || td.length === 0) fail('the trust domain is empty');
  if (td.length > TRUST_DOMAIN_MAX_LENGTH) fail(`the trust domain is too long: ${quote(td)}`);
  const lower = td.toLowerCase();
  if (!TRUST_DOMAIN.test(lower) || lower.includes('..')) {
    fail(`invalid trust domain ${quote(td)}: use letters, digits, '.', '-' and '_'`);
  }
  return lower;
}

/** Consul's trust domain for a cluster: `<cluster id>.consul`. */
export function trustDomainFor(clusterId: string): string {
  if (typeof clusterId !== 'string' || !/^[A-Za-z0-9-]+$/.test(clusterId)) {
    throw new CaError(
      'bad-config',
      `invalid cluster id ${quote(String(clusterId))}: expected a UUID (letters, digits, '-')`,
    );
  }
  return normalizeTrustDomain(`${clusterId}.consul`);
}

// Go's url.shouldEscape(c, encodePath): unreserved characters and $&+,:;=@ stay as they are.
const UNESCAPED = /[A-Za-z0-9\-_.~$&+,:;=@]/;
// RFC 3986 pchar minus '%': what may appear unescaped in a path segment we accept.
const PCHAR = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})*$/;

function checkSegment(value: string, what: string): void {
  if (typeof value !== 'string' || value.length === 0) fail(`the ${what} is empty`);
  if (value === '.' || value === '..') fail(`the ${what} may not be ${quote(value)}`);
  if (value.includes('/')) fail(`the ${what} may not contain '/': ${quote(value)}`);
  if (/[\u0000-\u001f\u007f]/.test(value)) {
    fail(`the ${what} contains a control character: ${quote(value)}`);
  }
}

function escapeSegment(value: string, what: string): string {
  checkSegment(value, what);
  let out = '';
  for (const ch of value) {
    if (UNESCAPED.test(ch)) {
      out += ch;
    } else {
      for (const b of Buffer.from(ch, 'utf8')) {
        out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
      }
    }
  }
  return out;
}

function unescapeSegment(raw: string, what: string): string {
  if (raw.length === 0) fail(`empty ${what} segment in SPIFFE ID path`);
  if (!PCHAR.test(raw)) fail(`invalid character in the ${what} of a SPIFFE ID: ${quote(raw)}`);
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    fail(`bad percent-encoding in the ${what} of a SPIFFE ID: ${quote(raw)}`);
  }
  checkSegment(decoded, what);
  return decoded;
}

function partitionPrefix(partition: string | undefined): string {
  if (partition === undefined || partition === DEFAULT) return '';
  return `/ap/${escapeSegment(partition, 'partition')}`;
}

/** `spiffe://<td>` — the CA's own (signing) ID, the URI SAN of its roots. */
export function spiffeIdForSigning(trustDomain: string): string {
  return `spiffe://${normalizeTrustDomain(trustDomain)}`;
}

export interface ServiceIdInput {
  trustDomain: string;
  datacenter: string;
  service: string;
  /** Default `default`. */
  namespace?: string;
  /** Default `default` (then left out of the URI, as Consul). */
  partition?: string;
}

/** `spiffe://<td>/ns/<namespace>/dc/<dc>/svc/<service>`. */
export function spiffeIdForService(input: ServiceIdInput): string {
  const td = normalizeTrustDomain(input.trustDomain);
  const ns = escapeSegment(input.namespace ?? DEFAULT, 'namespace');
  const dc = escapeSegment(input.datacenter, 'datacenter');
  const svc = escapeSegment(input.service, 'service');
  return `spiffe://${td}${partitionPrefix(input.partition)}/ns/${ns}/dc/${dc}/svc/${svc}`;
}

export interface AgentIdInput {
  trustDomain: string;
  datacenter: string;
  node: string;
  partition?: string;
}

/** `spiffe://<td>/agent/client/dc/<dc>/id/<node>`. */
export function spiffeIdForAgent(input: AgentIdInput): string {
  const td = normalizeTrustDomain(input.trustDomain);
  const dc = escapeSegment(input.datacenter, 'datacenter');
  const node = escapeSegment(input.node, 'node');
  return `spiffe://${td}${partitionPrefix(input.partition)}/agent/client/dc/${dc}/id/${node}`;
}

/** Parses a SPIFFE ID of one of the three kinds above. Throws CaError('bad-spiffe-id'). */
export function parseSpiffeId(uri: string): SpiffeId {
  if (typeof uri !== 'string') fail('a SPIFFE ID must be a string');
  if (Buffer.byteLength(uri, 'utf8') > SPIFFE_ID_MAX_LENGTH) {
    fail(`SPIFFE ID is longer than ${SPIFFE_ID_MAX_LENGTH} bytes`);
  }
  const sep = uri.indexOf('://');
  if (sep < 0 || uri.slice(0, sep).toLowerCase() !== 'spiffe') {
    fail(`SPIFFE ID must have 'spiffe' scheme: ${quote(uri)}`);
  }
  const rest = uri.slice(sep + 3);
  if (/[?#]/.test(rest)) fail(`SPIFFE ID may not have a query or fragment: ${quote(uri)}`);
  const slash = rest.indexOf('/');
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash);
  if (authority.includes('@')) fail(`SPIFFE ID may not have user info: ${quote(uri)}`);
  if (authority.includes(':')) fail(`SPIFFE ID may not have a port: ${quote(uri)}`);
  if (authority.length === 0) fail(`SPIFFE ID has no trust domain: ${quote(uri)}`);
  const trustDomain = normalizeTrustDomain(authority);

  if (path === '') {
    const dot = trustDomain.indexOf('.');
    if (dot <= 0) fail(`SPIFFE signing ID must be <cluster id>.<domain>: ${quote(uri)}`);
    return {
      kind: 'signing',
      trustDomain,
      clusterId: trustDomain.slice(0, dot),
      domain: trustDomain.slice(dot + 1),
      uri: `spiffe://${trustDomain}`,
    };
  }

  const raw = path.slice(1).split('/');
  let partition = DEFAULT;
  let i = 0;
  if (raw[0] === 'ap' && raw.length > 2) {
    partition = unescapeSegment(raw[1] ?? '', 'partition');
    i = 2;
  }
  const seg = raw.slice(i);
  if (seg.length === 6 && seg[0] === 'ns' && seg[2] === 'dc' && seg[4] === 'svc') {
    const namespace = unescapeSegment(seg[1] ?? '', 'namespace');
    const datacenter = unescapeSegment(seg[3] ?? '', 'datacenter');
    const service = unescapeSegment(seg[5] ?? '', 'service');
    return {
      kind: 'service',
      trustDomain,
      partition,
      namespace,
      datacenter,
      service,
      uri: spiffeIdForService({ trustDomain, partition, namespace, datacenter, service }),
    };
  }
  if (
    seg.length === 6 &&
    seg[0] === 'agent' &&
    seg[1] === 'client' &&
    seg[2] === 'dc' &&
    seg[4] === 'id'
  ) {
    const datacenter = unescapeSegment(seg[3] ?? '', 'datacenter');
    const node = unescapeSegment(seg[5] ?? '', 'node');
    return {
      kind: 'agent',
      trustDomain,
      partition,
      datacenter,
      node,
      uri: spiffeIdForAgent({ trustDomain, partition, datacenter, node }),
    };
  }
  for (const s of raw)
    if (s.length === 0) fail(`SPIFFE ID has an empty path segment: ${quote(uri)}`);
  return fail(`SPIFFE ID is not in the expected format: ${quote(uri)}`);
}
