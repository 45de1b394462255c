/**
 * Connection and request authorization by intentions.
 *
 * Semantics (sources: hashicorp/consul agent/connect_auth.go ConnectAuthorize,
 * agent/consul/intention_endpoint.go Check, agent/consul/state/intention.go
 * IntentionDecision, agent/xds/rbac.go makeRBACRules, removeSourcePrecedence,
 * removePermissionPrecedence, convertPermission):
 *
 * - The intentions that apply to a destination are its own and those of `*`. They are taken in
 *   precedence order; the first whose source is the caller (or `*`) decides alone: lower
 *   precedence intentions never apply to a source a higher one matched (Envoy RBAC subtracts
 *   higher-precedence sources from lower ones). No match: the default (ACL default policy).
 * - L4 intention (no Permissions): its Action.
 * - L7 intention (Permissions) judged without a request — `/v1/agent/connect/authorize`,
 *   `/v1/connect/intentions/check`, a tcp listener — denies ("This treats any L7 intentions as
 *   DENY"; Envoy's network RBAC filter does the same).
 * - L7 intention judged with a request: its permissions in order, the first that matches
 *   decides (a deny is subtracted from every later allow, allows are ORed); when none matches
 *   the default applies — it does not fall through to lower-precedence intentions.
 * - A permission matches when all its HTTP conditions hold: the path (without query and
 *   fragment) is exact / has the prefix / fully matches the regex; the method is one of
 *   Methods; each header condition holds. A header's values are joined with "," (Envoy); an
 *   absent header satisfies no condition except `Present` with `Invert` (Envoy's header
 *   matcher). Header names compare case-insensitively, everything else exactly.
 * - Without namespaces two intentions cannot tie on precedence for one source and
 *   destination; if the input holds such a tie anyway, a deny comes first ("deny wins").
 *
 * {@link authorize} is the plain reading of these rules; {@link compileAuthorizer} is the
 * proxy's hot path over the serializable {@link CompiledIntentions} of a snapshot, with
 * regexes compiled once and the deciding rule found by a map lookup. They are kept equal by a
 * property test.
 */
import type { IntentionAction, IntentionPermission } from './config-entries.js';
import { WILDCARD } from './config-entries.js';
import { compareGo, describeIntention, type IntentionRule } from './intentions.js';
import { compileFullMatch } from './regex.js';

/** What an L7 decision looks at. Header names may be in any case; values may repeat. */
export interface HttpRequestInfo {
  readonly method: string;
  /** The request target's path; a query string or fragment is ignored. */
  readonly path: string;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
}

/** The intention that decided. */
export interface IntentionRef {
  readonly sourceName: string;
  readonly destinationName: string;
  readonly precedence: number;
  /** The legacy ID, or null. */
  readonly id: string | null;
}

export interface AuthzDecision {
  readonly allowed: boolean;
  /** Consul's reason text ("Matched L4 intention: …", "Default behavior configured by ACLs"). */
  readonly reason: string;
  /** Absent when the default decided. */
  readonly matched?: IntentionRef;
  /** The index of the permission that decided an L7 request, when one did. */
  readonly permission?: number;
}

export interface AuthorizeInput {
  /** The service being connected to. */
  readonly destination: string;
  /** Intentions for the destination and for `*` (others are ignored). */
  readonly intentions: readonly IntentionRule[];
  /** The caller's service name (from its certificate's SPIFFE ID). */
  readonly source: string;
  /** The HTTP request, for an L7 decision; absent for a connection (L4) decision. */
  readonly request?: HttpRequestInfo | undefined;
  /** The default when no intention matches (the ACL default policy; allow without ACLs). */
  readonly defaultAllow: boolean;
}

export const DEFAULT_REASON = 'Default behavior configured by ACLs';

/** Deny before L7 before allow: how equal-precedence rules are ordered ("deny wins ties"). */
function rank(action: string | undefined, permissions: number): number {
  if (permissions > 0) return 1;
  return action === 'allow' ? 2 : 0;
}

/**
 * The order intentions are evaluated in: precedence descending, then deny before L7 before
 * allow, then source, destination and ID (Go byte order).
 */
export function compareRules(a: IntentionRule, b: IntentionRule): number {
  return (
    b.Precedence - a.Precedence ||
    rank(a.Action, a.Permissions?.length ?? 0) - rank(b.Action, b.Permissions?.length ?? 0) ||
    compareGo(a.SourceName, b.SourceName) ||
    compareGo(a.DestinationName, b.DestinationName) ||
    compareGo(a.ID ?? '', b.ID ?? '')
  );
}

function applies(destination: string, ixn: IntentionRule): boolean {
  return ixn.DestinationName === destination || ixn.DestinationName === WILDCARD;
}

function refOf(ixn: IntentionRule): IntentionRef {
  return {
    sourceName: ixn.SourceName,
    destinationName: ixn.DestinationName,
    precedence: ixn.Precedence,
    id: ixn.ID !== undefined && ixn.ID !== '' ? ixn.ID : null,
  };
}

/** Reference implementation: the rules above, read literally. */
export function authorize(input: AuthorizeInput): AuthzDecision {
  const ordered = input.intentions.filter((i) => applies(input.destination, i)).sort(compareRules);
  const ixn = ordered.find((i) => i.SourceName === WILDCARD || i.SourceName === input.source);
  if (ixn === undefined) return { allowed: input.defaultAllow, reason: DEFAULT_REASON };
  const perms = ixn.Permissions ?? [];
  const text = describeIntention(
    ixn.ID ?? '',
    ixn.SourceName,
    ixn.DestinationName,
    ixn.Precedence,
    perms.length,
    ixn.Action ?? '',
  );
  const matched = refOf(ixn);
  if (perms.length === 0) {
    return { allowed: ixn.Action === 'allow', reason: `Matched L4 intention: ${text}`, matched };
  }
  if (input.request === undefined) {
    return { allowed: false, reason: `Matched L7 intention: ${text}`, matched };
  }
  for (let j = 0; j < perms.length; j++) {
    const perm = perms[j] as IntentionPermission;
    if (permissionMatches(perm, input.request)) {
      return {
        allowed: perm.Action === 'allow',
        reason: `Matched permission ${j + 1} of L7 intention: ${text}`,
        matched,
        permission: j,
      };
    }
  }
  return { allowed: input.defaultAllow, reason: noPermissionReason(text), matched };
}

function noPermissionReason(text: string): string {
  return `No permission of L7 intention matched, default behavior configured by ACLs: ${text}`;
}

function stripQuery(path: string): string {
  let end = path.length;
  const q = path.indexOf('?');
  if (q >= 0) end = q;
  const h = path.indexOf('#');
  if (h >= 0 && h < end) end = h;
  return path.slice(0, end);
}

/** All values of a header (any case of its name), joined with ","; undefined when absent. */
function headerValue(headers: HttpRequestInfo['headers'], lowerName: string): string | undefined {
  const values: string[] = [];
  for (const key of Object.keys(headers)) {
    if (key.toLowerCase() !== lowerName) continue;
    const v = headers[key];
    if (v === undefined) continue;
    if (typeof v === 'string') values.push(v);
    else values.push(...v);
  }
  return values.length === 0 ? undefined : values.join(',');
}

function permissionMatches(perm: IntentionPermission, req: HttpRequestInfo): boolean {
  const http = perm.HTTP;
  const path = stripQuery(req.path);
  // One path condition at most: exact, else prefix, else regex (convertPermission's switch).
  if (http.PathExact !== undefined) {
    if (path !== http.PathExact) return false;
  } else if (http.PathPrefix !== undefined) {
    if (!path.startsWith(http.PathPrefix)) return false;
  } else if (http.PathRegex !== undefined) {
    if (compileFullMatch(http.PathRegex)?.test(path) !== true) return false;
  }
  if (http.Methods !== undefined && http.Methods.length > 0 && !http.Methods.includes(req.method)) {
    return false;
  }
  for (const h of http.Header ?? []) {
    // Exact, else Regex, else Prefix, else Suffix, else Present; none: skipped (as Consul).
    let test: (value: string) => boolean;
    let presence = false;
    if (h.Exact !== undefined) test = (v) => v === h.Exact;
    else if (h.Regex !== undefined) test = (v) => compileFullMatch(h.Regex ?? '')?.test(v) === true;
    else if (h.Prefix !== undefined) test = (v) => v.startsWith(h.Prefix ?? '');
    else if (h.Suffix !== undefined) test = (v) => v.endsWith(h.Suffix ?? '');
    else if (h.Present === true) [test, presence] = [() => true, true];
    else continue;
    const invert = h.Invert === true;
    const value = headerValue(req.headers, h.Name.toLowerCase());
    // Envoy: an absent header satisfies only an inverted presence match.
    if (value === undefined) {
      if (presence && invert) continue;
      return false;
    }
    if (test(value) === invert) return false;
  }
  return true;
}

/** `/v1/connect/intentions/check`: the L4 decision (an L7 intention counts as deny). */
export function checkIntention(input: {
  readonly intentions: readonly IntentionRule[];
  readonly source: string;
  readonly destination: string;
  readonly defaultAllow: boolean;
}): { readonly Allowed: boolean } {
  return { Allowed: authorize(input).allowed };
}

// ---------------------------------------------------------------------- compiled form

/** A header condition, ready to evaluate. `name` is lower case. */
export interface CompiledHeader {
  readonly name: string;
  readonly match: 'present' | 'exact' | 'prefix' | 'suffix' | 'regex';
  readonly value: string;
  readonly invert: boolean;
}

export interface CompiledPermission {
  readonly action: IntentionAction;
  readonly path: { readonly match: 'exact' | 'prefix' | 'regex'; readonly value: string } | null;
  /** Empty: any method. */
  readonly methods: readonly string[];
  readonly headers: readonly CompiledHeader[];
}

export interface CompiledRule {
  readonly id: string | null;
  readonly source: string;
  /** The intention's destination: the service or `*`. */
  readonly destination: string;
  readonly precedence: number;
  /** The L4 action; null for an L7 intention (or an invalid one without an action). */
  readonly action: IntentionAction | null;
  /** Non-empty for an L7 intention. */
  readonly permissions: readonly CompiledPermission[];
}

/**
 * The serializable intentions of one destination, as a proxy snapshot carries them: the
 * applicable rules in evaluation order ({@link compareRules}) and the default.
 */
export interface CompiledIntentions {
  readonly destination: string;
  readonly defaultAllow: boolean;
  readonly rules: readonly CompiledRule[];
}

/** The rules that apply to `destination`, in evaluation order, in plain serializable form. */
export function compileIntentions(
  destination: string,
  intentions: readonly IntentionRule[],
  defaultAllow: boolean,
): CompiledIntentions {
  const rules = intentions
    .filter((i) => applies(destination, i))
    .sort(compareRules)
    .map((i): CompiledRule => ({
      id: i.ID !== undefined && i.ID !== '' ? i.ID : null,
      source: i.SourceName,
      destination: i.DestinationName,
      precedence: i.Precedence,
      action: i.Action ?? null,
      permissions: (i.Permissions ?? []).map(compilePermission),
    }));
  return { destination, defaultAllow, rules };
}

function compilePermission(p: IntentionPermission): CompiledPermission {
  const h = p.HTTP;
  const path =
    h.PathExact !== undefined
      ? { match: 'exact' as const, value: h.PathExact }
      : h.PathPrefix !== undefined
        ? { match: 'prefix' as const, value: h.PathPrefix }
        : h.PathRegex !== undefined
          ? { match: 'regex' as const, value: h.PathRegex }
          : null;
  return {
    action: p.Action,
    path,
    methods: [...(h.Methods ?? [])],
    headers: (h.Header ?? []).flatMap((x): CompiledHeader[] => {
      const m =
        x.Exact !== undefined
          ? { match: 'exact' as const, value: x.Exact }
          : x.Regex !== undefined
            ? { match: 'regex' as const, value: x.Regex }
            : x.Prefix !== undefined
              ? { match: 'prefix' as const, value: x.Prefix }
              : x.Suffix !== undefined
                ? { match: 'suffix' as const, value: x.Suffix }
                : x.Present === true
                  ? { match: 'present' as const, value: '' }
                  : null;
      return m === null ? [] : [{ name: x.Name.toLowerCase(), ...m, invert: x.Invert === true }];
    }),
  };
}

/** A compiled intention set's decision function (the sidecar's hot path). */
export interface Authorizer {
  /** L4: may this source connect? (An L7 intention denies.) */
  connection(source: string): AuthzDecision;
  /** L7: may this source make this request? */
  request(source: string, request: HttpRequestInfo): AuthzDecision;
  /** `request` when a request is given, else `connection`. */
  authorize(source: string, request?: HttpRequestInfo): AuthzDecision;
}

type Matcher = (
  path: string,
  method: string,
  headers: (name: string) => string | undefined,
) => boolean;

interface PreparedRule {
  readonly l4: AuthzDecision;
  readonly permissions: readonly { readonly test: Matcher; readonly decision: AuthzDecision }[];
  readonly noMatch: AuthzDecision;
}

/**
 * Prepares a {@link CompiledIntentions} (possibly after a trip through msgpack or JSON) for
 * fast decisions: every regex compiled once, decisions pre-built, the deciding rule found by
 * a lookup of the source's first rule and the first wildcard rule.
 */
export function compileAuthorizer(compiled: CompiledIntentions): Authorizer {
  const defaultDecision: AuthzDecision = Object.freeze({
    allowed: compiled.defaultAllow,
    reason: DEFAULT_REASON,
  });
  const prepared: PreparedRule[] = compiled.rules.map((r) => prepareRule(r, compiled.defaultAllow));
  const firstBySource = new Map<string, number>();
  let firstWildcard = Infinity;
  compiled.rules.forEach((r, i) => {
    if (r.source === WILDCARD) firstWildcard = Math.min(firstWildcard, i);
    else if (!firstBySource.has(r.source)) firstBySource.set(r.source, i);
  });
  const needsHeaders = compiled.rules.some((r) => r.permissions.some((p) => p.headers.length > 0));

  const ruleFor = (source: string): PreparedRule | undefined => {
    const i = Math.min(firstBySource.get(source) ?? Infinity, firstWildcard);
    return i === Infinity ? undefined : prepared[i];
  };
  const connection = (source: string): AuthzDecision => ruleFor(source)?.l4 ?? defaultDecision;
  const request = (source: string, req: HttpRequestInfo): AuthzDecision => {
    const rule = ruleFor(source);
    if (rule === undefined) return defaultDecision;
    if (rule.permissions.length === 0) return rule.l4;
    const path = stripQuery(req.path);
    const lookup = needsHeaders ? headerLookup(req.headers) : () => undefined;
    for (const p of rule.permissions) {
      if (p.test(path, req.method, lookup)) return p.decision;
    }
    return rule.noMatch;
  };
  return {
    connection,
    request,
    authorize: (source, req) => (req === undefined ? connection(source) : request(source, req)),
  };
}

function prepareRule(r: CompiledRule, defaultAllow: boolean): PreparedRule {
  const text = describeIntention(
    r.id ?? '',
    r.source,
    r.destination,
    r.precedence,
    r.permissions.length,
    r.action ?? '',
  );
  const matched: IntentionRef = Object.freeze({
    sourceName: r.source,
    destinationName: r.destination,
    precedence: r.precedence,
    id: r.id,
  });
  const l4: AuthzDecision =
    r.permissions.length === 0
      ? Object.freeze({
          allowed: r.action === 'allow',
          reason: `Matched L4 intention: ${text}`,
          matched,
        })
      : Object.freeze({ allowed: false, reason: `Matched L7 intention: ${text}`, matched });
  return {
    l4,
    permissions: r.permissions.map((p, j) => ({
      test: prepareMatcher(p),
      decision: Object.freeze({
        allowed: p.action === 'allow',
        reason: `Matched permission ${j + 1} of L7 intention: ${text}`,
        matched,
        permission: j,
      }),
    })),
    noMatch: Object.freeze({ allowed: defaultAllow, reason: noPermissionReason(text), matched }),
  };
}

function prepareMatcher(p: CompiledPermission): Matcher {
  let pathTest: (path: string) => boolean = () => true;
  if (p.path !== null) {
    const v = p.path.value;
    if (p.path.match === 'exact') pathTest = (path) => path === v;
    else if (p.path.match === 'prefix') pathTest = (path) => path.startsWith(v);
    else {
      const re = compileFullMatch(v);
      pathTest = re === null ? () => false : (path) => re.test(path);
    }
  }
  const methods = p.methods.length > 0 ? new Set(p.methods) : null;
  const headers = p.headers.map((h): ((lookup: (n: string) => string | undefined) => boolean) => {
    const test = valueTest(h);
    const { name, invert } = h;
    const presentInvert = h.match === 'present' && invert;
    return (lookup) => {
      const value = lookup(name);
      if (value === undefined) return presentInvert;
      return test(value) !== invert;
    };
  });
  return (path, method, lookup) => {
    if (!pathTest(path)) return false;
    if (methods !== null && !methods.has(method)) return false;
    for (const h of headers) if (!h(lookup)) return false;
    return true;
  };
}

function valueTest(h: CompiledHeader): (value: string) => boolean {
  const v = h.value;
  switch (h.match) {
    case 'exact':
      return (x) => x === v;
    case 'prefix':
      return (x) => x.startsWith(v);
    case 'suffix':
      return (x) => x.endsWith(v);
    case 'regex': {
      const re = compileFullMatch(v);
      return re === null ? () => false : (x) => re.test(x);
    }
    case 'present':
      return () => true;
  }
}

/** A per-request lower-cased view of the headers, built on first use. */
function headerLookup(headers: HttpRequestInfo['headers']): (name: string) => string | undefined {
  let map: Map<string, string[]> | undefined;
  return (name) => {
    if (map === undefined) {
      map = new Map();
      for (const key of Object.keys(headers)) {
        const v = headers[key];
        if (v === undefined) continue;
        const lower = key.toLowerCase();
        let list = map.get(lower);
        if (list === undefined) map.set(lower, (list = []));
        if (typeof v === 'string') list.push(v);
        else list.push(...v);
      }
    }
    const list = map.get(name);
    return list === undefined || list.length === 0 ? undefined : list.join(',');
  };
}
