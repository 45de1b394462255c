/**
 * @trellis/dns — Consul's DNS interface (agent/dns.go) answered from a @trellis/state store:
 * service, connect, ingress, node, addr and reverse lookups, SOA/NS, recursion to upstream
 * resolvers, and Consul's UDP/TCP size rules.
 *
 * Two parts: {@link DnsHandler} turns one query packet into one answer packet (no listener
 * of its own, so a client agent can relay raw queries to a server over RPC), and
 * {@link DnsServer} listens on UDP and TCP and hands each query to any {@link DnsAnswerer}.
 */
export {
  DnsHandler,
  servfailFor,
  type DnsAnswerer,
  type DnsBackend,
  type DnsHandlerOptions,
  type ReadBarrierResult,
} from './handler.js';
export { DnsServer, type DnsServerOptions, type DnsServerStats } from './server.js';
export {
  DEFAULT_DNS_CONFIG,
  parseRecursor,
  resolveDnsConfig,
  ttlForService,
  type DnsConfig,
  type DnsConfigInput,
  type RecursorAddress,
} from './config.js';
export { DnsError, DnsErrorCode, DNS_ERROR_CATALOG, isDnsError } from './errors.js';
export { silentLogger, type Logger } from './logger.js';
export {
  normalizeDomain,
  parseLocality,
  parseQueryName,
  routeQuestion,
  splitQueryName,
  type Locality,
  type ParsedQuery,
  type Route,
  type SplitName,
  type Zones,
} from './names.js';
export {
  CLASS_IN,
  EDNS_CLIENT_SUBNET,
  HEADER_BYTES,
  MAX_LABEL_BYTES,
  MAX_NAME_BYTES,
  OpCode,
  RCode,
  RRType,
  WireError,
  decodeHeader,
  decodeMessage,
  emptyHeader,
  encodeMessage,
  encodeRecord,
  fixedLength,
  fqdn,
  isEncodableName,
  labelBytes,
  labelText,
  makeQuery,
  messageLength,
  parseSimpleQuery,
  recordLength,
  splitName,
  type Edns,
  type EdnsOption,
  type Header,
  type HeaderWithCounts,
  type Message,
  type Question,
  type RData,
  type ResourceRecord,
  type SimpleQuery,
} from './wire.js';
export {
  AnswerCache,
  DEFAULT_CACHE_BYTES,
  DEFAULT_CACHE_ENTRIES,
  renderCached,
  type AnswerCacheOptions,
  type CachedAnswer,
  type CachedParts,
  type RenderOptions,
  type Segment,
} from './cache.js';
export { formatIp, ipFromArpa, parseIp, reverseAddr } from './ip.js';
export {
  trimTcp,
  trimTcpRecords,
  trimUdp,
  trimUdpRecords,
  type TrimMessage,
  type TrimRecord,
} from './trim.js';
export * from './constants.js';
