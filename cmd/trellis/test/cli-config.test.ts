// `trellis connect ca get-config|set-config` and `trellis config write|read|list|delete`
// against a real dev agent on loopback: each command once as a user runs it (its own process,
// the agent's address from TRELLIS_HTTP_ADDR), the rest in-process through main() with
// -http-addr (the same code, without a process start per case). Consul's output, messages
// and exit codes, and refusals of bad input before or by the agent.
import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDevAgent, type DevAgent, type Run, type RunOptions } from './dev-agent.js';
import { cli, closedPort } from './helpers.js';

let agent: DevAgent | undefined;
let dir = '';

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trellis-cli-config-'));
  agent = await startDevAgent();
});

test.after.always(async () => {
  await agent?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** `trellis <args>` in its own process, against the agent. */
function trellis(args: readonly string[], opts?: RunOptions): Promise<Run> {
  return agent!.run(args, opts);
}

/** `trellis <command path> -http-addr=… <rest>` in-process. */
function local(cmd: readonly string[], rest: readonly string[], stdin?: string) {
  return cli([...cmd, agent!.flag, ...rest], stdin);
}

async function file(name: string, content: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

const err = (stderr: string): Run => ({ code: 1, stdout: '', stderr });
const WRITE = ['config', 'write'] as const;
const READ = ['config', 'read'] as const;
const LIST = ['config', 'list'] as const;
const DELETE = ['config', 'delete'] as const;
const GET_CONFIG = ['connect', 'ca', 'get-config'] as const;

// ------------------------------------------------------------------------- connect ca

test.serial(
  'connect ca get-config prints the configuration as Go’s tab-indented JSON',
  async (t) => {
    const r = await trellis(['connect', 'ca', 'get-config']);
    t.is(r.code, 0, r.stderr);
    t.is(r.stderr, '');
    const c = JSON.parse(r.stdout) as Record<string, unknown>;
    t.deepEqual(Object.keys(c), [
      'Provider',
      'Config',
      'State',
      'ForceWithoutCrossSigning',
      'CreateIndex',
      'ModifyIndex',
    ]);
    t.is(c['Provider'], 'consul');
    const config = c['Config'] as Record<string, unknown>;
    t.deepEqual(Object.keys(config), [...Object.keys(config)].sort(), 'a Go map: sorted keys');
    t.is(config['LeafCertTTL'], '72h');
    t.true(r.stdout.startsWith('{\n\t"Provider": "consul",\n\t"Config": {\n\t\t"'));
    t.true(r.stdout.endsWith('\n}\n'));
    t.deepEqual(await local(GET_CONFIG, ['-stale']), r);
  },
);

test.serial(
  'connect ca set-config sends the file’s configuration; get-config shows it',
  async (t) => {
    const path = await file(
      'ca.json',
      JSON.stringify({
        provider: 'consul',
        config: { LeafCertTTL: '24h', PrivateKeyType: 'ec', PrivateKeyBits: 256 },
        Unknown: 'ignored, as Go’s decoder ignores it',
      }),
    );
    t.deepEqual(await trellis(['connect', 'ca', 'set-config', `-config-file=${path}`]), {
      code: 0,
      stdout: 'Configuration updated!\n',
      stderr: '',
    });
    const got = JSON.parse((await local(GET_CONFIG, [])).stdout) as {
      Config: Record<string, unknown>;
    };
    t.regex(String(got.Config['LeafCertTTL']), /^24h/);
  },
);

test.serial(
  'connect ca set-config refuses a missing flag or file, bad JSON and an invalid configuration',
  async (t) => {
    const set = (...rest: string[]) => cli(['connect', 'ca', 'set-config', agent!.flag, ...rest]);
    t.deepEqual(await set(), err('The -config-file flag is required\n'));
    const missing = join(dir, 'missing.json');
    t.deepEqual(
      await set('-config-file', missing),
      err(`Error reading config file: open ${missing}: no such file or directory\n`),
    );
    const bad = await file('bad-ca.json', '{"Provider": "consul",');
    const r = await set(`-config-file=${bad}`);
    t.is(r.code, 1);
    t.regex(r.stderr, new RegExp(`^Error parsing config file: ${bad} is not valid JSON: .+\\n$`));
    const wrongType = await file('type-ca.json', '{"Provider": 7}');
    t.deepEqual(
      await set(`-config-file=${wrongType}`),
      err(
        'Error parsing config file: cannot unmarshal number into field Provider of type string\n',
      ),
    );
    const ttl = await file(
      'ttl-ca.json',
      '{"Provider": "consul", "Config": {"LeafCertTTL": "1s"}}',
    );
    const refused = await set(`-config-file=${ttl}`);
    t.is(refused.code, 1);
    t.regex(
      refused.stderr,
      /^Error setting CA configuration: Unexpected response code: 400 \(.*leaf cert TTL.*\)\n$/,
    );
    const unknown = await cli(['connect', 'ca', 'get-config', '-bogus']);
    t.is(unknown.code, 1);
    t.regex(
      unknown.stderr,
      /^flag provided but not defined: -bogus\n\nUsage: trellis connect ca get-config/,
    );
    const port = await closedPort();
    t.deepEqual(
      await cli(['connect', 'ca', 'get-config', `-http-addr=127.0.0.1:${port}`]),
      err(
        `Error querying CA configuration: Get "http://127.0.0.1:${port}/v1/connect/ca/configuration": ` +
          `dial tcp 127.0.0.1:${port}: connect: connection refused\n`,
      ),
    );
  },
);

// ---------------------------------------------------------------------------- config

test.serial('config write / read / list / delete round trip with Consul’s messages', async (t) => {
  const web = await file(
    'web.json',
    JSON.stringify({ Kind: 'service-defaults', Name: 'web', Protocol: 'http' }),
  );
  t.deepEqual(await trellis(['config', 'write', web]), {
    code: 0,
    stdout: 'Config entry written: service-defaults/web\n',
    stderr: '',
  });
  // snake_case keys and stdin, as Consul's decoder takes them.
  t.deepEqual(
    await local(WRITE, ['-'], '{"kind": "service-defaults", "name": "api", "protocol": "grpc"}'),
    { code: 0, stdout: 'Config entry written: service-defaults/api\n', stderr: '' },
  );

  const read = await trellis(['config', 'read', '-kind', 'service-defaults', '-name', 'web']);
  t.is(read.code, 0, read.stderr);
  t.true(read.stdout.startsWith('{\n    "Kind": "service-defaults",\n    "Name": "web",\n'));
  const entry = JSON.parse(read.stdout) as { Protocol: string; ModifyIndex: number };
  t.is(entry.Protocol, 'http');

  t.deepEqual(await trellis(['config', 'list', '-kind=service-defaults']), {
    code: 0,
    stdout: 'api\nweb\n',
    stderr: '',
  });
  t.deepEqual(await local(LIST, ['-kind=proxy-defaults']), { code: 0, stdout: '', stderr: '' });

  // Check-and-set: a stale index is refused, the current one accepted.
  const grpc = await file(
    'web-grpc.json',
    JSON.stringify({ Kind: 'service-defaults', Name: 'web', Protocol: 'grpc' }),
  );
  const stale = entry.ModifyIndex - 1;
  t.deepEqual(
    await local(WRITE, ['-cas', `-modify-index=${stale}`, grpc]),
    err('Config entry not updated: service-defaults/web\n'),
  );
  t.deepEqual(await local(WRITE, ['-cas', `-modify-index=${entry.ModifyIndex}`, grpc]), {
    code: 0,
    stdout: 'Config entry written: service-defaults/web\n',
    stderr: '',
  });
  const now = JSON.parse((await local(READ, ['-kind=service-defaults', '-name=web'])).stdout) as {
    Protocol: string;
    ModifyIndex: number;
  };
  t.is(now.Protocol, 'grpc');
  t.true(now.ModifyIndex > entry.ModifyIndex);
  const web1 = ['-kind=service-defaults', '-name=web'];
  t.deepEqual(
    await local(DELETE, [...web1, '-cas', `-modify-index=${stale}`]),
    err('Config entry not deleted: service-defaults/web\n'),
  );
  t.deepEqual(await local(DELETE, [...web1, '-cas', `-modify-index=${now.ModifyIndex}`]), {
    code: 0,
    stdout: 'Config entry deleted: service-defaults/web\n',
    stderr: '',
  });
  t.deepEqual(await local(DELETE, [`-filename=${web}`]), {
    code: 0,
    stdout: 'Config entry deleted: service-defaults/web\n',
    stderr: '',
  });
  t.deepEqual(await trellis(['config', 'delete', '-kind=service-defaults', '-name=api']), {
    code: 0,
    stdout: 'Config entry deleted: service-defaults/api\n',
    stderr: '',
  });
  t.deepEqual(
    await local(READ, web1),
    err(
      'Error reading config entry service-defaults/web: Unexpected response code: 404 ' +
        '(Config entry not found for "service-defaults" / "web")\n',
    ),
  );
});

test.serial(
  'config write refuses missing arguments, bad JSON, HCL and unknown kinds',
  async (t) => {
    const msg =
      'Must provide exactly one positional argument to specify the config entry to write\n';
    t.deepEqual(await local(WRITE, []), err(msg));
    t.deepEqual(await local(WRITE, ['a.json', 'b.json']), err(msg));
    const missing = join(dir, 'nope.json');
    t.deepEqual(
      await local(WRITE, [missing]),
      err(`Failed to load data: Failed to read file: open ${missing}: no such file or directory\n`),
    );
    const broken = await file('broken.json', '{"Kind": "service-defaults", "Name": ');
    const bad = await trellis(['config', 'write', broken]);
    t.is(bad.code, 1);
    t.regex(
      bad.stderr,
      new RegExp(
        `^Failed to decode config entry input: ${broken} is not valid JSON \\(.+\\): Trellis ` +
          'reads config entries as JSON only, HCL is not supported\\n$',
      ),
    );
    const hcl = await file('web.hcl', 'Kind = "service-defaults"\nName = "web"\n');
    t.regex((await local(WRITE, [hcl])).stderr, /HCL is not supported\n$/);
    t.deepEqual(
      await local(WRITE, ['-'], '{"Kind": "no-such-kind", "Name": "x"}'),
      err('Failed to decode config entry input: invalid config entry kind: no-such-kind\n'),
    );
    t.deepEqual(
      await local(WRITE, ['-'], '{"Name": "x"}'),
      err(
        'Failed to decode config entry input: Payload does not contain a kind/Kind key at the top level\n',
      ),
    );
    t.deepEqual(
      await local(WRITE, ['-'], '{"Kind": 3}'),
      err('Failed to decode config entry input: Kind value in payload is not a string\n'),
    );
    t.deepEqual(
      await local(WRITE, ['-'], '["service-defaults"]'),
      err(
        'Failed to decode config entry input: stdin must hold one JSON object, the config entry\n',
      ),
    );
    // Known to Consul but not implemented: the agent says so.
    t.deepEqual(
      await local(WRITE, ['-'], '{"Kind": "service-router", "Name": "web"}'),
      err(
        'Error writing config entry service-router/web: Unexpected response code: 400 ' +
          '(config entry kind "service-router" is not supported by Trellis)\n',
      ),
    );
    t.deepEqual(
      await local(WRITE, ['-'], '{"Kind": "service-defaults", "Name": "web", "Bogus": 1}'),
      err(
        'Error writing config entry service-defaults/web: Unexpected response code: 400 ' +
          '(invalid config key "Bogus")\n',
      ),
    );
    const flag = await local(WRITE, ['-nope', 'x.json']);
    t.is(flag.code, 1);
    t.regex(flag.stderr, /^flag provided but not defined: -nope\n\nUsage: trellis config write/);
    t.deepEqual(
      await trellis(['config', 'list', '-kind=service-defaults']),
      { code: 0, stdout: '', stderr: '' },
      'nothing was written',
    );
  },
);

test.serial(
  'config read, list and delete need their flags; an unknown kind is the agent’s 400',
  async (t) => {
    t.deepEqual(await local(READ, []), err('Must specify the -kind parameter\n'));
    t.deepEqual(
      await local(READ, ['-kind=service-defaults']),
      err('Must specify the -name parameter\n'),
    );
    t.deepEqual(await local(LIST, []), err('Must specify the -kind parameter\n'));
    t.deepEqual(
      await local(LIST, ['-kind=no-such-kind']),
      err(
        'Error listing config entries for kind "no-such-kind": Unexpected response code: 400 ' +
          '(invalid config entry kind: no-such-kind)\n',
      ),
    );
    t.deepEqual(await local(DELETE, []), err('Must specify the -kind or -filename parameter\n'));
    t.deepEqual(
      await local(DELETE, ['-kind=service-defaults']),
      err('Must specify the -name parameter\n'),
    );
    t.deepEqual(
      await local(DELETE, ['-filename=x.json', '-kind=service-defaults']),
      err("filename can't be used with kind or name\n"),
    );
    t.deepEqual(
      await local(DELETE, ['-kind=service-defaults', '-name=web', '-cas']),
      err('Must specify a -modify-index greater than 0 with -cas\n'),
    );
    t.deepEqual(
      await local(DELETE, ['-kind=service-defaults', '-name=web', '-modify-index=3']),
      err('Cannot specify -modify-index without -cas\n'),
    );
    t.deepEqual(
      await local(DELETE, ['-kind=no-such-kind', '-name=web']),
      err(
        'Error deleting config entry no-such-kind/web: Unexpected response code: 400 ' +
          '(invalid config entry kind: no-such-kind)\n',
      ),
    );
    const group = await cli(['config']);
    t.is(group.code, 1);
    t.regex(
      group.stdout,
      /Subcommands:\n {4}delete {4}.+\n {4}list {6}.+\n {4}read {6}.+\n {4}write {5}.+\n$/,
    );
  },
);
