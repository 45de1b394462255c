/**
 * Request-building helpers Consul's Go client has and ours lacks: a query parameter given
 * several times (`node-meta=rack:r1&node-meta=env:prod`, Go's url.Values.Add) and a path
 * segment escaped the way Go's URL.EscapedPath does (`:` and `@` kept, `/` and `?` escaped).
 */
import { ApiClient, type Query } from '../../api/index.js';

/** Query values; an array repeats the parameter once per element, in order. */
export type ListQuery = Readonly<Record<string, string | number | readonly string[] | undefined>>;

/**
 * An ApiClient whose query may repeat a parameter. Pairs are sorted by key like Go's
 * url.Values.Encode; the values of one key keep their order (the sort is stable).
 */
export class ListQueryClient extends ApiClient {
  override url(path: string, query: Query = {}): URL {
    const scalars: Record<string, string | number | undefined> = {};
    const repeated: Array<[string, string]> = [];
    for (const [k, v] of Object.entries(query as ListQuery)) {
      if (Array.isArray(v)) for (const x of v as readonly string[]) repeated.push([k, x]);
      else scalars[k] = v as string | number | undefined;
    }
    const u = super.url(path, scalars);
    if (repeated.length === 0) return u;
    const pairs = u.search === '' ? [] : u.search.slice(1).split('&');
    for (const [k, v] of repeated) pairs.push(`${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
    const key = (p: string): string => p.slice(0, p.indexOf('='));
    pairs.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    u.search = pairs.join('&');
    return u;
  }
}

/**
 * Hands a ListQuery to a request. Only a ListQueryClient (what clientFromFlags builds) knows
 * to repeat array values; any other client would send "a,b", so it is refused.
 */
export function listQuery(client: ApiClient, query: ListQuery): Query {
  if (!(client instanceof ListQueryClient)) {
    throw new TypeError(
      'listQuery needs a ListQueryClient (build the client with clientFromFlags)',
    );
  }
  return query as unknown as Query;
}

/** Characters Go's path escaping leaves as they are but encodeURIComponent escapes. */
const KEPT_IN_PATH: Readonly<Record<string, string>> = {
  '%24': '$',
  '%26': '&',
  '%2B': '+',
  '%2C': ',',
  '%3A': ':',
  '%3B': ';',
  '%3D': '=',
  '%40': '@',
};

/**
 * One path segment (a node name, an address, a service ID) escaped for a URL: `/`, `?`, `#`,
 * `%` and spaces are escaped so the value stays one segment (Go keeps `/`, which would split
 * it); `host:port` and `user@host` read as they do in Consul's request lines.
 */
export function pathSegment(s: string): string {
  return encodeURIComponent(s).replace(/%(24|26|2B|2C|3A|3B|3D|40)/g, (m) => KEPT_IN_PATH[m]!);
}
