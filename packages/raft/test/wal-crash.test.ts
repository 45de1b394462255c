// Real-disk crash test: a child process appending with fsync is SIGKILLed at random
// moments and restarted; every entry it acknowledged must still be there, in order.
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
