/**
 * Script checks running real processes (Consul's CheckMonitor with ScriptArgs): exit codes,
 * captured output, start failures, and timeouts that kill the whole process group.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { CheckStatus } from '@trellis/state';
import { createRunner, type CheckRunner } from '../../src/checks/index.js';
import type { CheckDefinition } from '../../src/local/types.js';
import { Recorder, def, noStagger, waitFor } from './helpers.js';

function start(t: ExecutionContext, d: CheckDefinition): { rec: Recorder; runner: CheckRunner } {
  const rec = new Recorder();
  const runner = createRunner(d, { notify: rec.notify, random: noStagger });
  t.teardown(() => runner.stop());
  runner.start();
  return { rec, runner };
}

const sh = (script: string, over: Partial<CheckDefinition> = {}): CheckDefinition =>
  def({ kind: 'script', ScriptArgs: ['/bin/sh', '-c', script], ...over });

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-checks-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** True once `pid` is gone (or a zombie waiting for init to reap it). */
function dead(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

test('exit 0 is passing, 1 warning, anything else critical (TestCheckMonitor_Args)', async (t) => {
  const cases: [string, CheckStatus][] = [
    ['exit 0', 'passing'],
    ['exit 1', 'warning'],
    ['exit 2', 'critical'],
    ['exit 255', 'critical'],
    ['kill -9 $$', 'critical'],
  ];
  await Promise.all(
    cases.map(async ([script, status]) => {
      const u = await start(t, sh(script)).rec.next();
      t.is(u.status, status, script);
    }),
  );
});

test('stdout and stderr are the output; arguments reach the program without a shell', async (t) => {
  const u = await start(t, sh('echo out; echo err >&2; exit 1')).rec.next();
  t.is(u.status, 'warning');
  t.true(u.output.includes('out\n') && u.output.includes('err\n'), u.output);
  const node = await start(
    t,
    def({
      kind: 'script',
      ScriptArgs: [
        process.execPath,
        '-e',
        'process.stdout.write(process.argv[1])',
        '$HOME; `x` | *',
      ],
    }),
  ).rec.next();
  t.deepEqual([node.status, node.output], ['passing', '$HOME; `x` | *']);
});

test('long output keeps its last OutputMaxSize bytes with Consul’s note', async (t) => {
  const u = await start(t, sh("head -c 100000 /dev/zero | tr '\\0' x; printf END")).rec.next();
  t.is(u.status, 'passing');
  t.is(u.output, `Captured 4096 of 100003 bytes\n...\n${'x'.repeat(4093)}END`);
  const small = await start(t, sh('printf 0123456789', { OutputMaxSize: 4 })).rec.next();
  t.is(small.output, 'Captured 4 of 10 bytes\n...\n6789');
});

test('binary output is bounded text (TestCheckMonitor_LimitOutput)', async (t) => {
  const u = await start(t, sh('head -c 81920 /dev/urandom')).rec.next();
  t.is(u.status, 'passing');
  // Up to 3 leading bytes are dropped when the kept tail starts inside a character.
  t.regex(u.output, /^Captured 409[3-6] of 81920 bytes\n\.\.\.\n/);
  t.true(u.output.length <= 4096 + 64, `${u.output.length} characters`);
});

test('a program that cannot start is critical with the reason', async (t) => {
  const dir = tempDir(t);
  const notExecutable = join(dir, 'check.sh');
  writeFileSync(notExecutable, '#!/bin/sh\nexit 0\n');
  chmodSync(notExecutable, 0o644);
  const cases: [readonly string[], string][] = [
    [['foobarbaz-not-here'], 'exec: "foobarbaz-not-here": executable file not found in $PATH'],
    [['/nonexistent/check'], 'fork/exec /nonexistent/check: no such file or directory'],
    [[notExecutable], `fork/exec ${notExecutable}: permission denied`],
    [[], 'need an executable to run'],
  ];
  for (const [args, output] of cases) {
    const u = await start(t, def({ kind: 'script', ScriptArgs: args })).rec.next();
    t.deepEqual([u.status, u.output], ['critical', output], args.join(' '));
  }
});

test('a grandchild that escapes the group and holds the output open does not stall the check', async (t) => {
  const dir = tempDir(t);
  const pidFile = join(dir, 'pid');
  t.teardown(() => {
    try {
      process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
    } catch {
      // already gone
    }
  });
  // setsid puts sleep in a session of its own: the group kill cannot reach it, and it keeps
  // stdout open after the script exits.
  const u = await start(
    t,
    sh(`setsid sleep 30 & echo $! > ${pidFile}; echo done`, { Interval: 10_000 }),
  ).rec.next();
  t.deepEqual([u.status, u.output], ['passing', 'done\n']);
});

test('Timeout kills the whole process group → critical with the output so far', async (t) => {
  const dir = tempDir(t);
  const pidFile = join(dir, 'pid');
  const { rec } = start(
    t,
    sh(`sleep 30 & echo $! > ${pidFile}; echo started; wait`, { Timeout: 300, Interval: 10_000 }),
  );
  const u = await rec.next();
  t.is(u.status, 'critical');
  t.is(u.output, 'Timed out (300ms) running check\n\nstarted\n');
  const grandchild = Number(readFileSync(pidFile, 'utf8'));
  await waitFor(`background sleep ${grandchild} to die`, () => dead(grandchild), 3000);
  t.pass();
});

test('a timeout bypasses the status handler; exit codes go through it (as Consul)', async (t) => {
  const dir = tempDir(t);
  const thresholds = { FailuresBeforeWarning: 5, FailuresBeforeCritical: 5, Interval: 20 };
  /** Runs a script that passes once, then fails `how`; records [status, runs so far] per update. */
  const scenario = (name: string, how: string, timeout: number) => {
    const runs = join(dir, name);
    const seen: [CheckStatus, number][] = [];
    const count = (): number => readFileSync(runs, 'utf8').length;
    const runner = createRunner(
      sh(`printf x >> ${runs}; [ $(wc -c < ${runs}) -gt 1 ] && ${how}; exit 0`, {
        ...thresholds,
        Timeout: timeout,
      }),
      { notify: (status) => void seen.push([status, count()]), random: noStagger },
    );
    t.teardown(() => runner.stop());
    runner.start();
    return seen;
  };
  // The hanging script's Timeout is short; the other's is long enough that no run of it times out.
  const hang = scenario('hang', 'exec sleep 30', 500);
  const exit2 = scenario('exit2', 'exit 2', 10_000);
  await waitFor('both to turn critical', () => hang.length >= 2 && exit2.length >= 2, 8000);
  t.deepEqual(
    hang.slice(0, 2),
    [
      ['passing', 1],
      ['critical', 2],
    ],
    'the first timeout is reported at once, thresholds notwithstanding',
  );
  t.deepEqual(
    exit2.slice(0, 2),
    [
      ['passing', 1],
      ['critical', 6],
    ],
    'exit 2 is reported after 5 failures in a row',
  );
});

test('stop() kills an in-flight script and reports nothing more', async (t) => {
  const dir = tempDir(t);
  const pidFile = join(dir, 'pid');
  const { rec, runner } = start(t, sh(`echo $$ > ${pidFile}; exec sleep 30`, { Timeout: 30_000 }));
  const pid = await waitFor('the script to start', () =>
    existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() !== ''
      ? Number(readFileSync(pidFile, 'utf8'))
      : undefined,
  );
  runner.stop();
  await waitFor(`script ${pid} to die`, () => dead(pid), 3000);
  t.is(rec.updates.length, 0);
});
