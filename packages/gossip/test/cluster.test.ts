import test from 'ava';
import { Cluster } from './cluster.js';

const NAMES = Array.from({ length: 10 }, (_, i) => `n${i}`);
const allAlive = (names: string[]): Record<string, string> =>
  Object.fromEntries(names.map((n) => [n, 'alive']));

function converged(seed: number): Cluster {
  const c = new Cluster(seed);
  for (const n of NAMES) c.add(n);
  // Everyone joins through n0 (as agents do with a retry_join list of servers).
  for (const n of NAMES.slice(1)) c.join(n, ['n0']);
  return c;
}

test('10 members converge through a seed', (t) => {
  const c = converged(1);
  t.true(
    c.runUntil(() => c.agree(allAlive(NAMES)), 30_000),
    JSON.stringify(c.view('n9')),
  );
  const took = c.clock.now();
  t.log(`converged after ${took} ms, ${c.packets} packets`);
  for (const n of NAMES) {
    const joins = c
      .node(n)
      .events.filter((e) => e.startsWith('join '))
      .map((e) => e.slice(5));
    t.deepEqual([...joins].sort(), NAMES, `${n} saw every join exactly once`);
  }
  // It stays converged (no false suspicion in a perfect network).
  c.run(60_000);
  t.true(c.agree(allAlive(NAMES)));
  for (const n of NAMES) {
    t.false(
      c.node(n).events.some((e) => e.startsWith('fail') || e.startsWith('leave')),
      `${n}: ${c.node(n).events.join(', ')}`,
    );
    t.is(c.node(n).core.healthScore(), 0);
  }
});

test('a stopped member is declared dead by everyone', (t) => {
  const c = converged(2);
  t.true(c.runUntil(() => c.agree(allAlive(NAMES)), 30_000));
  c.run(5_000);
  const stoppedAt = c.clock.now();
  c.stop('n4');
  const others = NAMES.filter((n) => n !== 'n4');
  t.true(
    c.runUntil(() => c.agree({ ...allAlive(others), n4: 'dead' }), 60_000),
    JSON.stringify(c.view('n0')),
  );
  const took = c.clock.now() - stoppedAt;
  t.log(`n4 declared dead everywhere ${took} ms after it stopped`);
  // Bounded by probe rounds + suspicion (4–24 s for N = 10).
  t.true(took < 40_000);
  for (const n of others) {
    t.true(c.node(n).events.includes('fail n4'), n);
    t.false(c.node(n).events.includes('leave n4'), n);
  }
});

test('a graceful leave is seen as left, not failed', (t) => {
  const c = converged(3);
  t.true(c.runUntil(() => c.agree(allAlive(NAMES)), 30_000));
  c.run(2_000);
  c.leave('n7');
  const others = NAMES.filter((n) => n !== 'n7');
  t.true(
    c.runUntil(() => c.node('n7').leaveComplete, 10_000),
    'leave intent gossiped',
  );
  c.stop('n7');
  t.true(
    c.runUntil(() => c.agree({ ...allAlive(others), n7: 'left' }), 10_000),
    JSON.stringify(c.view('n0')),
  );
  for (const n of others) {
    t.true(c.node(n).events.includes('leave n7'), n);
    t.false(c.node(n).events.includes('fail n7'), n);
  }
  // Left members are eventually reaped from the table (after GossipToTheDeadTime).
  c.run(120_000);
  t.true(c.agree(allAlive(others)));
  t.is(c.view('n0')['n7'], undefined);
});

test('force-leave turns a failed member into a left one everywhere; alive and unknown members are refused', (t) => {
  const c = converged(5);
  t.true(c.runUntil(() => c.agree(allAlive(NAMES)), 30_000));
  c.run(2_000);
  c.stop('n5');
  const others = NAMES.filter((n) => n !== 'n5');
  t.true(c.runUntil(() => c.agree({ ...allAlive(others), n5: 'dead' }), 60_000));
  let aliveRefused = true;
  c.do('n2', (core, now) => {
    const r = core.forceLeave('n3', now);
    aliveRefused = !r.done;
    return r.outputs;
  });
  t.true(aliveRefused, 'an alive member cannot be forced out');
  let unknownRefused = true;
  c.do('n2', (core, now) => {
    const r = core.forceLeave('nobody', now);
    unknownRefused = !r.done;
    return r.outputs;
  });
  t.true(unknownRefused);
  let done = false;
  c.do('n2', (core, now) => {
    const r = core.forceLeave('n5', now);
    done = r.done;
    return r.outputs;
  });
  t.true(done);
  t.true(
    c.runUntil(() => c.agree({ ...allAlive(others), n5: 'left' }), 10_000),
    JSON.stringify(c.view('n0')),
  );
  for (const n of others) {
    t.true(c.node(n).events.includes('fail n5'), n);
    t.true(c.node(n).events.includes('leave n5'), n);
  }
  // No one else was disturbed by it.
  t.true(c.agree({ ...allAlive(others), n5: 'left' }));
});

test('a user event reaches every member exactly once', (t) => {
  const c = converged(4);
  t.true(c.runUntil(() => c.agree(allAlive(NAMES)), 30_000));
  c.do('n3', (core, now) => core.userEvent('deploy', new TextEncoder().encode('web@v2'), now));
  c.run(10_000);
  for (const n of NAMES) {
    t.deepEqual(
      c.node(n).events.filter((e) => e.startsWith('event')),
      ['event deploy@0'],
      n,
    );
  }
});

test('a tags update reaches every member as an update event', (t) => {
  const c = converged(5);
  t.true(c.runUntil(() => c.agree(allAlive(NAMES)), 30_000));
  c.do('n2', (core, now) => core.setTags({ role: 'server', dc: 'dc1' }, now));
  t.true(
    c.runUntil(
      () => NAMES.every((n) => c.node(n).core.member('n2')?.tags['role'] === 'server'),
      10_000,
    ),
  );
  for (const n of NAMES) t.true(c.node(n).events.includes('update n2'), n);
});

test('a crashed member restarted under its name rejoins and refutes its death', (t) => {
  const c = converged(6);
  t.true(c.runUntil(() => c.agree(allAlive(NAMES)), 30_000));
  c.stop('n5');
  const others = NAMES.filter((n) => n !== 'n5');
  t.true(c.runUntil(() => c.agree({ ...allAlive(others), n5: 'dead' }), 60_000));
  // A fresh process: incarnation 1 again, lower than what the others know.
  c.nodes.delete('n5');
  c.add('n5');
  c.join('n5', ['n0']);
  t.true(
    c.runUntil(() => c.agree(allAlive(NAMES)), 30_000),
    JSON.stringify(c.view('n1')),
  );
  t.true(c.node('n5').core.localMember().incarnation > 1, 'refuted with a higher incarnation');
  for (const n of others) t.true(c.node(n).events.includes('join n5'), n);
});
