// The agent configuration: Consul's JSON keys, files and directories merged in order,
// flags last, every problem reported with its source and key.
import test from 'ava';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError,
  MAX_CONFIG_FILE_BYTES,
  buildConfig,
  defaults,
  flagsToBuildInput,
  parseDuration,
} from '../src/index.js';

const made: string[] = [];
test.after.always(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

function dir(files: Record<string, string>): string {
  const d = mkdtempSync(join(tmpdir(), 'trellis-config-'));
  made.push(d);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(d, name, '..'), { recursive: true });
    writeFileSync(join(d, name), text);
  }
  return d;
}

function problems(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

test('dev defaults: a single in-memory server on loopback with UI and Connect, Consul ports', (t) => {
  const c = buildConfig({ dev: true });
  t.true(c.server && c.bootstrap && c.dev_mode && c.ui_config.enabled && c.connect.enabled);
  t.is(c.bind_addr, '127.0.0.1');
  t.is(c.client_addr, '127.0.0.1');
  t.deepEqual(
    [c.ports.http, c.ports.grpc, c.ports.dns, c.ports.serf_lan, c.ports.serf_wan, c.ports.server],
    [8500, 8502, 8600, 8301, 8302, 8300],
  );
  t.is(c.datacenter, 'dc1');
  t.is(c.domain, 'consul.');
  t.is(c.reconnect_timeout, 72 * 3_600_000);
  t.is(defaults(false).server, false);
});

test('files then config-dir files in lexical order, then flags: scalars override, lists append, maps merge', (t) => {
  const d = dir({
    'base.json': JSON.stringify({
      datacenter: 'east',
      retry_join: ['10.0.0.1'],
      node_meta: { rack: 'r1' },
      ports: { dns: 53 },
    }),
    'conf.d/20-b.json': JSON.stringify({
      log_level: 'warn',
      retry_join: ['10.0.0.3'],
      node_meta: { zone: 'z2' },
    }),
    'conf.d/10-a.json': JSON.stringify({
      log_level: 'debug',
      retry_join: ['10.0.0.2'],
      ports: { http: 9500 },
    }),
    'conf.d/notes.txt': 'ignored: not a config file',
  });
  const c = buildConfig({
    configFiles: [join(d, 'base.json')],
    configDirs: [join(d, 'conf.d')],
    flags: { data_dir: '/var/lib/trellis', datacenter: 'west', server: true, bootstrap_expect: 3 },
  });
  t.is(c.datacenter, 'west');
  t.is(c.log_level, 'warn');
  t.deepEqual(c.retry_join, ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
  t.deepEqual(c.node_meta, { rack: 'r1', zone: 'z2' });
  t.is(c.ports.dns, 53);
  t.is(c.ports.http, 9500);
  t.is(c.ports.server, 8300);
  t.is(c.bootstrap_expect, 3);
});

test('agent flags map onto config keys, Consul names, -join and -retry-join both joining', (t) => {
  const input = flagsToBuildInput(
    new Map<string, unknown>([
      ['server', true],
      ['bootstrap-expect', 3],
      ['data-dir', '/data'],
      ['node', 'server-1'],
      ['retry-join', ['127.0.0.2']],
      ['join', ['127.0.0.3']],
      ['retry-interval', '5s'],
      ['http-port', 18500],
      ['dns-port', 18600],
      ['node-meta', ['rack:r7', 'role:db']],
      ['ui', true],
      ['config-file', ['/etc/trellis/a.json']],
    ]),
  );
  t.deepEqual(input.configFiles, ['/etc/trellis/a.json']);
  const c = buildConfig({ ...input, configFiles: [] });
  t.is(c.node_name, 'server-1');
  t.deepEqual(c.retry_join, ['127.0.0.2', '127.0.0.3']);
  t.is(c.retry_interval, 5000);
  t.deepEqual([c.ports.http, c.ports.dns], [18500, 18600]);
  t.deepEqual(c.node_meta, { rack: 'r7', role: 'db' });
  t.true(c.ui_config.enabled);
  t.throws(() => flagsToBuildInput(new Map([['node-meta', ['nocolon']]])), {
    message: /expected key:value/,
  });
});

test('cross-key rules use Consul’s wording', (t) => {
  const p = problems(() =>
    buildConfig({ flags: { bootstrap: true, bootstrap_expect: 3, data_dir: '/d' } }),
  );
  t.true(p.includes("'bootstrap_expect > 0' and 'bootstrap = true' are mutually exclusive"));
  t.true(p.includes("'bootstrap_expect > 0' requires 'server = true'"));
  t.deepEqual(
    problems(() => buildConfig({})),
    ['data_dir cannot be empty (set -data-dir, or use -dev for an in-memory agent)'],
  );
  t.regex(
    problems(() => buildConfig({ dev: true, flags: { encrypt: 'not-a-key' } }))[0]!,
    /gossip key must be base64 of 32 bytes/,
  );
  t.notThrows(() =>
    buildConfig({ dev: true, flags: { encrypt: Buffer.alloc(32, 7).toString('base64') } }),
  );
  t.throws(() =>
    buildConfig({ dev: true, flags: { encrypt: Buffer.alloc(16, 7).toString('base64') } }),
  );
  t.deepEqual(
    problems(() => buildConfig({ dev: true, flags: { ports: { dns: 8500 } } })),
    ['ports.dns and ports.http are both 8500'],
  );
});

test('bad input: every problem reported at once with file and key, nothing half-applied', (t) => {
  const d = dir({
    'bad.json': JSON.stringify({
      datacenter: 'Has Spaces',
      node_name: 'x'.repeat(64),
      bootstrap_expect: 'three',
      ports: { http: 70000, dns: 'fifty-three', gopher: 70 },
      retry_join: 'not-a-list',
      dns_config: { node_ttl: '10 seconds', service_ttl: { '*': '5s', web: 'soon' } },
      acl: { default_policy: 'maybe' },
      unknown_thing: 1,
    }),
    'syntax.json': '{ "datacenter": ',
    'array.json': '[1, 2]',
    'config.hcl': 'datacenter = "dc1"',
  });
  const p = problems(() =>
    buildConfig({
      dev: true,
      configFiles: ['bad.json', 'syntax.json', 'array.json', 'config.hcl', 'missing.json'].map(
        (f) => join(d, f),
      ),
    }),
  );
  const expect = [
    /bad\.json: datacenter: invalid value "Has Spaces"/,
    /bad\.json: node_name: invalid value/,
    /bad\.json: bootstrap_expect: expected an integer/,
    /bad\.json: ports\.http: 70000 is not a port/,
    /bad\.json: ports\.dns: expected a port number/,
    /bad\.json: invalid config key ports\.gopher/,
    /bad\.json: retry_join: expected a list of strings/,
    /bad\.json: dns_config\.node_ttl: expected a duration/,
    /bad\.json: dns_config\.service_ttl\.web: expected a duration/,
    /bad\.json: acl\.default_policy: expected one of allow, deny/,
    /bad\.json: invalid config key unknown_thing/,
    /syntax\.json: invalid JSON/,
    /array\.json: the top level must be an object, got a list/,
    /config\.hcl: HCL config files are not supported/,
    /missing\.json: no such file/,
  ];
  for (const re of expect)
    t.true(
      p.some((x) => re.test(x)),
      `${re} in:\n${p.join('\n')}`,
    );
  t.is(p.length, expect.length, p.join('\n'));
});

test('oversized config files are refused before reading', (t) => {
  const d = dir({ 'huge.json': ' '.repeat(MAX_CONFIG_FILE_BYTES + 1) });
  t.regex(
    problems(() => buildConfig({ dev: true, configFiles: [join(d, 'huge.json')] }))[0]!,
    /over the 1048576-byte limit/,
  );
  t.regex(
    problems(() => buildConfig({ dev: true, configDirs: [join(d, 'nope')] }))[0]!,
    /cannot read config directory: ENOENT/,
  );
});

test('durations parse like Go’s time.ParseDuration', (t) => {
  t.is(parseDuration('72h'), 259_200_000);
  t.is(parseDuration('1m30s'), 90_000);
  t.is(parseDuration('250ms'), 250);
  for (const bad of ['', '10', 's', '1d', '5 s', '-1s'])
    t.throws(() => parseDuration(bad), undefined, bad);
});
