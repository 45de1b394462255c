// `trellis tls ca create` and `trellis tls cert create`, run as a user runs them (their own
// process, in a scratch working directory): Consul's file names, messages and exit codes, the
// files' modes, the certificates checked with `openssl verify` and their SANs, and refusals —
// an existing file is never overwritten.
import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trellis, type Run } from './dev-agent.js';
import { cli } from './helpers.js';

/** A scratch working directory for one test, removed when the test ends. */
async function scratch(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'trellis-cli-tls-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const inDir = (dir: string) => (args: readonly string[]) => trellis(args, { cwd: dir });

/** `openssl <args>` in `dir`. */
function openssl(dir: string, args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      'openssl',
      args,
      { cwd: dir, timeout: 20_000, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** `openssl verify -CAfile ca cert` in `dir`. */
function opensslVerify(dir: string, ca: string, cert: string): Promise<Run> {
  return openssl(dir, ['verify', '-CAfile', ca, cert]);
}

async function cert(dir: string, name: string): Promise<X509Certificate> {
  return new X509Certificate(await readFile(join(dir, name)));
}

async function mode(dir: string, name: string): Promise<number> {
  return (await stat(join(dir, name))).mode & 0o777;
}

const SERVER_WARNING =
  '==> WARNING: Server Certificates grants authority to become a\n' +
  '    server and access all state in the cluster including root keys\n' +
  '    and all ACL tokens. Do not distribute them to production hosts\n' +
  '    that are not server nodes. Store them as securely as CA keys.\n';

test('tls ca create writes consul-agent-ca.pem and its key (0600) and refuses to overwrite them', async (t) => {
  const dir = await scratch(t);
  const run = inDir(dir);
  const r = await run(['tls', 'ca', 'create']);
  t.deepEqual(r, {
    code: 0,
    stdout: '==> Saved consul-agent-ca.pem\n==> Saved consul-agent-ca-key.pem\n',
    stderr: '',
  });
  t.deepEqual((await readdir(dir)).sort(), ['consul-agent-ca-key.pem', 'consul-agent-ca.pem']);
  t.is(await mode(dir, 'consul-agent-ca-key.pem'), 0o600);
  t.is(
    (await mode(dir, 'consul-agent-ca.pem')) & 0o022,
    0,
    'the certificate is not writable by others',
  );
  const ca = await cert(dir, 'consul-agent-ca.pem');
  t.true(ca.ca);
  t.regex(ca.subject, /CN=Trellis Agent CA \d+/);
  t.true(ca.verify(ca.publicKey), 'self-signed');
  const days = (Date.parse(ca.validTo) - Date.parse(ca.validFrom)) / 86_400_000;
  t.true(Math.abs(days - 1825) < 1, `valid for 1825 days, got ${days}`);
  t.regex(
    await readFile(join(dir, 'consul-agent-ca-key.pem'), 'utf8'),
    /^-----BEGIN EC PRIVATE KEY-----\n/,
  );

  const before = await readFile(join(dir, 'consul-agent-ca.pem'), 'utf8');
  t.deepEqual(await run(['tls', 'ca', 'create']), {
    code: 1,
    stdout: '',
    stderr: 'consul-agent-ca.pem already exists.\n',
  });
  await rm(join(dir, 'consul-agent-ca.pem'));
  t.deepEqual(
    await run(['tls', 'ca', 'create']),
    { code: 1, stdout: '', stderr: 'consul-agent-ca-key.pem already exists.\n' },
    'a lone key is not overwritten either',
  );
  t.not(before, '');
});

test('tls ca create -domain, -days, -common-name and -name-constraint shape the CA', async (t) => {
  const dir = await scratch(t);
  const r = await inDir(dir)([
    'tls',
    'ca',
    'create',
    '-domain=example',
    '-days=30',
    '-common-name=Test CA',
    '-name-constraint',
    '-additional-name-constraint=ui.example.com',
  ]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, '==> Saved example-agent-ca.pem\n==> Saved example-agent-ca-key.pem\n');
  const ca = await cert(dir, 'example-agent-ca.pem');
  t.regex(ca.subject, /CN=Test CA/);
  const days = (Date.parse(ca.validTo) - Date.parse(ca.validFrom)) / 86_400_000;
  t.true(Math.abs(days - 30) < 1);
  const text = await openssl(dir, ['x509', '-noout', '-text', '-in', 'example-agent-ca.pem']);
  t.is(text.code, 0, text.stderr);
  t.regex(
    text.stdout,
    /Name Constraints: critical\n\s+Permitted:\n\s+DNS:ui\.example\.com\n\s+DNS:example\n\s+DNS:localhost\n/,
  );
});

test('tls cert create -server: Consul’s warning and messages, a cert the CA verifies, its SANs', async (t) => {
  const dir = await scratch(t);
  const run = inDir(dir);
  t.is((await run(['tls', 'ca', 'create'])).code, 0);
  const r = await run([
    'tls',
    'cert',
    'create',
    '-server',
    '-node=s1',
    '-additional-dnsname=api.example.com',
    '-additional-ipaddress=10.0.0.7',
  ]);
  t.deepEqual(r, {
    code: 0,
    stdout:
      SERVER_WARNING +
      '==> Using consul-agent-ca.pem and consul-agent-ca-key.pem\n' +
      '==> Saved dc1-server-consul-0.pem\n' +
      '==> Saved dc1-server-consul-0-key.pem\n',
    stderr: '',
  });
  t.deepEqual(await opensslVerify(dir, 'consul-agent-ca.pem', 'dc1-server-consul-0.pem'), {
    code: 0,
    stdout: 'dc1-server-consul-0.pem: OK\n',
    stderr: '',
  });
  const c = await cert(dir, 'dc1-server-consul-0.pem');
  t.is(c.subject, 'CN=server.dc1.consul');
  t.false(c.ca);
  t.is(
    c.subjectAltName,
    'DNS:api.example.com, DNS:s1.server.dc1.consul, DNS:server.dc1.consul, DNS:localhost, ' +
      'IP Address:10.0.0.7, IP Address:127.0.0.1',
  );
  t.deepEqual(c.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'], 'serverAuth, clientAuth');
  t.true(c.checkIssued(await cert(dir, 'consul-agent-ca.pem')));
  const days = (Date.parse(c.validTo) - Date.parse(c.validFrom)) / 86_400_000;
  t.true(Math.abs(days - 365) < 1);
  t.is(await mode(dir, 'dc1-server-consul-0-key.pem'), 0o600);

  // The next certificate takes the next free index; nothing is overwritten.
  const again = await run(['tls', 'cert', 'create', '-server']);
  t.is(again.code, 0, again.stderr);
  t.regex(
    again.stdout,
    /==> Saved dc1-server-consul-1\.pem\n==> Saved dc1-server-consul-1-key\.pem\n$/,
  );
  t.is(
    (await cert(dir, 'dc1-server-consul-0.pem')).fingerprint256,
    c.fingerprint256,
    'the first certificate is untouched',
  );
});

test('tls cert create -client and -cli: their names, SANs and key usages', async (t) => {
  const dir = await scratch(t);
  const run = inDir(dir);
  t.is((await run(['tls', 'ca', 'create', '-domain=mesh'])).code, 0);
  // A file in the way is skipped over, not overwritten.
  await writeFile(join(dir, 'dc2-client-mesh-0-key.pem'), 'mine');
  const client = await run(['tls', 'cert', 'create', '-client', '-dc=dc2', '-domain=mesh']);
  t.deepEqual(client, {
    code: 0,
    stdout:
      '==> Using mesh-agent-ca.pem and mesh-agent-ca-key.pem\n' +
      '==> Saved dc2-client-mesh-1.pem\n' +
      '==> Saved dc2-client-mesh-1-key.pem\n',
    stderr: '',
  });
  t.is(await readFile(join(dir, 'dc2-client-mesh-0-key.pem'), 'utf8'), 'mine');
  t.is((await opensslVerify(dir, 'mesh-agent-ca.pem', 'dc2-client-mesh-1.pem')).code, 0);
  const c = await cert(dir, 'dc2-client-mesh-1.pem');
  t.is(c.subject, 'CN=client.dc2.mesh');
  t.is(c.subjectAltName, 'DNS:client.dc2.mesh, DNS:localhost, IP Address:127.0.0.1');

  const cli = await run([
    'tls',
    'cert',
    'create',
    '-cli',
    '-domain=mesh',
    '-ca=mesh-agent-ca.pem',
    '-key=#DOMAIN#-agent-ca-key.pem',
    '-additional-dnsname=ignored.example',
  ]);
  t.is(cli.code, 0, cli.stderr);
  t.regex(cli.stdout, /==> Saved dc1-cli-mesh-0\.pem\n==> Saved dc1-cli-mesh-0-key\.pem\n$/);
  t.is((await opensslVerify(dir, 'mesh-agent-ca.pem', 'dc1-cli-mesh-0.pem')).code, 0);
  const k = await cert(dir, 'dc1-cli-mesh-0.pem');
  t.is(k.subjectAltName, 'DNS:cli.dc1.mesh, DNS:localhost', 'a CLI certificate gets only these');
  t.deepEqual(k.keyUsage ?? [], [], 'and no extended key usage');
});

test('tls cert create refuses bad input with Consul’s messages and writes nothing', async (t) => {
  const dir = await scratch(t);
  const err = (stderr: string): Run => ({ code: 1, stdout: '', stderr });
  // No CA in the working directory (the default -ca and -key are relative to it).
  t.deepEqual(
    await inDir(dir)(['tls', 'cert', 'create', '-client']),
    err('Error reading CA: open consul-agent-ca.pem: no such file or directory\n'),
  );
  t.is((await inDir(dir)(['tls', 'ca', 'create'])).code, 0);
  // The rest in-process (no file is written on these paths), with the CA named absolutely.
  const ca = join(dir, 'consul-agent-ca.pem');
  const key = join(dir, 'consul-agent-ca-key.pem');
  const create = (...args: string[]) => cli(['tls', 'cert', 'create', ...args]);
  const missingKey = join(dir, 'missing-key.pem');
  t.deepEqual(
    await create('-client', `-ca=${ca}`, `-key=${missingKey}`),
    err(`Error reading CA key: open ${missingKey}: no such file or directory\n`),
  );
  t.deepEqual(await create(), err('Please provide either -server, -client, or -cli\n'));
  t.deepEqual(
    await create('-server', '-client'),
    err('Please provide either -server, -client, or -cli\n'),
  );
  t.deepEqual(await create('-client', '-node=n1'), err('-node requires -server\n'));
  t.deepEqual(await create('-client', '-ca='), err('Please provide the ca\n'));
  t.deepEqual(await create('-client', '-key='), err('Please provide the key\n'));
  t.deepEqual(
    await create('-client', '-additional-ipaddress=10.0.0.300'),
    err('invalid IP address "10.0.0.300"\n'),
  );
  const days = await create('-client', `-ca=${ca}`, `-key=${key}`, '-days=0');
  t.is(days.code, 1);
  t.regex(days.stderr, /days must be a positive integer/);
  const notCa = join(dir, 'not-a-ca.pem');
  await writeFile(notCa, 'garbage');
  const garbage = await create('-client', `-ca=${notCa}`, `-key=${key}`);
  t.is(garbage.code, 1);
  t.regex(garbage.stderr, /CA certificate/);
  const unknown = await create('-client', '-bogus');
  t.is(unknown.code, 1);
  t.regex(
    unknown.stderr,
    /^flag provided but not defined: -bogus\n\nUsage: trellis tls cert create/,
  );
  t.deepEqual(
    await cli(['tls', 'ca', 'create', 'extra']),
    err('Too many arguments (expected 0, got 1)\n'),
  );
  const notInt = await cli(['tls', 'ca', 'create', '-days=x']);
  t.is(notInt.code, 1);
  t.regex(
    notInt.stderr,
    /^invalid value "x" for flag -days: parse error\n\nUsage: trellis tls ca create/,
  );

  t.deepEqual(
    (await readdir(dir)).sort(),
    ['consul-agent-ca-key.pem', 'consul-agent-ca.pem', 'not-a-ca.pem'],
    'no certificate or key was written',
  );
});

test('tls, tls ca and tls cert without a subcommand list their subcommands and exit 1', async (t) => {
  const tls = await cli(['tls']);
  t.is(tls.code, 1);
  t.regex(tls.stdout, /^Usage: trellis tls <subcommand>/);
  t.regex(
    tls.stdout,
    /Subcommands:\n {4}ca {6}Helpers for CAs\n {4}cert {4}Helpers for certificates\n$/,
  );
  const help = await cli(['tls', 'cert', 'create', '-h']);
  t.is(help.code, 0);
  t.regex(help.stdout, /^Usage: trellis tls cert create \[options\]/);
  t.regex(help.stdout, /-additional-ipaddress=<string>/);
});
