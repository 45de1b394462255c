// Property: compileAuthorizer (the proxy's hot path, fed the serializable compiled form after
// a JSON trip) decides exactly as authorize (the literal reading of Consul's rules), for
// random intention sets — ties, duplicates and wildcards included — and random requests.
// A failing seed is printed with the command that replays it (TRELLIS_SEED=<seed>).
import test from 'ava';
import { Prng, runSeeds, seedsFromEnv } from '@trellis/testkit';
import {
  HTTP_METHODS,
  authorize,
  compileAuthorizer,
  compileIntentions,
  precedence,
  type CompiledIntentions,
  type HttpRequestInfo,
  type IntentionHTTPHeaderPermission,
  type IntentionPermission,
  type IntentionRule,
} from '../src/index.js';

const SOURCES = ['web', 'api', 'admin', 'Web', '*'];
const DESTINATIONS = ['db', 'db', '*', 'other'];
const PATHS = ['/', '/v1', '/v1/items', '/admin', '/admin/x', '/healthz', '/v2/items', '/a/b/c'];
const PREFIXES = ['/', '/v1', '/admin', '/v', '/a/'];
const REGEXES = ['/v[0-9]+/items', '/health(z)?', '.*', '/a/.*', '/(v1|v2)'];
const HEADER_NAMES = ['x-env', 'X-Env', 'accept', 'x-debug'];
const VALUES = ['prod', 'dev', 'application/json', '', 'prod,dev', 'text/html'];
const VALUE_REGEXES = ['prod|dev', 'app.*', '[a-z]+'];

function header(rng: Prng): IntentionHTTPHeaderPermission {
  const Name = rng.pick(HEADER_NAMES);
  const invert = rng.chance(0.3) ? { Invert: true as const } : {};
  switch (rng.int(5)) {
    case 0:
      return { Name, Present: true, ...invert };
    case 1:
      return { Name, Exact: rng.pick(VALUES), ...invert };
    case 2:
      return { Name, Prefix: rng.pick(['pr', 'app', 'd']), ...invert };
    case 3:
      return { Name, Suffix: rng.pick(['od', 'json', 'v']), ...invert };
    default:
      return { Name, Regex: rng.pick(VALUE_REGEXES), ...invert };
  }
}

function permission(rng: Prng): IntentionPermission {
  const path = rng.int(4);
  const headers = Array.from({ length: rng.int(3) }, () => header(rng));
  const methods = HTTP_METHODS.filter(() => rng.chance(0.2));
  return {
    Action: rng.chance(0.5) ? 'allow' : 'deny',
    HTTP: {
      ...(path === 1 ? { PathExact: rng.pick(PATHS) } : {}),
      ...(path === 2 ? { PathPrefix: rng.pick(PREFIXES) } : {}),
      ...(path === 3 ? { PathRegex: rng.pick(REGEXES) } : {}),
      ...(headers.length > 0 ? { Header: headers } : {}),
      ...(methods.length > 0 ? { Methods: methods } : {}),
    },
  };
}

function intentions(rng: Prng): IntentionRule[] {
  return Array.from({ length: rng.int(9) }, (): IntentionRule => {
    const SourceName = rng.pick(SOURCES);
    const DestinationName = rng.pick(DESTINATIONS);
    const l7 = DestinationName !== '*' && rng.chance(0.4);
    return {
      ...(rng.chance(0.2) ? { ID: `id-${rng.int(3)}` } : {}),
      SourceName,
      DestinationName,
      // Mostly Consul's value; sometimes anything, to force ties between different sources.
      Precedence: rng.chance(0.8) ? precedence(SourceName, DestinationName) : 1 + rng.int(9),
      ...(l7
        ? { Permissions: Array.from({ length: 1 + rng.int(3) }, () => permission(rng)) }
        : { Action: rng.chance(0.5) ? 'allow' : 'deny' }),
    };
  });
}

function request(rng: Prng): HttpRequestInfo {
  const headers: Record<string, string | string[] | undefined> = {};
  for (const name of HEADER_NAMES) {
    if (!rng.chance(0.5)) continue;
    const key = rng.chance(0.5) ? name.toUpperCase() : name;
    headers[key] = rng.chance(0.2)
      ? [rng.pick(VALUES), rng.pick(VALUES)]
      : rng.chance(0.1)
        ? undefined
        : rng.pick(VALUES);
  }
  const query = rng.pick(['', '?q=1', '#top', '?a=/admin']);
  return {
    method: rng.pick([...HTTP_METHODS, 'get', 'PROPFIND']),
    path: rng.pick(PATHS) + query,
    headers,
  };
}

test('compileAuthorizer decides exactly as authorize', async (t) => {
  const ran = await runSeeds({
    name: 'connect-authz',
    seeds: seedsFromEnv(400),
    replay: (seed) =>
      `npx tsc -b && TRELLIS_SEED=${seed} npx ava packages/connect/test/authz-property.test.ts`,
    run: ({ seed, trace }) => {
      const rng = new Prng(seed);
      const ixns = intentions(rng);
      const defaultAllow = rng.chance(0.5);
      const destination = rng.pick(['db', 'other', 'db']);
      const compiled = JSON.parse(
        JSON.stringify(compileIntentions(destination, ixns, defaultAllow)),
      ) as CompiledIntentions;
      const az = compileAuthorizer(compiled);
      trace.record(
        0,
        'intentions',
        `${JSON.stringify(ixns)} default=${defaultAllow} dest=${destination}`,
      );
      for (let i = 0; i < 40; i++) {
        const source = rng.pick([...SOURCES.filter((s) => s !== '*'), 'stranger']);
        const req = rng.chance(0.25) ? undefined : request(rng);
        const want = authorize({
          destination,
          intentions: ixns,
          source,
          request: req,
          defaultAllow,
        });
        const got = az.authorize(source, req);
        if (JSON.stringify(got) !== JSON.stringify(want)) {
          throw new Error(
            `seed ${seed}: source ${source} request ${JSON.stringify(req)}\n` +
              `authorize: ${JSON.stringify(want)}\ncompiled:  ${JSON.stringify(got)}`,
          );
        }
        if (req === undefined) {
          const l4 = az.connection(source);
          if (JSON.stringify(l4) !== JSON.stringify(want))
            throw new Error(`seed ${seed}: connection()`);
        }
      }
    },
  });
  t.true(ran > 0);
});
