/**
 * Defaults and limits of the DNS interface, each with its reason or source. Consul's values
 * come from agent/config/default.go and agent/dns.go; miekg/dns's from its server.go.
 */

/** Consul's dns_config.udp_answer_limit default: answers in a UDP reply without EDNS. */
export const DEFAULT_UDP_ANSWER_LIMIT = 3;
/**
 * Consul's maxUDPAnswerLimit: udp_answer_limit is capped here (≈ 25 A or 14 AAAA records fit
 * 512 bytes; a larger setting only hurts clients).
 */
export const MAX_UDP_ANSWER_LIMIT = 8;
/** RFC 1035 §4.2.1: the UDP payload limit without EDNS. */
export const DEFAULT_MAX_UDP_SIZE = 512;
/**
 * Consul's maxUDPDatagramSize: an EDNS buffer size above this is lowered to it (65535 less
 * the largest IP header; trimUDPResponse takes another 8 bytes for the UDP header).
 */
export const MAX_UDP_DATAGRAM_SIZE = 65535 - 68;
/** Consul's trimTCPResponse limit: 64 KiB less 12 bytes of DNS overhead. */
export const MAX_TCP_RESPONSE_SIZE = 65523;
/** Consul's trimTCPResponse pre-cut: more than this many records cannot fit 64 KiB. */
export const TCP_MAX_ANSWERS = 4096;
/** …and more than this many SRV records (each with its target's address) cannot. */
export const TCP_MAX_SRV_ANSWERS = 1024;
/** Consul's maxRecurseRecords: CNAME-chased records added to a non-EDNS answer. */
export const MAX_RECURSE_RECORDS = 5;
/** Consul's maxRecursionLevelDefault: internal CNAME resolution depth. */
export const MAX_RECURSION_LEVEL = 3;
/** Consul's NS answers name at most this many servers. */
export const MAX_NS_RECORDS = 3;

/** Consul's dns_config.recursor_timeout default. */
export const DEFAULT_RECURSOR_TIMEOUT_MS = 2_000;
/** Port assumed for a recursor given without one (Consul's recursorAddr). */
export const DEFAULT_RECURSOR_PORT = 53;

/** Consul's dns_config.soa defaults (seconds). The SOA's TTL is its min_ttl. */
export const SOA_REFRESH_S = 3600;
export const SOA_RETRY_S = 600;
export const SOA_EXPIRE_S = 86400;
export const SOA_MIN_TTL_S = 0;

/**
 * Consul's dns_config defaults: allow_stale true, max_stale 87600h (ten years: effectively
 * "any staleness"), TTLs 0, no truncation flag, warnings answered, 3 UDP answers.
 */
export const DEFAULT_MAX_STALE_MS = 87_600 * 3_600_000;

/** The largest DNS message over TCP (RFC 1035 §4.2.2: a 16-bit length prefix). */
export const MAX_TCP_MESSAGE_BYTES = 65535;
/**
 * miekg/dns's idle timeout for TCP connections (8 s): a connection with no query in flight
 * and nothing received for this long is closed.
 */
export const DEFAULT_TCP_IDLE_MS = 8_000;
/**
 * miekg/dns's read timeout (2 s): once the first byte of a TCP message has arrived, the
 * whole message must arrive within this time (a slow drip cannot hold a connection).
 */
export const DEFAULT_TCP_READ_TIMEOUT_MS = 2_000;
/**
 * Concurrent TCP connections (beyond: closed at once). Each may hold one upstream exchange
 * too; 128 of them with the UDP in-flight limit below stay well under the usual 1024-file
 * descriptor limit. miekg/dns has no limit; a connection flood must not exhaust the agent.
 */
export const DEFAULT_MAX_TCP_CONNECTIONS = 128;
/**
 * UDP queries being answered at once (beyond: dropped, as a busy resolver would). An
 * answer waits at most for a read barrier or a recursor timeout, so this bounds memory and
 * upstream sockets under a flood without hurting normal load.
 */
export const DEFAULT_MAX_UDP_INFLIGHT = 256;
/**
 * SO_RCVBUF / SO_SNDBUF asked for the UDP socket. Linux's default (212992 bytes, about 500
 * queries with their bookkeeping) overflows in a burst while the event loop is busy
 * elsewhere (a GC pause, a large HTTP response); the kernel caps the request at
 * net.core.rmem_max / wmem_max.
 */
export const DEFAULT_UDP_BUFFER_BYTES = 4 * 1024 * 1024;
