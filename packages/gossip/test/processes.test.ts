// Ten gossip agents in ten processes on loopback, encrypted: join through one seed, a user
// event reaches everyone, the gossip key is rotated without losing anyone, a SIGKILLed
// member is declared failed within the Lifeguard bound, a graceful leave is seen as left.
import test from 'ava';
import { PRESETS, generateKey, suspicionTimeout } from '../src/index.js';
import { waitFor } from './net-helpers.js';
import { NodeProc, allReport } from './procs.js';

const N = 10;
// The local preset, faster: 500 ms probes; push-pull every 5 s bounds convergence when an
// alive broadcast misses someone (the local preset retransmits each broadcast only 2× log N).
const TIMING = {
  probeInterval: 500,
  probeTimeout: 200,
  gossipInterval: 100,
  pushPullInterval: 5_000,
};
const LOCAL = PRESETS.local;

/**
 * Lifeguard's bound on failure detection, from the configuration: every survivor probes
 * each member once per round of N − 1 probes (so the victim is probed within that), the
 * probe itself takes one interval, then the suspicion runs at most its maximum
 * (SuspicionMaxTimeoutMult × the N-scaled minimum) before someone declares it dead; plus
 * a 2 s margin for the dead message's gossip and a loaded 2-core machine.
 */
function detectionBoundMs(): number {
  const min = suspicionTimeout(LOCAL.suspicionMult, N, TIMING.probeInterval);
  const max = LOCAL.suspicionMaxTimeoutMult * min;
  return (N - 1) * TIMING.probeInterval + TIMING.probeInterval + max + 2_000;
}

test('10 processes: join, event, key rotation, SIGKILL → failed, leave → left', async (t) => {
  const k1 = generateKey();
  const k2 = generateKey();
  const base = ['--preset', 'local', '--config', JSON.stringify(TIMING), '--key', k1];
  const procs: NodeProc[] = [];
  t.teardown(async () => {
    for (const p of procs) await p.stop('SIGKILL');
  });
  const names = Array.from({ length: N }, (_, i) => `n${i}`);
  try {
    const seed = new NodeProc('n0', base);
    procs.push(seed);
    await seed.ready;
    const t0 = performance.now();
    for (const name of names.slice(1)) {
      procs.push(new NodeProc(name, [...base, '--join', seed.addr]));
    }
    await Promise.all(procs.map((p) => p.ready));

    // --- join: every process sees all 10 alive.
    await waitFor(() => allReport(procs, names, 'alive'), 20_000, 'all 10 alive everywhere', 200);
    const joinMs = performance.now() - t0;
    t.log(`all ${N} see ${N} alive ${joinMs.toFixed(0)} ms after the joiners were spawned`);
    for (const p of procs.slice(1))
      t.truthy(
        p.find((o) => o['type'] === 'joined'),
        p.name,
      );

    // --- a user event from n3 reaches everyone, once.
    const e0 = performance.now();
    await procs[3]!.ok('event deploy v42');
    const gotEvent = (p: NodeProc): boolean =>
      p.lines.filter((l) => l.obj['type'] === 'user-event' && l.obj['payload'] === 'v42').length ===
      1;
    await waitFor(() => procs.every(gotEvent), 10_000, 'the event everywhere');
    t.log(`user event reached all ${N} in ${(performance.now() - e0).toFixed(0)} ms`);

    // --- key rotation: install k2 everywhere, use it everywhere, remove k1 everywhere.
    const failsBefore = procs.map((p) => p.lines.filter((l) => l.obj['kind'] === 'fail').length);
    for (const p of procs) await p.ok(`install-key ${k2}`);
    for (const p of procs) await p.ok(`use-key ${k2}`);
    for (const p of procs) t.deepEqual((await p.ok('keys'))['keys'], [k2, k1]);
    for (const p of procs) await p.ok(`remove-key ${k1}`);
    const inAfter = await Promise.all(procs.map((p) => p.stats()));
    // Traffic keeps flowing under k2 alone: every agent receives a few more probe rounds.
    await waitFor(
      async () => {
        const s = await Promise.all(procs.map((p) => p.stats()));
        return s.every((x, i) => x.packetsIn >= inAfter[i]!.packetsIn + 20);
      },
      15_000,
      'traffic after rotation',
      200,
    );
    t.true(await allReport(procs, names, 'alive'), 'nobody lost by the rotation');
    procs.forEach((p, i) =>
      t.is(p.lines.filter((l) => l.obj['kind'] === 'fail').length, failsBefore[i]!, p.name),
    );
    const decryptDrops = (await Promise.all(procs.map((p) => p.stats()))).map(
      (s) => s.dropped.decrypt,
    );
    t.log(`decrypt drops after the rotation, per node: ${decryptDrops.join(' ')}`);
    await procs[5]!.ok('event rotated k2');
    await waitFor(
      () => procs.every((p) => p.find((o) => o['payload'] === 'k2') !== undefined),
      10_000,
      'an event under the new key',
    );
    const rejected = await procs[0]!.cmd(`remove-key ${k2}`);
    t.false(rejected.ok);
    t.is(rejected['code'], 'GOSSIP_KEY_IS_PRIMARY');

    // --- SIGKILL n9: every survivor declares it failed within the Lifeguard bound.
    const victim = procs[9]!;
    const survivors = procs.slice(0, 9);
    const bound = detectionBoundMs();
    const killedAt = performance.now();
    await victim.stop('SIGKILL');
    await waitFor(
      () => survivors.every((p) => p.memberEvents('fail', 'n9').length > 0),
      bound,
      `every survivor to fail n9 within ${bound} ms`,
      50,
    );
    const detect = survivors.map((p) => p.memberEvents('fail', 'n9')[0]!.at - killedAt);
    const first = Math.min(...detect);
    const last = Math.max(...detect);
    t.log(
      `SIGKILL detected: first ${first.toFixed(0)} ms, last ${last.toFixed(0)} ms (bound ${bound} ms)`,
    );
    t.true(last <= bound);

    // --- n8 leaves gracefully: the others see "left", never "failed".
    const leaver = procs[8]!;
    const leftAt = performance.now();
    const r = await leaver.ok('leave');
    t.true(r['complete'], 'leave-complete before the timeout');
    await waitFor(() => leaver.exited, 5_000, 'n8 to exit after leave');
    t.is(leaver.exitCode, 0);
    const rest = procs.slice(0, 8);
    await waitFor(
      () => rest.every((p) => p.memberEvents('leave', 'n8').length > 0),
      10_000,
      'everyone sees n8 leave',
    );
    t.log(`graceful leave seen by all in ${(performance.now() - leftAt).toFixed(0)} ms`);
    const views = await Promise.all(rest.map((p) => p.members()));
    for (const [i, v] of views.entries()) {
      const st = Object.fromEntries(v.map((m) => [m.name, m.status]));
      t.is(st['n8'], 'left', rest[i]!.name);
      t.is(st['n9'], 'dead', rest[i]!.name);
      for (const n of names.slice(0, 8)) t.is(st[n], 'alive', `${rest[i]!.name} sees ${n}`);
      t.is(rest[i]!.memberEvents('fail', 'n8').length, 0);
    }
  } catch (e) {
    for (const p of procs)
      if (p.stderr.length > 0) t.log(`${p.name} stderr:\n${p.stderr.join('\n')}`);
    throw e;
  }
});
