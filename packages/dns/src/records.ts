/**
 * Record builders shared by the handler: Consul's makeARecord, address translation, SRV
 * weights, node meta as TXT (RFC 1464) and the SOA. Pure functions of their arguments.
 */
import type { CheckServiceNode, HealthCheck } from '@trellis/state';
import { formatIpv4, formatIpv6, to4 } from './ip.js';
import { CLASS_IN, RRType, type ResourceRecord } from './wire.js';

/** Which address forms a lookup accepts (Consul's dnsutil.TranslateAddressAccept). */
export const Accept = { Domain: 1, IPv4: 2, IPv6: 4, Any: 7 } as const;

/** What Consul accepts for a question type: A → IPv4 (or a name), AAAA → IPv6, else any. */
export function acceptFor(qtype: number): number {
  if (qtype === RRType.A) return Accept.Domain | Accept.IPv4;
  if (qtype === RRType.AAAA) return Accept.Domain | Accept.IPv6;
  return Accept.Any;
}

/**
 * Consul's translateAddressAccept for the local datacenter (no WAN translation): the
 * lan_ipv6 tagged address when IPv6 is accepted, else lan_ipv4 when IPv4 is, else the
 * default address. (Consul's third case tests `accept & Any`, which every accept value
 * passes, so a non-empty default always wins over the family checks that follow.)
 */
export function translateAddress(accept: number, def: string, v4: string, v6: string): string {
  if ((accept & Accept.IPv6) !== 0 && v6 !== '') return v6;
  if ((accept & Accept.IPv4) !== 0 && v4 !== '') return v4;
  return def;
}

const A_TYPES = new Set<number>([RRType.SRV, RRType.A, RRType.ANY, RRType.NS, RRType.TXT]);
const AAAA_TYPES = new Set<number>([RRType.SRV, RRType.AAAA, RRType.ANY, RRType.NS, RRType.TXT]);

/**
 * Consul's makeARecord: an A record for an IPv4(-mapped) address when the question type is
 * SRV, A, ANY, NS or TXT; an AAAA record for IPv6 when it is SRV, AAAA, ANY, NS or TXT;
 * otherwise none. The caller names it.
 */
export function addressRecord(
  qtype: number,
  ip: Uint8Array,
  ttlS: number,
  name: string,
): ResourceRecord | null {
  const v4 = to4(ip);
  if (v4 !== null) {
    if (!A_TYPES.has(qtype)) return null;
    return {
      name,
      type: RRType.A,
      class: CLASS_IN,
      ttl: ttlS,
      data: { kind: 'a', address: formatIpv4(v4) },
    };
  }
  if (!AAAA_TYPES.has(qtype)) return null;
  return {
    name,
    type: RRType.AAAA,
    class: CLASS_IN,
    ttl: ttlS,
    data: { kind: 'aaaa', address: formatIpv6(ip) },
  };
}

export function cnameRecord(name: string, target: string, ttlS: number): ResourceRecord {
  return { name, type: RRType.CNAME, class: CLASS_IN, ttl: ttlS, data: { kind: 'name', target } };
}

const NODE_MAINT = '_node_maintenance';
const SERVICE_MAINT_PREFIX = '_service_maintenance:';

/** Consul's api.HealthChecks.AggregatedStatus: maintenance > critical > warning > passing. */
export function aggregatedStatus(checks: readonly HealthCheck[]): string {
  let warning = false;
  let critical = false;
  let maintenance = false;
  for (const c of checks) {
    if (c.CheckID === NODE_MAINT || c.CheckID.startsWith(SERVICE_MAINT_PREFIX)) {
      maintenance = true;
      continue;
    }
    switch (c.Status as string) {
      case 'passing':
        break;
      case 'warning':
        warning = true;
        break;
      case 'critical':
        critical = true;
        break;
      default:
        return '';
    }
  }
  if (maintenance) return 'maintenance';
  if (critical) return 'critical';
  if (warning) return 'warning';
  // Passing, or no checks at all.
  return 'passing';
}

/**
 * Consul's findWeight: the service's Weights.Passing or Weights.Warning by the aggregated
 * status of its own and its node's checks; 0 for critical/maintenance (filtered out before
 * this in practice), 1 for an unknown status.
 */
export function srvWeight(n: CheckServiceNode): number {
  const checks = n.Checks.filter(
    (c) => c.ServiceName === n.Service.Service || c.ServiceName === '',
  );
  switch (aggregatedStatus(checks)) {
    case 'passing':
      return n.Service.Weights.Passing & 0xffff;
    case 'warning':
      return n.Service.Weights.Warning & 0xffff;
    case 'maintenance':
    case 'critical':
      return 0;
    default:
      return 1;
  }
}

/**
 * Consul's CheckServiceNodes.Filter: drops an instance with any critical check (serfHealth
 * and maintenance checks included) and, with `onlyPassing`, any non-passing check.
 */
export function healthyInstances(
  nodes: readonly CheckServiceNode[],
  onlyPassing: boolean,
): CheckServiceNode[] {
  return nodes.filter(
    (n) =>
      !n.Checks.some((c) => c.Status === 'critical' || (onlyPassing && c.Status !== 'passing')),
  );
}

/** Consul's encodeKVasRFC1464: `=` and '`' in the key and '`' in the value are quoted. */
export function encodeRfc1464(key: string, value: string): string {
  let k = key.replaceAll('`', '``').replaceAll('=', '`=');
  const lead = /^ +/.exec(k)?.[0].length ?? 0;
  k = '` '.repeat(lead) + k.slice(lead);
  const trail = / +$/.exec(k)?.[0].length ?? 0;
  k = k.slice(0, k.length - trail) + '` '.repeat(trail);
  return `${k}=${value.replaceAll('`', '``')}`;
}

/** Text as TXT character-strings: UTF-8, cut into 255-byte pieces (one empty string for ""). */
export function txtStrings(text: string): Uint8Array[] {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length === 0) return [new Uint8Array(0)];
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += 255) out.push(Uint8Array.from(bytes.subarray(i, i + 255)));
  return out;
}

/**
 * Consul's makeTXTRecordFromNodeMeta: one TXT record per meta key, "key=value" (RFC 1464),
 * or the bare value for keys starting "rfc1035-". Sorted by key (Consul's order is Go's
 * random map order).
 */
export function metaTxtRecords(
  name: string,
  meta: Readonly<Record<string, string>>,
  ttlS: number,
): ResourceRecord[] {
  return Object.keys(meta)
    .sort()
    .map((key) => {
      const value = meta[key]!;
      const text = key.toLowerCase().startsWith('rfc1035-') ? value : encodeRfc1464(key, value);
      return {
        name,
        type: RRType.TXT,
        class: CLASS_IN,
        ttl: ttlS,
        data: { kind: 'txt', strings: txtStrings(text) },
      };
    });
}

export interface SoaValues {
  readonly refresh: number;
  readonly retry: number;
  readonly expire: number;
  readonly minTtl: number;
}

/** Consul's makeSOARecord for `zone`: ns.<zone>, hostmaster.<zone>, serial = now (s). */
export function soaRecord(zone: string, serial: number, v: SoaValues): ResourceRecord {
  return {
    name: zone,
    type: RRType.SOA,
    class: CLASS_IN,
    ttl: v.minTtl,
    data: {
      kind: 'soa',
      mname: `ns.${zone}`,
      rname: `hostmaster.${zone}`,
      serial: serial >>> 0,
      refresh: v.refresh,
      retry: v.retry,
      expire: v.expire,
      minimum: v.minTtl,
    },
  };
}

/** An identity for a record (Consul dedups on miekg's RR.String()). */
export function recordKey(rr: ResourceRecord): string {
  const data =
    rr.data.kind === 'txt' ? rr.data.strings.map((s) => Buffer.from(s).toString('hex')) : rr.data;
  return JSON.stringify([rr.name, rr.ttl, rr.class, rr.type, data]);
}

/**
 * Fisher–Yates from the end, in place, as Consul's CheckServiceNodes.Shuffle: one draw of
 * `random` per position from the last down to the second.
 */
export function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.min(i, Math.floor(random() * (i + 1)));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** 0, 1, …, n − 1. */
export function identityOrder(n: number): number[] {
  const order = new Array<number>(n);
  for (let i = 0; i < n; i++) order[i] = i;
  return order;
}

/** What one healthy service instance contributes to an answer, before deduplication. */
export interface InstanceRecords<R> {
  readonly answer: readonly R[];
  readonly extra: readonly R[];
  /**
   * Instances with the same key answer once, the first in answer order wins: for A/AAAA
   * (and other non-SRV types) the identity of the first answer record (Consul dedups on
   * RR.String()), for SRV the node/address/port tuple. Keys are 0 … count − 1.
   */
  readonly key: number;
  /** Its answer is a CNAME to a host name rather than an address. */
  readonly cname: boolean;
}

/**
 * How a service answer is put together from its instances: Consul's
 * addServiceNodeRecordsToMessage (`address`: every type but SRV) and
 * addServiceSRVRecordsToMessage (`srv`).
 */
export interface ServiceParts<R> {
  readonly kind: 'address' | 'srv';
  readonly instances: readonly InstanceRecords<R>[];
}

/** Keys seen by assembleService: `seen[key] === round` (reused, it runs once per answer). */
let seen = new Uint32Array(64);
let round = 0;

/**
 * The answer and additional records of a service lookup, its instances taken in `order`
 * (a shuffle of their indexes):
 *  - address: one answer per distinct key, instances without an answer skipped; a CNAME
 *    answer only when no instance has an address record (the first such in order);
 *  - srv: one SRV (and its extra records) per distinct node/address/port.
 */
export function assembleService<R>(
  parts: ServiceParts<R>,
  order: readonly number[],
): { answer: R[]; extra: R[] } {
  const answer: R[] = [];
  const extra: R[] = [];
  if (seen.length < parts.instances.length) seen = new Uint32Array(parts.instances.length * 2);
  if (++round === 0xffffffff) {
    seen.fill(0);
    round = 1;
  }
  if (parts.kind === 'srv') {
    for (const i of order) {
      const inst = parts.instances[i]!;
      if (seen[inst.key] === round) continue;
      seen[inst.key] = round;
      for (const rr of inst.answer) answer.push(rr);
      for (const rr of inst.extra) extra.push(rr);
    }
    return { answer, extra };
  }
  let cnames: readonly R[] | undefined;
  for (const i of order) {
    const inst = parts.instances[i]!;
    if (inst.answer.length === 0 || seen[inst.key] === round) continue;
    seen[inst.key] = round;
    if (inst.cname) cnames ??= inst.answer;
    else for (const rr of inst.answer) answer.push(rr);
  }
  if (answer.length === 0 && cnames !== undefined) answer.push(...cnames);
  return { answer, extra };
}
