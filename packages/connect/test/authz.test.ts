// authorize / checkIntention / compileAuthorizer: Consul's L4 and L7 semantics by example.
import test from 'ava';
import {
  authorize,
  checkIntention,
  compileAuthorizer,
  compileIntentions,
  decodeConfigEntry,
  intentionRules,
  type AuthzDecision,
  type HttpRequestInfo,
  type IntentionRule,
  type ServiceIntentionsEntry,
} from '../src/index.js';

function rules(...bodies: unknown[]): IntentionRule[] {
  return intentionRules(bodies.map((b) => decodeConfigEntry(b) as ServiceIntentionsEntry));
}

/** authorize, asserting that the compiled authorizer agrees. */
function decide(
  t: { deepEqual: (a: unknown, b: unknown, m?: string) => void },
  intentions: readonly IntentionRule[],
  source: string,
  defaultAllow: boolean,
  request?: HttpRequestInfo,
  destination = 'db',
): AuthzDecision {
  const d = authorize({ destination, intentions, source, request, defaultAllow });
  const az = compileAuthorizer(compileIntentions(destination, intentions, defaultAllow));
  t.deepEqual(az.authorize(source, request), d, 'the compiled authorizer agrees');
  return d;
}

const req = (method: string, path: string, headers: HttpRequestInfo['headers'] = {}) => ({
  method,
  path,
  headers,
});

test('no intentions: the default decides, both ways', (t) => {
  t.deepEqual(decide(t, [], 'web', false), {
    allowed: false,
    reason: 'Default behavior configured by ACLs',
  });
  t.deepEqual(decide(t, [], 'web', true), {
    allowed: true,
    reason: 'Default behavior configured by ACLs',
  });
  t.true(decide(t, [], 'web', true, req('GET', '/')).allowed);
});

const l4 = rules(
  {
    Kind: 'service-intentions',
    Name: 'db',
    Sources: [
      { Name: 'web', Action: 'allow' },
      { Name: '*', Action: 'deny' },
    ],
  },
  {
    Kind: 'service-intentions',
    Name: '*',
    Sources: [
      { Name: 'admin', Action: 'allow' },
      { Name: '*', Action: 'allow' },
    ],
  },
  { Kind: 'service-intentions', Name: 'cache', Sources: [{ Name: 'web', Action: 'deny' }] },
);

test('L4: the highest-precedence matching intention decides', (t) => {
  t.deepEqual(decide(t, l4, 'web', false), {
    allowed: true,
    reason: 'Matched L4 intention: default/web => default/db (Precedence: 9, Action: ALLOW)',
    matched: { sourceName: 'web', destinationName: 'db', precedence: 9, id: null },
  });
  const admin = decide(t, l4, 'admin', true);
  t.false(admin.allowed, '* -> db (8) outranks admin -> * (6)');
  t.is(admin.matched?.precedence, 8);
  // For another destination the * entry applies.
  t.true(decide(t, l4, 'admin', false, undefined, 'api').allowed);
  t.is(decide(t, l4, 'web', false, undefined, 'api').matched?.precedence, 5);
  // cache's own entry denies web; the * -> * allow is lower.
  t.false(decide(t, l4, 'web', true, undefined, 'cache').allowed);
  // An L4 intention decides HTTP requests too.
  t.true(decide(t, l4, 'web', false, req('DELETE', '/anything')).allowed);
});

test('deny wins ties at equal precedence', (t) => {
  const tie: IntentionRule[] = [
    { SourceName: 'web', DestinationName: 'db', Precedence: 9, Action: 'allow' },
    { SourceName: 'web', DestinationName: 'db', Precedence: 9, Action: 'deny' },
    { SourceName: 'web', DestinationName: 'db', Precedence: 9, Action: 'allow' },
  ];
  t.false(decide(t, tie, 'web', true).allowed);
  t.false(decide(t, [...tie].reverse(), 'web', true).allowed);
});

test('the legacy ID shows in the reason and the reference', (t) => {
  const withId: IntentionRule[] = [
    { ID: 'abc-123', SourceName: 'web', DestinationName: 'db', Precedence: 9, Action: 'deny' },
  ];
  t.deepEqual(decide(t, withId, 'web', true), {
    allowed: false,
    reason:
      'Matched L4 intention: default/web => default/db (ID: abc-123, Precedence: 9, Action: DENY)',
    matched: { sourceName: 'web', destinationName: 'db', precedence: 9, id: 'abc-123' },
  });
});

const l7 = rules(
  {
    Kind: 'service-intentions',
    Name: 'db',
    Sources: [
      {
        Name: 'web',
        Permissions: [
          { Action: 'deny', HTTP: { PathPrefix: '/admin' } },
          { Action: 'allow', HTTP: { PathPrefix: '/', Methods: ['GET', 'HEAD'] } },
        ],
      },
      {
        Name: 'api',
        Permissions: [
          {
            Action: 'allow',
            HTTP: {
              PathRegex: '/v[0-9]+/items',
              Header: [
                { Name: 'X-Env', Exact: 'prod' },
                { Name: 'x-trace', Present: true },
                { Name: 'X-Debug', Present: true, Invert: true },
                { Name: 'Accept', Suffix: 'json' },
                { Name: 'X-Tenant', Regex: 't-[0-9]+' },
                { Name: 'x-region', Prefix: 'eu-', Invert: true },
              ],
            },
          },
        ],
      },
    ],
  },
  { Kind: 'service-intentions', Name: '*', Sources: [{ Name: '*', Action: 'allow' }] },
);

test('L7 at L4 (no request): the connection is denied, whatever the default', (t) => {
  t.deepEqual(decide(t, l7, 'web', true), {
    allowed: false,
    reason: 'Matched L7 intention: default/web => default/db (Precedence: 9, Permissions: 2)',
    matched: { sourceName: 'web', destinationName: 'db', precedence: 9, id: null },
  });
  t.deepEqual(
    checkIntention({ intentions: l7, source: 'web', destination: 'db', defaultAllow: true }),
    {
      Allowed: false,
    },
  );
  t.deepEqual(
    checkIntention({ intentions: l7, source: 'other', destination: 'db', defaultAllow: false }),
    { Allowed: true },
    'other matches the L4 * -> * allow',
  );
});

test('L7: the first matching permission decides; deny before a later allow', (t) => {
  const d = decide(t, l7, 'web', false, req('GET', '/admin/users'));
  t.false(d.allowed);
  t.is(d.permission, 0);
  t.is(
    d.reason,
    'Matched permission 1 of L7 intention: default/web => default/db (Precedence: 9, Permissions: 2)',
  );
  const ok = decide(t, l7, 'web', false, req('GET', '/users?admin=1'));
  t.true(ok.allowed);
  t.is(ok.permission, 1);
});

test('L7: no permission matches -> the default, not a lower-precedence intention', (t) => {
  const post = decide(t, l7, 'web', false, req('POST', '/users'));
  t.false(post.allowed, 'default deny, although * -> * (L4 allow) would allow');
  t.is(post.permission, undefined);
  t.is(post.matched?.sourceName, 'web');
  t.is(
    post.reason,
    'No permission of L7 intention matched, default behavior configured by ACLs: default/web => default/db (Precedence: 9, Permissions: 2)',
  );
  t.true(decide(t, l7, 'web', true, req('POST', '/users')).allowed, 'default allow');
  t.false(decide(t, l7, 'web', false, req('get', '/users')).allowed, 'methods are exact');
});

const apiHeaders = {
  'x-env': 'prod',
  'X-Trace': '1',
  accept: 'application/json',
  'x-tenant': 't-42',
  'x-region': 'us-east',
};

test('L7 headers: exact, present, inverted present, suffix, regex, inverted prefix', (t) => {
  const go = (path: string, headers: HttpRequestInfo['headers']) =>
    decide(t, l7, 'api', false, req('PUT', path, headers)).allowed;
  t.true(go('/v2/items', apiHeaders));
  t.true(go('/v2/items#frag', apiHeaders), 'the fragment is ignored');
  t.false(go('/v2/items/1', apiHeaders), 'the regex matches the whole path');
  t.false(go('/x/v2/items', apiHeaders));
  t.false(go('/v2/items', { ...apiHeaders, 'x-env': 'prod2' }), 'exact');
  t.false(go('/v2/items', { ...apiHeaders, 'X-Trace': undefined }), 'present');
  t.false(go('/v2/items', { ...apiHeaders, 'x-debug': '' }), 'inverted present');
  t.false(go('/v2/items', { ...apiHeaders, accept: 'text/html' }), 'suffix');
  t.false(go('/v2/items', { ...apiHeaders, 'x-tenant': 'xt-42' }), 'regex is anchored');
  t.false(go('/v2/items', { ...apiHeaders, 'x-region': 'eu-west' }), 'inverted prefix');
  t.false(
    go('/v2/items', { ...apiHeaders, 'x-region': undefined }),
    'absent: inverted prefix fails',
  );
  // Repeated values are joined with "," (Envoy); names are case-insensitive.
  t.false(go('/v2/items', { ...apiHeaders, 'x-env': ['prod', 'prod'] }));
  t.true(go('/v2/items', { ...apiHeaders, 'x-env': undefined, 'X-ENV': ['prod'] }));
});

test('an absent header matches nothing but an inverted presence check', (t) => {
  const one = (h: Record<string, unknown>): IntentionRule[] => [
    {
      SourceName: 'web',
      DestinationName: 'db',
      Precedence: 9,
      Permissions: [{ Action: 'allow', HTTP: { Header: [{ Name: 'x-a', ...h }] } }],
    },
  ];
  const allowed = (h: Record<string, unknown>) =>
    decide(t, one(h), 'web', false, req('GET', '/')).allowed;
  t.true(allowed({ Present: true, Invert: true }));
  t.false(allowed({ Present: true }));
  t.false(allowed({ Exact: 'x', Invert: true }), 'Envoy: an absent header fails even inverted');
  t.false(allowed({ Regex: '.*', Invert: true }));
  t.false(allowed({ Suffix: 'x' }));
});
