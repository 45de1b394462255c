/**
 * Query names → what they ask for: Consul's DNS name grammar (agent/dns.go: the ServeMux
 * zones, trimDomain, getResponseDomain, dispatch and parseLocality), pure and table-tested.
 *
 *   [tag.]name.service[.dc].<domain>         _name._tag.service[.dc].<domain>
 *   _name._tag[.dc].<domain> (SRV only)      name.connect[.dc].<domain>
 *   name.ingress[.dc].<domain>               name.virtual[.peer].<domain>
 *   node.node[.dc].<domain>                  name.query[.dc].<domain>
 *   <hex-ip>.addr[.anything].<domain>        … where [.dc] is also "<dc>.dc" or "<peer>.peer"
 *
 * All matching is on the lower-cased name; labels keep their presentation escapes, as
 * Consul's do (dns.SplitDomainName).
 */
import { RRType, splitName } from './wire.js';

/** The zones a handler serves: lower-case FQDNs; `altDomain` '' when there is none. */
export interface Zones {
  readonly domain: string;
  readonly altDomain: string;
}

/** A configured domain as a zone: lower case, fully qualified; '' and '.' mean none. */
export function normalizeDomain(d: string): string {
  const lower = d.trim().toLowerCase();
  if (lower === '' || lower === '.') return '';
  return lower.endsWith('.') ? lower : lower + '.';
}

/** Which of Consul's handlers serves a question. */
export type Route = 'ptr' | 'domain' | 'recurse' | 'refused';

/**
 * miekg/dns ServeMux.match over Consul's registrations: "arpa." → PTR, the domain and the
 * alt domain → queries, "." → recursion (only when recursors are configured). The most
 * specific zone wins, except that DS goes to the parent (the root, when registered); a
 * name under no zone is REFUSED.
 */
export function routeQuestion(
  name: string,
  qtype: number,
  zones: Zones,
  recursion: boolean,
): Route {
  const labels = splitName(name.toLowerCase());
  let found: Route | undefined;
  for (let i = 0; i < labels.length; i++) {
    const suffix = labels.slice(i).join('.') + '.';
    let route: Route | undefined;
    if (suffix === 'arpa.') route = 'ptr';
    if (suffix === zones.domain || (zones.altDomain !== '' && suffix === zones.altDomain)) {
      route = 'domain';
    }
    if (route === undefined) continue;
    if (qtype !== RRType.DS) return route;
    found = route;
  }
  if (recursion) return 'recurse';
  return found ?? 'refused';
}

export interface SplitName {
  /** Lower-case labels below the zone (Consul's trimDomain + SplitDomainName). */
  readonly labels: string[];
  /** The zone as the question spelled it (Consul's getResponseDomain), e.g. "CONSUL.". */
  readonly responseDomain: string;
}

/** Splits a question name in `zones` into the labels below the zone and the zone's spelling. */
export function splitQueryName(name: string, zones: Zones): SplitName {
  const orig = splitName(name);
  const lower = orig.map((l) => l.toLowerCase());
  // The longest suffix naming the domain or the alt domain.
  for (let k = orig.length; k >= 1; k--) {
    const suffix = lower.slice(orig.length - k).join('.') + '.';
    if (suffix === zones.domain || (zones.altDomain !== '' && suffix === zones.altDomain)) {
      return {
        labels: lower.slice(0, orig.length - k),
        responseDomain: orig.slice(orig.length - k).join('.') + '.',
      };
    }
  }
  return { labels: lower, responseDomain: zones.domain };
}

/** Where a lookup goes: a datacenter, a cluster peer, or (both undefined) the local DC. */
export interface Locality {
  readonly datacenter: string | undefined;
  readonly peer: string | undefined;
}

export type ParsedQuery =
  | {
      readonly kind: 'service';
      readonly service: string;
      readonly tag: string;
      readonly locality: Locality;
    }
  | {
      readonly kind: 'connect' | 'ingress' | 'virtual';
      readonly service: string;
      readonly locality: Locality;
    }
  | { readonly kind: 'node'; readonly node: string; readonly locality: Locality }
  | { readonly kind: 'query'; readonly query: string; readonly datacenter: string | undefined }
  | { readonly kind: 'addr'; readonly ip: Uint8Array }
  | { readonly kind: 'invalid'; readonly reason: string };

const KINDS = new Set(['service', 'connect', 'virtual', 'ingress', 'node', 'query', 'addr']);

/**
 * Consul's parseLocality: no label (local DC), one label (a DC — or a peer, for virtual),
 * or "<dc>.dc" / "<peer>.peer" pairs (not both). Anything else is invalid (null).
 */
export function parseLocality(labels: readonly string[]): Locality | null {
  switch (labels.length) {
    case 0:
      return { datacenter: undefined, peer: undefined };
    case 1:
      return { datacenter: labels[0], peer: undefined };
    case 2:
    case 4: {
      let datacenter: string | undefined;
      let peer: string | undefined;
      for (let i = 0; i < labels.length; i += 2) {
        const value = labels[i]!;
        switch (labels[i + 1]) {
          case 'dc':
            datacenter = value;
            break;
          case 'peer':
            peer = value;
            break;
          default:
            return null;
        }
      }
      if (datacenter !== undefined && peer !== undefined) return null;
      return { datacenter, peer };
    }
    default:
      return null;
  }
}

const invalid = (reason: string): ParsedQuery => ({ kind: 'invalid', reason });

/**
 * Consul's dispatch over the labels below the zone: the rightmost kind label decides (or,
 * for SRV, the rightmost label starting with '_', which implies "service"); the labels
 * before it are the query parts, the labels after it the locality.
 */
export function parseQueryName(labels: readonly string[], qtype: number): ParsedQuery {
  let kind = '';
  let parts: readonly string[] = [];
  let suffixes: readonly string[] = [];
  for (let i = labels.length - 1; i >= 0; i--) {
    const l = labels[i]!;
    if (KINDS.has(l)) {
      kind = l;
      parts = labels.slice(0, i);
      suffixes = labels.slice(i + 1);
      break;
    }
    // RFC 2782 SRV names may leave out the "service" label.
    if (qtype === RRType.SRV && l.startsWith('_')) {
      kind = 'service';
      parts = labels.slice(0, i + 1);
      suffixes = labels.slice(i + 1);
      break;
    }
  }
  const n = parts.length;
  switch (kind) {
    case 'service': {
      if (n < 1) return invalid('no service name');
      const locality = parseLocality(suffixes);
      if (locality === null) return invalid('bad locality');
      if (n === 2 && parts[0]!.startsWith('_') && parts[1]!.startsWith('_')) {
        // _name._tag: "_tcp" means no tag filter (Consul treats only "tcp" so).
        const tag = parts[1]!.slice(1);
        return {
          kind: 'service',
          service: parts[0]!.slice(1),
          tag: tag === 'tcp' ? '' : tag,
          locality,
        };
      }
      // tag[.more.tag].name: Consul 0.3's form, the tag may contain dots.
      return {
        kind: 'service',
        service: parts[n - 1]!,
        tag: parts.slice(0, n - 1).join('.'),
        locality,
      };
    }
    case 'connect':
    case 'ingress':
    case 'virtual': {
      if (n < 1) return invalid(`no ${kind} name`);
      const locality = parseLocality(suffixes);
      if (locality === null) return invalid('bad locality');
      return { kind, service: parts[n - 1]!, locality };
    }
    case 'node': {
      if (n < 1) return invalid('no node name');
      const locality = parseLocality(suffixes);
      if (locality === null) return invalid('bad locality');
      // A node name may contain dots: every part is the name.
      return { kind: 'node', node: parts.join('.'), locality };
    }
    case 'query': {
      if (n < 1) return invalid('no query name');
      if (suffixes.length > 1) return invalid('bad datacenter');
      const query =
        n >= 2 && parts[0]!.startsWith('_') && parts[n - 1]!.startsWith('_')
          ? parts
              .slice(0, n - 1)
              .join('.')
              .slice(1)
          : parts.join('.');
      return { kind: 'query', query, datacenter: suffixes[0] };
    }
    case 'addr': {
      // <hex>.addr[.anything]: the labels after "addr" are not read.
      if (n !== 1) return invalid('addr takes one label');
      const hex = parts[0]!;
      const bytes = Math.floor(hex.length / 2);
      if (bytes !== 4 && bytes !== 16) return invalid('addr is not 8 or 32 hex digits');
      if (hex.length % 2 !== 0 || !/^[0-9a-f]*$/.test(hex)) return invalid('addr is not hex');
      return { kind: 'addr', ip: Uint8Array.from(Buffer.from(hex, 'hex')) };
    }
    default:
      return invalid('no lookup kind');
  }
}
