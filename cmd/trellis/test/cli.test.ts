// The `trellis` executable as a user runs it: a real process through bin/trellis.js.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { VERSION } from '../src/index.js';
import { commands } from '../src/main.js';

const bin = new URL('../../bin/trellis.js', import.meta.url).pathname;
const run = (...args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

test('version prints the build version; -format=json has Consul’s fields', (t) => {
  const r = run('version');
  t.is(r.status, 0);
  t.regex(r.stdout, new RegExp(`^Trellis v${VERSION.replace(/\./g, '\\.')}-dev\n`));
  const j = JSON.parse(run('version', '-format=json').stdout) as Record<string, unknown>;
  t.is(j['Version'], VERSION);
  for (const k of ['Revision', 'Prerelease', 'FIPS', 'BuildDate', 'Messages']) t.true(k in j, k);
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  t.is(pkg.version, VERSION);
  t.is(run('--version').status, 0);
});

test('keygen prints a fresh 32-byte base64 key each time', (t) => {
  const a = run('keygen').stdout.trim();
  const b = run('keygen').stdout.trim();
  t.is(Buffer.from(a, 'base64').length, 32);
  t.is(Buffer.from(a, 'base64').toString('base64'), a);
  t.not(a, b);
});

test('no command or an unknown one prints the command list and exits 127; a bad flag exits 1', (t) => {
  const none = run();
  t.is(none.status, 127);
  t.regex(none.stderr, /Available commands are:\n.*keygen/s);
  const unknown = run('frobnicate');
  t.is(unknown.status, 127);
  t.regex(unknown.stderr, /Unknown command: "frobnicate"/);
  const bad = run('version', '-bogus');
  t.is(bad.status, 1);
  t.regex(bad.stderr, /flag provided but not defined: -bogus/);
  const badFormat = run('version', '-format=xml');
  t.is(badFormat.status, 1);
  t.regex(badFormat.stderr, /Invalid format: xml/);
  t.is(run('keygen', 'extra').status, 1);
  t.is(run('version', '-h').status, 0);
});

test('-h among the leading flags shows that command’s help; a nested command shows its subcommand’s', (t) => {
  const put = run('kv', 'put', '-h');
  t.is(put.status, 0);
  t.regex(put.stdout, /^Usage: trellis kv put/);
  const members = run('members', '-h');
  t.is(members.status, 0);
  t.regex(members.stdout, /^Usage: trellis members/);
  const agent = run('agent', '-h');
  t.is(agent.status, 0);
  t.regex(agent.stdout, /-bootstrap-expect/);
});

test('the command table names each command as its module does, with the same synopsis', async (t) => {
  for (const entry of commands) {
    const cmd = await entry.load();
    t.is(cmd.name, entry.name);
    t.is(cmd.synopsis, entry.synopsis, entry.name);
  }
});
