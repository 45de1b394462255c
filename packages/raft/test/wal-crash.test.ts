// Real-disk crash tests: a child process that acknowledges only what it has fsynced is
// SIGKILLed at random moments and restarted; everything it acknowledged must still be there.
// (SIGKILL keeps the page cache, so these exercise the recovery path on real files; power
// loss, which drops unsynced pages, is covered by the simulated-disk crash tests.)
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Prng } from '@trellis/testkit';
import { NodeDisk } from '../src/wal/node-disk.js';
import { Wal } from '../src/wal/wal.js';

const writer = new URL('./fixtures/wal-writer.js', import.meta.url).pathname;
const proposer = new URL('./fixtures/raft-proposer.js', import.meta.url).pathname;

/** Runs the writer until it has acknowledged `killAfter` batches, then SIGKILLs it. */
function runAndKill(
  dir: string,
  seed: number,
  killAfter: number,
): Promise<{ started: number; acked: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [writer, dir, String(seed)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let started = -1;
    let acked = 0;
    let acks = 0;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`writer made only ${acks} acknowledgements in 30 s`));
    }, 30_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      const [what, n] = line.split(' ');
      if (what === 'start') started = Number(n);
      if (what === 'ack') {
        acked = Number(n);
        if (++acks === killAfter) child.kill('SIGKILL');
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') resolve({ started, acked });
      else reject(new Error(`writer exited with ${code ?? signal} before it was killed`));
    });
  });
}

test('SIGKILL at random moments never loses an acknowledged entry', async (t) => {
  const seed = 20261123;
  const rng = new Prng(seed);
  const dir = mkdtempSync(join(tmpdir(), 'trellis-wal-crash-'));
  try {
    let acked = 0;
    for (let round = 0; round < 6; round++) {
      const r = await runAndKill(dir, seed + round, 1 + rng.int(150));
      t.true(
        r.started >= acked,
        `round ${round}: restarted at ${r.started} but ${acked} was acknowledged (seed ${seed})`,
      );
      acked = r.acked;
      const disk = new NodeDisk();
      const { recovered } = Wal.open(disk, { dir, segmentBytes: 64 * 1024 });
      disk.close();
      t.true(
        recovered.entries.length >= acked,
        `round ${round}: ${recovered.entries.length} < ${acked} acknowledged`,
      );
      for (let i = 0; i < acked; i++) {
        const e = recovered.entries[i]!;
        if (
          e.index !== i + 1 ||
          !Buffer.from(e.data)
            .toString()
            .startsWith(`entry-${i + 1}-`)
        ) {
          t.fail(`round ${round}: entry ${i + 1} is wrong after the crash (seed ${seed})`);
          return;
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Runs the proposer until `killAfter` acknowledgements, then SIGKILLs it. */
function proposeAndKill(
  dir: string,
  killAfter: number,
): Promise<{ recovered: number; contiguous: boolean; maxAcked: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [proposer, dir, '16'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let recovered = -1;
    let contiguous = false;
    let maxAcked = 0;
    let acks = 0;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`proposer made only ${acks} acknowledgements in 30 s`));
    }, 30_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      const [what, a, b] = line.split(' ');
      if (what === 'recovered') {
        recovered = Number(a);
        contiguous = b === 'contiguous';
      }
      if (what === 'ack') {
        maxAcked = Math.max(maxAcked, Number(a));
        if (++acks === killAfter) child.kill('SIGKILL');
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') resolve({ recovered, contiguous, maxAcked });
      else reject(new Error(`proposer exited with ${code ?? signal} before it was killed`));
    });
  });
}

test('a RaftNode proposing with fsync, SIGKILLed at random moments, keeps every acknowledged proposal', async (t) => {
  const seed = 4242;
  const rng = new Prng(seed);
  const dir = mkdtempSync(join(tmpdir(), 'trellis-raft-crash-'));
  try {
    let maxAcked = 0;
    for (let round = 0; round < 6; round++) {
      const r = await proposeAndKill(dir, 1 + rng.int(400));
      t.true(r.contiguous, `round ${round}: the recovered keys have a gap (seed ${seed})`);
      t.true(
        r.recovered >= maxAcked,
        `round ${round}: recovered ${r.recovered} proposals but ${maxAcked} were acknowledged (seed ${seed})`,
      );
      maxAcked = r.maxAcked;
    }
    // One more start checks what the last round acknowledged.
    const last = await proposeAndKill(dir, 1);
    t.true(last.contiguous && last.recovered >= maxAcked, `final: ${last.recovered} < ${maxAcked}`);
    t.true(maxAcked > 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
