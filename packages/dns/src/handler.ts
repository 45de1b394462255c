/**
 * The DNS handler: one query message in, one answer message out — Consul's agent/dns.go
 * (handleQuery, handlePtr, handleRecurse and the miekg/dns server's accept rules) answered
 * from a @trellis/state StateStore. No sockets of its own except towards recursors, so a
 * client agent can carry a raw query to a server over RPC and relay the bytes back.
 *
 * Contract of {@link DnsHandler.answer}:
 *  - never rejects; returns null to drop the input (shorter than a header, or a response:
 *    answering responses would let two servers ping-pong), else an encoded DNS message
 *    with the query's ID;
 *  - a non-QUERY opcode gets NOTIMP, a message that is not exactly one question (or has
 *    more records than a query may) or does not decode gets FORMERR (header only);
 *  - names under `domain`/`altDomain` are answered from the store after a read barrier;
 *    in-addr.arpa / ip6.arpa names by PTR from the store; anything else is relayed to the
 *    recursors in order, or REFUSED when there are none;
 *  - the answer fits the transport: Consul's UDP and TCP trimming rules (trim.ts).
 *
 * Reads: with allow_stale a 'stale' barrier, repeated as 'default' when the replica is more
 * than max_stale behind (Consul's lookup retry); without, a 'default' barrier. One barrier
 * per query, taken only when the store is read; a barrier failure is SERVFAIL.
 *
 * Answer cache (cache.ts): an answer of the domain whose records depend only on the store
 * (not on a recursor or a CNAME chased through the domain) is kept pre-encoded and reused
 * while the catalog is unchanged; each reuse still takes the query's read barrier and
 * shuffles, trims and stamps the answer afresh. When the barrier can be passed at once (a
 * stale read within max_stale, from a backend with `staleReadSync`), {@link
 * DnsHandler.answerSync} answers without a promise.
 */
import type { CheckServiceNode, StateStore } from '@trellis/state';
import {
  AnswerCache,
  costOf,
  renderCached,
  type AnswerCacheOptions,
  type CachedParts,
  type Segment,
} from './cache.js';
import {
  resolveDnsConfig,
  parseRecursor,
  ttlForService,
  type DnsConfig,
  type DnsConfigInput,
  type RecursorAddress,
} from './config.js';
import {
  DEFAULT_RECURSOR_TIMEOUT_MS,
  MAX_NS_RECORDS,
  MAX_RECURSE_RECORDS,
  MAX_RECURSION_LEVEL,
  MAX_TCP_MESSAGE_BYTES,
  SOA_EXPIRE_S,
  SOA_MIN_TTL_S,
  SOA_REFRESH_S,
  SOA_RETRY_S,
} from './constants.js';
import { DnsError, DnsErrorCode } from './errors.js';
import { formatIp, formatIpv4, formatIpv6, ipFromArpa, ipHex, parseIp, reverseAddr } from './ip.js';
import { silentLogger, type Logger } from './logger.js';
import {
  normalizeDomain,
  parseQueryName,
  routeQuestion,
  splitQueryName,
  type Locality,
  type Zones,
} from './names.js';
import { exchange } from './recursor.js';
import {
  Accept,
  acceptFor,
  addressRecord,
  assembleService,
  cnameRecord,
  healthyInstances,
  identityOrder,
  metaTxtRecords,
  recordKey,
  shuffle,
  soaRecord,
  srvWeight,
  translateAddress,
  type InstanceRecords,
  type ServiceParts,
} from './records.js';
import { trimNames, trimTcp, trimUdp } from './trim.js';
import {
  CLASS_IN,
  EDNS_CLIENT_SUBNET,
  OpCode,
  RCode,
  RRType,
  WireError,
  decodeHeader,
  decodeMessage,
  emptyHeader,
  encodeMessage,
  encodeRecord,
  fqdn,
  isEncodableName,
  makeQuery,
  parseSimpleQuery,
  soaSerialOffset,
  splitName,
  type EdnsOption,
  type HeaderWithCounts,
  type Message,
  type ResourceRecord,
  type SimpleQuery,
} from './wire.js';

/** What a read barrier reports. */
export interface ReadBarrierResult {
  /** Milliseconds since this replica last heard from the leader (0 on the leader). */
  readonly lastContactMs: number;
  readonly knownLeader: boolean;
}

/** What the handler needs from the agent it runs in. */
export interface DnsBackend {
  /** The local replica (servers). */
  readonly store: StateStore;
  readonly datacenter: string;
  /** This agent's node (log fields; Consul names its SOA "ns.<domain>", not after a node). */
  readonly nodeName: string;
  /**
   * Waits until a read may be served; 'stale' answers at once with how stale the replica
   * is. Rejects when no read can be served (no leader). Must settle in bounded time.
   */
  readBarrier(mode: 'default' | 'stale'): Promise<ReadBarrierResult>;
  /**
   * Optional: what `readBarrier('stale')` would report, at once (a stale read never waits).
   * With it, cached answers are sent without a promise (see DnsHandler.answerSync).
   */
  staleReadSync?(): ReadBarrierResult;
  /** The servers of the datacenter (NS records): node name and IP. */
  servers(): readonly { readonly name: string; readonly address: string }[];
}

export interface DnsHandlerOptions {
  readonly backend: DnsBackend;
  /** The DNS domain, e.g. 'consul.' (Consul's `domain`). */
  readonly domain: string;
  /** A second domain answered the same way, '' for none (Consul's `alt_domain`). */
  readonly altDomain: string;
  readonly config: DnsConfigInput;
  /** Upstream resolvers, 'ip' or 'ip:port' / '[v6]:port', tried in order. */
  readonly recursors: readonly string[];
  /** Per-recursor deadline. Default 2 s (Consul's recursor_timeout). */
  readonly recursorTimeoutMs?: number;
  /** Randomness in [0, 1) for shuffles and upstream query IDs. Default Math.random. */
  readonly random?: () => number;
  /** Wall clock (ms) for the SOA serial. Default Date.now. */
  readonly now?: () => number;
  readonly logger?: Logger;
  /** Bounds of the answer cache (cache.ts); `{ maxEntries: 0 }` turns it off. */
  readonly answerCache?: AnswerCacheOptions;
}

/** Anything that answers query packets: a DnsHandler, or a client agent's RPC relay. */
export interface DnsAnswerer {
  answer(query: Uint8Array, transport: 'udp' | 'tcp'): Promise<Uint8Array | null>;
  /**
   * Optional: the answer when it can be given at once (the same bytes `answer` would give),
   * else undefined — then `answer` must be called. Never throws.
   */
  answerSync?(query: Uint8Array, transport: 'udp' | 'tcp'): Uint8Array | undefined;
}

type Transport = 'udp' | 'tcp';
type Outcome = 'ok' | 'nxdomain' | 'nodata';

/** One query being answered. */
interface QueryCtx {
  readonly req: Message;
  readonly raw: Uint8Array;
  readonly transport: Transport;
  readonly barrier: () => Promise<void>;
  /** The query's shape when its answer may be cached (see parseSimpleQuery). */
  readonly simple: SimpleQuery | null;
  /** The store read and its token, taken at the first read. */
  reads: { readonly store: StateStore; readonly token: number } | undefined;
  /** The answer depends on more than the store (a recursor, a CNAME chased): not cached. */
  volatile: boolean;
}

/** One lookup: the client's question, or an internal one chasing a CNAME into the domain. */
interface Ask {
  readonly name: string;
  readonly type: number;
  /** Whether the client's request carried EDNS (only for the client's own question). */
  readonly edns: boolean;
  readonly responseDomain: string;
  /** CNAME chases left (Consul's maxRecursionLevel). */
  readonly level: number;
}

interface Sections {
  answer: ResourceRecord[];
  extra: ResourceRecord[];
  /** A service lookup's instances before the shuffle (what the answer cache keeps). */
  service?: ServiceParts<ResourceRecord>;
}

/** Whether `p` fulfils (a rejection is handled here, to be awaited again by its owner). */
function succeeds(p: Promise<unknown>): Promise<boolean> {
  return p.then(
    () => true,
    () => false,
  );
}

/** What the answer cache is invalidated by: the highest index of the tables answers read. */
function storeToken(store: StateStore): number {
  return store.maxIndex('nodes', 'services', 'checks');
}

/** `rr` encoded for the answer cache. Throws WireError. */
function segmentOf(rr: ResourceRecord): Segment {
  const bytes = encodeRecord(rr);
  return {
    bytes,
    size: bytes.length,
    ...trimNames(rr),
    serialAt: rr.type === RRType.SOA ? soaSerialOffset(rr) : -1,
  };
}

interface NodeAddress {
  readonly Address: string;
  readonly TaggedAddresses: Readonly<Record<string, string>>;
}

class ReadFailed extends Error {
  constructor(cause: unknown) {
    super(`read barrier failed: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
    this.name = 'ReadFailed';
  }
}

/** The reply skeleton for a request (miekg's SetReply). */
function replyTo(req: Message): Message {
  const h = req.header;
  const query = h.opcode === OpCode.Query;
  return {
    header: {
      ...emptyHeader(h.id),
      qr: true,
      opcode: h.opcode,
      rd: query && h.rd,
      cd: query && h.cd,
    },
    question: req.question.slice(0, 1),
    answer: [],
    authority: [],
    additional: [],
  };
}

/** A header-only error reply (the miekg server's reject path). */
function headerOnly(h: HeaderWithCounts, rcode: number): Uint8Array {
  return encodeMessage({
    header: {
      ...emptyHeader(h.id),
      qr: true,
      // FORMERR answers as QUERY; NOTIMP keeps the opcode it does not implement.
      opcode: rcode === RCode.NotImp ? h.opcode : OpCode.Query,
      rd: h.rd,
      cd: h.cd,
      rcode,
    },
    question: [],
    answer: [],
    authority: [],
    additional: [],
  });
}

/**
 * A header-only SERVFAIL for `query` (null when not even its header is readable): what an
 * agent relaying queries answers when it cannot reach a server to answer them.
 */
export function servfailFor(query: Uint8Array): Uint8Array | null {
  const h = decodeHeader(query);
  return h === null || h.qr ? null : headerOnly(h, RCode.ServFail);
}

/**
 * The client-subnet option to echo (RFC 7871 §7.2.1) with scope 0: Consul's answers here
 * are all "globally valid". Null when absent; throws on a malformed option (FORMERR, as
 * miekg/dns fails to unpack it).
 */
function clientSubnetReply(options: readonly EdnsOption[]): EdnsOption | null {
  const o = options.find((x) => x.code === EDNS_CLIENT_SUBNET);
  if (o === undefined) return null;
  const d = o.data;
  if (d.length < 4) throw new Error('client subnet option shorter than 4 bytes');
  const family = (d[0]! << 8) | d[1]!;
  const source = d[2]!;
  const scope = d[3]!;
  const size = family === 1 ? 4 : family === 2 ? 16 : family === 0 ? 0 : -1;
  if (size < 0) throw new Error(`client subnet family ${family}`);
  if (source > size * 8 || scope > size * 8) throw new Error('client subnet prefix too long');
  const address = new Uint8Array(size);
  address.set(d.subarray(4, 4 + size));
  const keep = Math.ceil(source / 8);
  const out = new Uint8Array(4 + keep);
  out.set(d.subarray(0, 3));
  out[3] = 0;
  out.set(address.subarray(0, keep), 4);
  // Bits beyond the source prefix are zero in the reply.
  if (source % 8 !== 0 && keep > 0) out[3 + keep] = out[3 + keep]! & (0xff << (8 - (source % 8)));
  return { code: EDNS_CLIENT_SUBNET, data: out };
}

export class DnsHandler implements DnsAnswerer {
  readonly #backend: DnsBackend;
  readonly #zones: Zones;
  readonly #cfg: DnsConfig;
  readonly #recursors: readonly RecursorAddress[];
  readonly #timeoutMs: number;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #abort = new AbortController();
  readonly #cache: AnswerCache;

  /** Throws DNS_INVALID_OPTION for a bad domain, config value or recursor address. */
  constructor(o: DnsHandlerOptions) {
    const domain = normalizeDomain(o.domain);
    if (domain === '') throw new DnsError(DnsErrorCode.InvalidOption, 'domain must be set');
    const altDomain = normalizeDomain(o.altDomain);
    for (const d of [domain, altDomain]) {
      if (d !== '' && !isEncodableName(d)) {
        throw new DnsError(
          DnsErrorCode.InvalidOption,
          `domain ${JSON.stringify(d)} is not a DNS name`,
        );
      }
    }
    const timeout = o.recursorTimeoutMs ?? DEFAULT_RECURSOR_TIMEOUT_MS;
    if (!Number.isFinite(timeout) || timeout <= 0) {
      throw new DnsError(
        DnsErrorCode.InvalidOption,
        `recursorTimeoutMs must be > 0, got ${timeout}`,
      );
    }
    this.#backend = o.backend;
    this.#zones = { domain, altDomain };
    this.#cfg = resolveDnsConfig(o.config);
    this.#recursors = o.recursors.map(parseRecursor);
    this.#timeoutMs = timeout;
    this.#random = o.random ?? Math.random;
    this.#now = o.now ?? Date.now;
    this.#log = o.logger ?? silentLogger;
    this.#cache = new AnswerCache(o.answerCache);
  }

  /** The answer cache's size and counters. */
  cacheStats(): { entries: number; bytes: number } & AnswerCache['stats'] {
    return { entries: this.#cache.size, bytes: this.#cache.bytes, ...this.#cache.stats };
  }

  /** The zones answered from the store (normalized). */
  get zones(): Zones {
    return this.#zones;
  }

  /** Aborts upstream exchanges in flight; later recursion answers SERVFAIL at once. */
  close(): void {
    this.#abort.abort();
  }

  async answer(query: Uint8Array, transport: Transport): Promise<Uint8Array | null> {
    const head = decodeHeader(query);
    // Too short to answer (a reply could not even carry the ID), or itself a response.
    if (head === null || head.qr) return null;
    try {
      const simple = parseSimpleQuery(query);
      let barrier: Promise<void> | undefined;
      if (simple !== null) {
        const cached = this.#fromCache(query, simple, transport, false);
        if (cached instanceof Uint8Array) return cached;
        if (cached === 'wait') {
          // A cached answer, once the read may be served: the query's one barrier, which
          // the full path below reuses (and answers SERVFAIL on) if it fails.
          barrier = this.#readBarrier();
          if (await succeeds(barrier)) {
            const later = this.#fromCache(query, simple, transport, true);
            if (later instanceof Uint8Array) return later;
          }
        }
        this.#cache.stats.misses++;
      }
      return await this.#answer(query, head, transport, simple, barrier);
    } catch (err) {
      this.#log.warn({ err }, 'dns query failed');
      return headerOnly(head, RCode.ServFail);
    }
  }

  /**
   * The answer from the cache when it can be given now: a query of the common shape (see
   * parseSimpleQuery) with a fresh cached answer whose read barrier passes at once. Else
   * undefined: {@link answer} then answers (and caches what it can).
   */
  answerSync(query: Uint8Array, transport: Transport): Uint8Array | undefined {
    try {
      const simple = parseSimpleQuery(query);
      if (simple === null) return undefined;
      const cached = this.#fromCache(query, simple, transport, false);
      return cached instanceof Uint8Array ? cached : undefined;
    } catch (err) {
      this.#log.warn({ err }, 'dns cached answer failed');
      return undefined;
    }
  }

  /**
   * The cached answer to `query`; 'wait' when there is one that needs the read barrier
   * first (`barrierPassed` false and no stale read to be had at once); undefined when there
   * is none, or the catalog changed since it was built.
   */
  #fromCache(
    query: Uint8Array,
    q: SimpleQuery,
    transport: Transport,
    barrierPassed: boolean,
  ): Uint8Array | 'wait' | undefined {
    const c = this.#cache.get(q.key);
    if (c === undefined) return undefined;
    if (c.readsStore) {
      if (!barrierPassed && !this.#staleReadNow()) return 'wait';
      const store = this.#backend.store;
      if (c.store !== store || c.token !== storeToken(store)) {
        this.#cache.stats.stale++;
        return undefined;
      }
    }
    const bytes = renderCached(c, query, q, {
      transport,
      random: this.#random,
      serial: Math.floor(this.#now() / 1000),
      udpAnswerLimit: this.#cfg.udpAnswerLimit,
      enableTruncate: this.#cfg.enableTruncate,
    });
    if (bytes === undefined) return undefined;
    this.#cache.stats.hits++;
    return bytes;
  }

  /**
   * Whether the read barrier passes at once: allow_stale, and the backend's synchronous
   * stale read is within max_stale. (Otherwise the barrier is awaited as usual.)
   */
  #staleReadNow(): boolean {
    const backend = this.#backend;
    if (!this.#cfg.allowStale || backend.staleReadSync === undefined) return false;
    try {
      return backend.staleReadSync().lastContactMs <= this.#cfg.maxStaleMs;
    } catch {
      return false;
    }
  }

  async #answer(
    raw: Uint8Array,
    head: HeaderWithCounts,
    transport: Transport,
    simple: SimpleQuery | null,
    pending: Promise<void> | undefined,
  ): Promise<Uint8Array> {
    if (head.opcode !== OpCode.Query) return headerOnly(head, RCode.NotImp);
    // miekg/dns DefaultMsgAcceptFunc: exactly one question, ≤ 1 answer (NOTIFY's SOA),
    // ≤ 1 authority (IXFR's SOA), ≤ 2 additional (OPT + TSIG).
    if (head.qdcount !== 1 || head.ancount > 1 || head.nscount > 1 || head.arcount > 2) {
      return headerOnly(head, RCode.FormErr);
    }
    let req: Message;
    let subnet: EdnsOption | null;
    try {
      req = decodeMessage(raw);
      subnet = clientSubnetReply(req.edns?.options ?? []);
    } catch (err) {
      this.#log.debug({ err }, 'dns query malformed');
      return headerOnly(head, RCode.FormErr);
    }
    const q = req.question[0]!;
    let barrier = pending;
    const ctx: QueryCtx = {
      req,
      raw,
      transport,
      barrier: () => (barrier ??= this.#readBarrier()),
      simple,
      reads: undefined,
      volatile: false,
    };
    const route = routeQuestion(q.name, q.type, this.#zones, this.#recursors.length > 0);
    let resp: Message | Uint8Array;
    switch (route) {
      case 'domain':
        resp = await this.#query(ctx);
        break;
      case 'ptr':
        resp = await this.#ptr(ctx);
        break;
      case 'recurse':
        resp = await this.#recurse(ctx);
        break;
      case 'refused': {
        // miekg's handleRefused: no zone of ours and nowhere to recurse.
        resp = replyTo(req);
        resp.header.rcode = RCode.Refused;
        break;
      }
    }
    if (resp instanceof Uint8Array) return resp;
    if (resp.edns !== undefined && subnet !== null) resp.edns.options = [subnet];
    return this.#encode(resp, req, transport);
  }

  #encode(resp: Message, req: Message, transport: Transport): Uint8Array {
    try {
      const bytes = encodeMessage(resp);
      if (transport === 'tcp' && bytes.length > MAX_TCP_MESSAGE_BYTES) {
        throw new Error(`answer of ${bytes.length} bytes exceeds a TCP message`);
      }
      return bytes;
    } catch (err) {
      this.#log.warn({ err, name: req.question[0]?.name }, 'dns answer could not be encoded');
      const fail = replyTo(req);
      fail.header.rcode = RCode.ServFail;
      return encodeMessage(fail);
    }
  }

  async #readBarrier(): Promise<void> {
    try {
      if (!this.#cfg.allowStale) {
        await this.#backend.readBarrier('default');
        return;
      }
      const r = await this.#backend.readBarrier('stale');
      if (r.lastContactMs > this.#cfg.maxStaleMs) {
        this.#log.debug(
          { lastContactMs: r.lastContactMs, maxStaleMs: this.#cfg.maxStaleMs },
          'dns read too stale, re-reading through the leader',
        );
        await this.#backend.readBarrier('default');
      }
    } catch (err) {
      throw new ReadFailed(err);
    }
  }

  // ------------------------------------------------------------------------ the domain

  /** Consul's handleQuery. */
  async #query(ctx: QueryCtx): Promise<Message> {
    const q = ctx.req.question[0]!;
    const resp = replyTo(ctx.req);
    resp.header.aa = true;
    resp.header.ra = this.#recursors.length > 0;
    const { responseDomain } = splitQueryName(q.name, this.#zones);
    switch (q.type) {
      case RRType.SOA: {
        const ns = await this.#nameservers(ctx, responseDomain);
        resp.answer.push(this.#soa(q.name));
        resp.authority.push(...ns.answer);
        resp.additional.push(...ns.extra);
        break;
      }
      case RRType.NS: {
        const ns = await this.#nameservers(ctx, responseDomain);
        resp.answer.push(...ns.answer);
        resp.additional.push(...ns.extra);
        break;
      }
      case RRType.AXFR:
        resp.header.rcode = RCode.NotImp;
        break;
      default: {
        const out: Sections = { answer: [], extra: [] };
        const ask: Ask = {
          name: q.name,
          type: q.type,
          edns: ctx.req.edns !== undefined,
          responseDomain,
          level: MAX_RECURSION_LEVEL,
        };
        let outcome: Outcome;
        try {
          outcome = await this.#dispatch(ctx, ask, out);
        } catch (err) {
          if (!(err instanceof ReadFailed)) throw err;
          this.#log.warn({ err, name: q.name }, 'dns read failed');
          resp.header.rcode = RCode.ServFail;
          break;
        }
        resp.answer = out.answer;
        resp.additional = out.extra;
        if (outcome === 'nxdomain') resp.header.rcode = RCode.NXDomain;
        // RFC 2308: NXDOMAIN and NODATA (no records of the asked type) carry the SOA.
        if (outcome !== 'ok' || resp.answer.length === 0) resp.authority.push(this.#soa(q.name));
        this.#remember(ctx, resp, out);
      }
    }
    this.#setEdns(ctx.req, resp);
    this.#trim(ctx, resp);
    return resp;
  }

  /**
   * Keeps the answer just built in the cache when it can be rebuilt from the store alone:
   * its records encoded (a service's per instance, before the shuffle), the SOA serial and
   * everything the query decides left to {@link renderCached}.
   */
  #remember(ctx: QueryCtx, resp: Message, out: Sections): void {
    const q = ctx.simple;
    if (q === null || ctx.volatile) return;
    const encoded = new Map<ResourceRecord, Segment>();
    const seg = (rr: ResourceRecord): Segment => {
      let s = encoded.get(rr);
      if (s === undefined) encoded.set(rr, (s = segmentOf(rr)));
      return s;
    };
    let parts: CachedParts;
    let authority: Segment[];
    try {
      parts =
        out.service === undefined
          ? { kind: 'fixed', answer: out.answer.map(seg), extra: out.extra.map(seg) }
          : {
              kind: out.service.kind,
              instances: out.service.instances.map((i) => ({
                key: i.key,
                cname: i.cname,
                answer: i.answer.map(seg),
                extra: i.extra.map(seg),
              })),
            };
      authority = resp.authority.map(seg);
    } catch (err) {
      // A record that cannot be encoded: the answer is built afresh each time.
      if (err instanceof WireError) return;
      throw err;
    }
    this.#cache.set(q.key, {
      readsStore: ctx.reads !== undefined,
      store: ctx.reads?.store,
      token: ctx.reads?.token ?? 0,
      rcode: resp.header.rcode,
      ra: resp.header.ra,
      parts,
      authority,
      cost: costOf(parts, authority),
    });
  }

  /** Consul's makeSOARecord naming: the alt domain when the question is under it. */
  #soa(questionName: string): ResourceRecord {
    const lower = questionName.toLowerCase();
    const alt = this.#zones.altDomain;
    const zone = alt !== '' && lower.endsWith('.' + alt) ? alt : this.#zones.domain;
    return soaRecord(zone, Math.floor(this.#now() / 1000), {
      refresh: SOA_REFRESH_S,
      retry: SOA_RETRY_S,
      expire: SOA_EXPIRE_S,
      minTtl: SOA_MIN_TTL_S,
    });
  }

  /** Consul's setEDNS: echo the client's OPT (its UDP size; ECS added by the caller). */
  #setEdns(req: Message, resp: Message): void {
    if (req.edns === undefined) return;
    resp.edns = {
      udpSize: req.edns.udpSize,
      extendedRcode: 0,
      version: 0,
      dnssecOk: false,
      options: [],
    };
  }

  /** Consul's trimDNSResponse. */
  #trim(ctx: QueryCtx, resp: Message): void {
    const before = resp.answer.length;
    const trimmed =
      ctx.transport === 'udp'
        ? trimUdp(resp, ctx.req.edns?.udpSize, this.#cfg.udpAnswerLimit)
        : trimTcp(resp, ctx.req.question[0]!.type);
    if (!trimmed) return;
    if (this.#cfg.enableTruncate) resp.header.tc = true;
    this.#log.debug(
      {
        transport: ctx.transport,
        name: ctx.req.question[0]!.name,
        records: `${resp.answer.length}/${before}`,
      },
      'dns answer too large, trimmed',
    );
  }

  /**
   * Consul's getNameserversAndNodeRecord: up to three servers, shuffled, as NS records for
   * the zone with their addresses as glue. Servers whose names are not DNS labels are skipped.
   */
  async #nameservers(ctx: QueryCtx, responseDomain: string): Promise<Sections> {
    const out: Sections = { answer: [], extra: [] };
    const servers = this.#shuffle([...this.#backend.servers()]);
    const ttl = this.#cfg.nodeTtlS;
    for (const s of servers) {
      if (/[^A-Za-z0-9\\-]/.test(s.name) || s.name === '') {
        this.#log.warn(
          { node: s.name },
          'dns: skipping server with an invalid name for NS records',
        );
        continue;
      }
      const target = fqdn(
        `${s.name}.node.${this.#backend.datacenter}.${responseDomain}`.toLowerCase(),
      );
      if (!isEncodableName(target)) continue;
      out.answer.push({
        name: responseDomain,
        type: RRType.NS,
        class: CLASS_IN,
        ttl,
        data: { kind: 'name', target },
      });
      const glue = await this.#nodeRecords(
        ctx,
        { Address: s.address, TaggedAddresses: {} },
        RRType.ANY,
        target,
        ttl,
        MAX_RECURSION_LEVEL,
      );
      out.extra.push(...glue);
      if (out.answer.length >= MAX_NS_RECORDS) break;
    }
    return out;
  }

  /** The datacenter a lookup targets, or null when it is not ours (NXDOMAIN). */
  #datacenter(l: Locality): string | null {
    // No WAN federation or cluster peering here: only the local datacenter answers.
    if (l.peer !== undefined) return null;
    if (l.datacenter === undefined) return this.#backend.datacenter;
    return l.datacenter === this.#backend.datacenter.toLowerCase() ? l.datacenter : null;
  }

  /** Consul's dispatch: the lookup a name asks for, its records appended to `out`. */
  async #dispatch(ctx: QueryCtx, ask: Ask, out: Sections): Promise<Outcome> {
    const { labels } = splitQueryName(ask.name, this.#zones);
    const p = parseQueryName(labels, ask.type);
    switch (p.kind) {
      case 'invalid':
        this.#log.debug({ name: ask.name, reason: p.reason }, 'dns name invalid');
        return 'nxdomain';
      case 'service':
      case 'connect':
      case 'ingress': {
        const dc = this.#datacenter(p.locality);
        if (dc === null) return 'nxdomain';
        return this.#serviceLookup(ctx, ask, out, {
          service: p.service,
          tag: p.kind === 'service' ? p.tag : '',
          connect: p.kind === 'connect',
          ingress: p.kind === 'ingress',
          dc,
        });
      }
      case 'virtual':
        // No virtual IPs are assigned here; Consul answers a service without one with an
        // empty NOERROR.
        return 'ok';
      case 'node': {
        const dc = this.#datacenter(p.locality);
        if (dc === null) return 'nxdomain';
        return this.#nodeLookup(ctx, ask, out, p.node);
      }
      case 'query':
        // No prepared queries in the store: Consul's ErrQueryNotFound is NXDOMAIN.
        return 'nxdomain';
      case 'addr':
        return this.#addrLookup(ask, out, labels, p.ip);
    }
  }

  /** <hex>.addr: the address itself, in the answer when the type asks for it. */
  #addrLookup(ask: Ask, out: Sections, labels: readonly string[], bytes: Uint8Array): Outcome {
    const name = `${labels.join('.')}.${ask.responseDomain}`;
    const ttl = this.#cfg.nodeTtlS;
    if (bytes.length === 4) {
      const rr: ResourceRecord = {
        name,
        type: RRType.A,
        class: CLASS_IN,
        ttl,
        data: { kind: 'a', address: formatIpv4(bytes) },
      };
      (ask.type === RRType.A || ask.type === RRType.ANY ? out.answer : out.extra).push(rr);
    } else {
      // The 16 bytes as they are (an IPv4-mapped address stays an AAAA record).
      const rr: ResourceRecord = {
        name,
        type: RRType.AAAA,
        class: CLASS_IN,
        ttl,
        data: { kind: 'aaaa', address: formatIpv6(bytes) },
      };
      (ask.type === RRType.AAAA || ask.type === RRType.ANY ? out.answer : out.extra).push(rr);
    }
    return 'ok';
  }

  /** Consul's handleNodeQuery. */
  async #nodeLookup(ctx: QueryCtx, ask: Ask, out: Sections, nodeName: string): Promise<Outcome> {
    const store = await this.#readStore(ctx);
    const node = store.node(nodeName).value;
    if (node === undefined) return 'nxdomain';
    const t = ask.type;
    if (t !== RRType.ANY && t !== RRType.A && t !== RRType.AAAA && t !== RRType.TXT)
      return 'nodata';
    const ttl = this.#cfg.nodeTtlS;
    if (t !== RRType.TXT) {
      out.answer.push(...(await this.#nodeRecords(ctx, node, t, ask.name, ttl, ask.level)));
    }
    if (this.#cfg.nodeMetaTxt || t === RRType.TXT || t === RRType.ANY) {
      const target = t === RRType.TXT || t === RRType.ANY ? out.answer : out.extra;
      target.push(...metaTxtRecords(ask.name, node.Meta, ttl));
    }
    return 'ok';
  }

  /**
   * Consul's makeRecordFromNode: the node's address as A/AAAA named `name`, or — when the
   * address is a host name — a CNAME to it plus whatever resolving it yields.
   */
  async #nodeRecords(
    ctx: QueryCtx,
    node: NodeAddress,
    qtype: number,
    name: string,
    ttlS: number,
    level: number,
  ): Promise<ResourceRecord[]> {
    const tagged = node.TaggedAddresses;
    const addr = translateAddress(
      acceptFor(qtype),
      node.Address,
      tagged['lan_ipv4'] ?? '',
      tagged['lan_ipv6'] ?? '',
    );
    if (addr === '') return [];
    const ip = parseIp(addr);
    if (ip === null) {
      const target = fqdn(node.Address);
      if (!isEncodableName(target)) return [];
      return [cnameRecord(name, target, ttlS), ...(await this.#resolveCname(ctx, target, level))];
    }
    const rr = addressRecord(qtype, ip, ttlS, name);
    return rr === null ? [] : [rr];
  }

  /** Consul's handleServiceQuery (service, connect and ingress names). */
  async #serviceLookup(
    ctx: QueryCtx,
    ask: Ask,
    out: Sections,
    l: { service: string; tag: string; connect: boolean; ingress: boolean; dc: string },
  ): Promise<Outcome> {
    const store = await this.#readStore(ctx);
    // The store keeps no ingress-gateway ↔ service mapping (config entries), so no
    // service has an ingress gateway: Consul's answer for such a name is NXDOMAIN.
    if (l.ingress) return 'nxdomain';
    const rows = store.checkServiceNodes(l.service, {
      tags: l.tag === '' ? [] : [l.tag],
      connect: l.connect,
    }).value;
    const healthy = healthyInstances(rows, this.#cfg.onlyPassing);
    if (healthy.length === 0) return 'nxdomain';
    const ttl = ttlForService(this.#cfg, l.service);
    const parts = this.#serviceParts(ask, healthy, ttl, l.dc);
    if (parts !== null) {
      // Every instance's records are known without resolving anything: shuffle, then
      // deduplicate (the same rule the answer cache replays on its copy of `parts`).
      const { answer, extra } = assembleService(
        parts,
        this.#shuffle(identityOrder(healthy.length)),
      );
      out.answer.push(...answer);
      out.extra.push(...extra);
      out.service = parts;
    } else {
      // Some instance's host name is resolved (through the domain or a recursor): records
      // are built in shuffled order, as each instance comes, resolving as they go.
      ctx.volatile = true;
      const nodes = this.#shuffle(healthy);
      if (ask.type === RRType.SRV) await this.#srvRecords(ctx, ask, out, nodes, ttl, l.dc);
      else await this.#serviceAddressRecords(ctx, ask, out, nodes, ttl, l.dc);
    }
    return out.answer.length === 0 ? 'nodata' : 'ok';
  }

  /** Waits for the query's read barrier; notes the store read and its token (first read). */
  async #readStore(ctx: QueryCtx): Promise<StateStore> {
    await ctx.barrier();
    const store = this.#backend.store;
    // Taken before the caller reads: a write in between leaves the token older than what
    // was read, so the cached answer is rebuilt by the next query (never the reverse).
    ctx.reads ??= { store, token: storeToken(store) };
    return store;
  }

  /**
   * Each healthy instance's records for `ask`, in store order, with its deduplication key
   * (addServiceNodeRecordsToMessage / addServiceSRVRecordsToMessage); null when an
   * instance's host name would have to be resolved (see #resolveCname), as that depends on
   * more than the store and on the order instances are met.
   */
  #serviceParts(
    ask: Ask,
    healthy: readonly CheckServiceNode[],
    ttl: number,
    dc: string,
  ): ServiceParts<ResourceRecord> | null {
    const kind = ask.type === RRType.SRV ? 'srv' : 'address';
    const keys = new Map<string, number>();
    const keyOf = (k: string): number => {
      let id = keys.get(k);
      if (id === undefined) keys.set(k, (id = keys.size));
      return id;
    };
    const instances: InstanceRecords<ResourceRecord>[] = [];
    for (const n of healthy) {
      let r = this.#instanceRecordsNow(ask, n, ttl, dc);
      if ('host' in r) {
        const target = fqdn(r.host);
        if (!isEncodableName(target)) r = { answer: [], extra: [] };
        else if (this.#resolvesNowhere(target)) r = this.#fqdnParts(ask, n, target, ttl, []);
        else return null;
      }
      if (kind === 'srv') {
        const extra = [...r.extra];
        if (this.#cfg.nodeMetaTxt) {
          const nodeName = this.#nodeFqdn(n.Node.Node, dc, ask.responseDomain);
          if (isEncodableName(nodeName)) extra.push(...metaTxtRecords(nodeName, n.Node.Meta, ttl));
        }
        instances.push({ answer: r.answer, extra, key: keyOf(srvTuple(n)), cname: false });
      } else {
        const first = r.answer[0];
        instances.push({
          answer: r.answer,
          extra: [],
          key: first === undefined ? 0 : keyOf(recordKey(first)),
          cname: first?.type === RRType.CNAME,
        });
      }
    }
    return { kind, instances };
  }

  /** Consul's addServiceNodeRecordsToMessage: one address record per distinct answer. */
  async #serviceAddressRecords(
    ctx: QueryCtx,
    ask: Ask,
    out: Sections,
    nodes: readonly CheckServiceNode[],
    ttl: number,
    dc: string,
  ): Promise<void> {
    const handled = new Set<string>();
    let cnames: ResourceRecord[] | undefined;
    for (const n of nodes) {
      const { answer } = await this.#instanceRecords(ctx, ask, n, ttl, dc);
      if (answer.length === 0) continue;
      // The same address twice (one node, the service on several ports) answers once.
      const key = recordKey(answer[0]!);
      if (handled.has(key)) continue;
      handled.add(key);
      // A CNAME answer is kept only when no instance has an address record.
      if (answer[0]!.type === RRType.CNAME) cnames ??= answer;
      else out.answer.push(...answer);
    }
    if (out.answer.length === 0 && cnames !== undefined) out.answer.push(...cnames);
  }

  /** Consul's addServiceSRVRecordsToMessage: an SRV per distinct node/address/port. */
  async #srvRecords(
    ctx: QueryCtx,
    ask: Ask,
    out: Sections,
    nodes: readonly CheckServiceNode[],
    ttl: number,
    dc: string,
  ): Promise<void> {
    const handled = new Set<string>();
    for (const n of nodes) {
      const tuple = srvTuple(n);
      if (handled.has(tuple)) continue;
      handled.add(tuple);
      const r = await this.#instanceRecords(ctx, ask, n, ttl, dc);
      out.answer.push(...r.answer);
      out.extra.push(...r.extra);
      if (this.#cfg.nodeMetaTxt) {
        const nodeName = this.#nodeFqdn(n.Node.Node, dc, ask.responseDomain);
        if (isEncodableName(nodeName))
          out.extra.push(...metaTxtRecords(nodeName, n.Node.Meta, ttl));
      }
    }
  }

  #nodeFqdn(node: string, dc: string, responseDomain: string): string {
    return `${node}.node.${dc}.${responseDomain}`;
  }

  /**
   * Consul's makeNodeServiceRecords: which address answers for an instance, and how.
   *  - no service address, node address an IP: the node (SRV target <node>.node.<dc>), or
   *    the <hex>.addr name when a tagged address replaced the node's own;
   *  - no service address, node address a host name: CNAME/SRV to that name;
   *  - a service address that is an IP: that IP (SRV target <hex>.addr.<dc>);
   *  - a service address equal to the question name: the node (avoids a self-CNAME);
   *  - another host name: CNAME/SRV to it, with its resolution as extra records.
   */
  async #instanceRecords(
    ctx: QueryCtx,
    ask: Ask,
    n: CheckServiceNode,
    ttl: number,
    dc: string,
  ): Promise<{ answer: ResourceRecord[]; extra: ResourceRecord[] }> {
    const r = this.#instanceRecordsNow(ask, n, ttl, dc);
    return 'host' in r ? this.#fqdnRecords(ctx, ask, n, r.host, ttl) : r;
  }

  /** {@link #instanceRecords} but for a host name, which is returned for the caller to resolve. */
  #instanceRecordsNow(
    ask: Ask,
    n: CheckServiceNode,
    ttl: number,
    dc: string,
  ): { answer: ResourceRecord[]; extra: ResourceRecord[] } | { host: string } {
    const accept = acceptFor(ask.type);
    const svc = n.Service;
    const node = n.Node;
    const serviceAddr = translateAddress(
      accept,
      svc.Address,
      svc.TaggedAddresses['lan_ipv4']?.Address ?? '',
      svc.TaggedAddresses['lan_ipv6']?.Address ?? '',
    );
    const nodeAddr = translateAddress(
      accept,
      node.Address,
      node.TaggedAddresses['lan_ipv4'] ?? '',
      node.TaggedAddresses['lan_ipv6'] ?? '',
    );
    if (serviceAddr === '' && nodeAddr === '') return { answer: [], extra: [] };
    const nodeIp = parseIp(nodeAddr);
    const serviceIp = parseIp(serviceAddr);
    if (serviceAddr === '' && nodeIp !== null) {
      return node.Address !== nodeAddr
        ? this.#ipRecords(ask, n, nodeIp, ttl, dc)
        : this.#nodeTargetRecords(ask, n, nodeIp, ttl, dc);
    }
    if (serviceAddr === '') return { host: nodeAddr };
    if (serviceIp !== null) return this.#ipRecords(ask, n, serviceIp, ttl, dc);
    if (fqdn(serviceAddr) === ask.name && nodeIp !== null) {
      return this.#nodeTargetRecords(ask, n, nodeIp, ttl, dc);
    }
    return { host: serviceAddr };
  }

  #srv(ask: Ask, n: CheckServiceNode, ttl: number, target: string): ResourceRecord {
    return {
      name: ask.name,
      type: RRType.SRV,
      class: CLASS_IN,
      ttl,
      data: {
        kind: 'srv',
        priority: 1,
        weight: srvWeight(n),
        port: n.Service.Port & 0xffff,
        target,
      },
    };
  }

  /** Consul's makeRecordFromServiceNode: SRV target is the node's name. */
  #nodeTargetRecords(
    ask: Ask,
    n: CheckServiceNode,
    ip: Uint8Array,
    ttl: number,
    dc: string,
  ): { answer: ResourceRecord[]; extra: ResourceRecord[] } {
    return this.#targetRecords(
      ask,
      n,
      ip,
      ttl,
      this.#nodeFqdn(n.Node.Node, dc, ask.responseDomain),
    );
  }

  /** Consul's makeRecordFromIP: SRV target is <hex>.addr.<dc>.<domain>. */
  #ipRecords(
    ask: Ask,
    n: CheckServiceNode,
    ip: Uint8Array,
    ttl: number,
    dc: string,
  ): { answer: ResourceRecord[]; extra: ResourceRecord[] } {
    return this.#targetRecords(ask, n, ip, ttl, `${ipHex(ip)}.addr.${dc}.${ask.responseDomain}`);
  }

  #targetRecords(
    ask: Ask,
    n: CheckServiceNode,
    ip: Uint8Array,
    ttl: number,
    target: string,
  ): { answer: ResourceRecord[]; extra: ResourceRecord[] } {
    if (ask.type !== RRType.SRV) {
      const rr = addressRecord(ask.type, ip, ttl, ask.name);
      return { answer: rr === null ? [] : [rr], extra: [] };
    }
    const glue = addressRecord(ask.type, ip, ttl, target);
    if (glue === null || !isEncodableName(target)) return { answer: [], extra: [] };
    return { answer: [this.#srv(ask, n, ttl, target)], extra: [glue] };
  }

  /** Consul's makeRecordFromFQDN: SRV/CNAME to a host name, plus what it resolves to. */
  async #fqdnRecords(
    ctx: QueryCtx,
    ask: Ask,
    n: CheckServiceNode,
    host: string,
    ttl: number,
  ): Promise<{ answer: ResourceRecord[]; extra: ResourceRecord[] }> {
    const target = fqdn(host);
    if (!isEncodableName(target)) return { answer: [], extra: [] };
    return this.#fqdnParts(ask, n, target, ttl, await this.#resolveCname(ctx, target, ask.level));
  }

  /** {@link #fqdnRecords} once `target` is resolved to `more`. */
  #fqdnParts(
    ask: Ask,
    n: CheckServiceNode,
    target: string,
    ttl: number,
    more: readonly ResourceRecord[],
  ): { answer: ResourceRecord[]; extra: ResourceRecord[] } {
    const additional: ResourceRecord[] = [];
    for (const rr of more) {
      if (rr.type !== RRType.CNAME && rr.type !== RRType.A && rr.type !== RRType.AAAA) continue;
      additional.push({ ...rr, ttl });
      if (additional.length === MAX_RECURSE_RECORDS && !ask.edns) break;
    }
    if (ask.type === RRType.SRV)
      return { answer: [this.#srv(ask, n, ttl, target)], extra: additional };
    return { answer: [cnameRecord(ask.name, target, ttl), ...additional], extra: [] };
  }

  /**
   * Consul's resolveCNAME: a name in our zones is looked up here (ANY, one level less);
   * another is asked of the recursors (A, over UDP); without recursors, nothing.
   */
  async #resolveCname(ctx: QueryCtx, name: string, level: number): Promise<ResourceRecord[]> {
    if (this.#inZones(name)) {
      if (level < 1) {
        this.#log.warn({ name }, 'dns: CNAME chain too deep, not resolving');
        return [];
      }
      ctx.volatile = true;
      const sub: Sections = { answer: [], extra: [] };
      await this.#dispatch(
        ctx,
        {
          name,
          type: RRType.ANY,
          edns: false,
          responseDomain: splitQueryName(name, this.#zones).responseDomain,
          level: level - 1,
        },
        sub,
      );
      return sub.answer;
    }
    if (this.#recursors.length === 0) return [];
    ctx.volatile = true;
    const id = Math.floor(this.#random() * 0x10000) & 0xffff;
    const query = encodeMessage(makeQuery(id, name, RRType.A));
    for (const r of this.#recursors) {
      try {
        const res = await exchange(r, query, 'udp', this.#timeoutMs, this.#abort.signal);
        return res.message.answer;
      } catch (err) {
        this.#log.debug(
          { err, name, recursor: `${r.host}:${r.port}` },
          'dns CNAME recursion failed',
        );
      }
    }
    return [];
  }

  #inZones(name: string): boolean {
    const lower = name.toLowerCase();
    const { domain, altDomain } = this.#zones;
    return lower.endsWith('.' + domain) || (altDomain !== '' && lower.endsWith('.' + altDomain));
  }

  /** Whether #resolveCname finds nothing for `name` without asking anyone (so no need to). */
  #resolvesNowhere(name: string): boolean {
    return !this.#inZones(name) && this.#recursors.length === 0;
  }

  // ------------------------------------------------------------------------ reverse

  /** Consul's handlePtr: a node by its address, else a service instance by its address. */
  async #ptr(ctx: QueryCtx): Promise<Message | Uint8Array> {
    const q = ctx.req.question[0]!;
    const resp = replyTo(ctx.req);
    resp.header.aa = true;
    resp.header.ra = this.#recursors.length > 0;
    if (q.type === RRType.SOA) resp.authority.push(this.#soa(q.name));
    try {
      await ctx.barrier();
    } catch (err) {
      this.#log.warn({ err, name: q.name }, 'dns read failed');
      resp.header.rcode = RCode.ServFail;
      this.#setEdns(ctx.req, resp);
      return resp;
    }
    const store = this.#backend.store;
    const dc = this.#backend.datacenter;
    const domain = this.#zones.domain;
    const lower = fqdn(q.name.toLowerCase());
    const ptr = (target: string): ResourceRecord => ({
      name: q.name,
      type: RRType.PTR,
      class: CLASS_IN,
      ttl: 0,
      data: { kind: 'name', target },
    });
    for (const node of store.nodes().value) {
      if (reverseAddr(node.Address) !== lower) continue;
      const target = this.#nodeFqdn(node.Node, dc, domain);
      if (!isEncodableName(target)) continue;
      resp.answer.push(ptr(target));
      break;
    }
    if (resp.answer.length === 0) {
      const ip = ipFromArpa(splitName(lower));
      if (ip !== null) {
        const address = formatIp(ip);
        for (const svc of store.serviceInstances().value) {
          if (svc.Address !== address) continue;
          const target = `${svc.Service}.service.${dc}.${domain}`;
          if (!isEncodableName(target)) continue;
          resp.answer.push(ptr(target));
          break;
        }
      }
    }
    if (resp.answer.length === 0) {
      if (this.#recursors.length > 0) return this.#recurse(ctx);
      resp.header.rcode = RCode.NXDomain;
      if (!resp.authority.some((rr) => rr.type === RRType.SOA))
        resp.authority.push(this.#soa(q.name));
    }
    this.#setEdns(ctx.req, resp);
    return resp;
  }

  // ------------------------------------------------------------------------ recursion

  /**
   * Consul's handleRecurse: the query as received goes to each recursor in turn over the
   * client's transport; the first answer with NOERROR or NXDOMAIN is relayed verbatim (so
   * it carries the client's ID). When every recursor fails: SERVFAIL.
   */
  async #recurse(ctx: QueryCtx): Promise<Message | Uint8Array> {
    const q = ctx.req.question[0]!;
    for (const r of this.#recursors) {
      const recursor = `${r.host}:${r.port}`;
      try {
        const res = await exchange(r, ctx.raw, ctx.transport, this.#timeoutMs, this.#abort.signal);
        const rcode = res.message.header.rcode | ((res.message.edns?.extendedRcode ?? 0) << 4);
        if (rcode !== RCode.NoError && rcode !== RCode.NXDomain) {
          this.#log.debug({ name: q.name, recursor, rcode }, 'dns recursor answered with an error');
          continue;
        }
        return res.bytes;
      } catch (err) {
        this.#log.debug({ err, name: q.name, recursor }, 'dns recursion failed');
      }
    }
    this.#log.warn(
      { name: q.name, recursors: this.#recursors.length },
      'dns: all recursors failed',
    );
    const resp = replyTo(ctx.req);
    resp.header.ra = true;
    resp.header.rcode = RCode.ServFail;
    this.#setEdns(ctx.req, resp);
    return resp;
  }

  // ------------------------------------------------------------------------ helpers

  /** Fisher–Yates from the end, as Consul's CheckServiceNodes.Shuffle. */
  #shuffle<T>(items: T[]): T[] {
    return shuffle(items, this.#random);
  }
}

/** The node/address/port an SRV answer is deduplicated on (Consul's srvRecords key). */
function srvTuple(n: CheckServiceNode): string {
  const svc = n.Service;
  const address = translateAddress(
    Accept.Any,
    svc.Address,
    svc.TaggedAddresses['lan_ipv4']?.Address ?? '',
    svc.TaggedAddresses['lan_ipv6']?.Address ?? '',
  );
  return `${n.Node.Node}:${address}:${svc.Port}`;
}
