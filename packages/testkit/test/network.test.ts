import test from 'ava';
import {
  NetworkError,
  Prng,
  SimNetwork,
  Trace,
  VirtualClock,
  type LinkConfig,
  type NetworkStats,
} from '../src/index.js';

interface Msg {
  readonly n: number;
}

interface Received {
  readonly at: number;
  readonly from: string;
  readonly to: string;
  readonly n: number;
}

function world(seed: number | string, defaults: Partial<LinkConfig> = {}, nodes = ['a', 'b', 'c']) {
  const clock = new VirtualClock();
  const trace = new Trace({ keep: 50 });
  const net = new SimNetwork<Msg>({
    clock,
    rng: Prng.derive(seed, 'network'),
    trace,
    describe: (m) => `m${m.n}`,
    defaults,
  });
  const received: Received[] = [];
  for (const node of nodes) {
    net.register(node, (from, msg) => received.push({ at: clock.now(), from, to: node, n: msg.n }));
  }
  const numbers = (from: string, to: string) =>
    received.filter((r) => r.from === from && r.to === to).map((r) => r.n);
  return { clock, trace, net, received, numbers };
}

function totalDropped(s: NetworkStats): number {
  return Object.values(s.dropped).reduce((x, y) => x + y, 0);
}

/** A busy run with every kind of fault; returns its trace hash. */
function chaoticRun(seed: number): { hash: string; stats: NetworkStats } {
  const { clock, trace, net } = world(seed, {
    delay: { kind: 'exponential', minMs: 1, meanMs: 5, maxMs: 40 },
    dropRate: 0.1,
    duplicateRate: 0.05,
    reorderRate: 0.1,
  });
  const rng = Prng.derive(seed, 'workload');
  const nodes = ['a', 'b', 'c'];
  let n = 0;
  for (let t = 0; t < 500; t += 2) {
    clock.at(t, () => {
      net.send(rng.pick(nodes), rng.pick(nodes), { n: n++ });
    });
  }
  clock.at(100, () => net.partition(['a'], ['b', 'c']));
  clock.at(200, () => net.heal());
  clock.at(250, () => net.partitionOneWay(['b'], ['c']));
  clock.at(300, () => net.isolate('c'));
  clock.at(350, () => net.clog('a', 30));
  clock.at(400, () => net.heal());
  clock.advance(1000);
  return { hash: trace.hash(), stats: net.stats() };
}

test('the same seed gives the same trace hash and stats; another seed gives another hash', (t) => {
  const first = chaoticRun(7);
  const again = chaoticRun(7);
  const other = chaoticRun(8);
  t.is(first.hash, again.hash);
  t.deepEqual(first.stats, again.stats);
  t.not(first.hash, other.hash);
});

test('every message is accounted for: sent + duplicated = delivered + dropped + in flight', (t) => {
  const { stats } = chaoticRun(3);
  t.true(stats.sent > 0 && stats.duplicated > 0 && stats.dropped['random-drop'] > 0);
  t.true(stats.dropped.partition > 0 && stats.dropped.isolated > 0);
  t.is(stats.sent + stats.duplicated, stats.delivered + totalDropped(stats) + stats.inFlight);
  t.is(stats.inFlight, 0);
});

test('random loss drops close to dropRate of the messages (10,000 messages, fixed seed)', (t) => {
  const { clock, net, received } = world(1, { dropRate: 0.2 });
  for (let i = 0; i < 10_000; i++) net.send('a', 'b', { n: i });
  clock.advance(100);
  const s = net.stats();
  t.true(Math.abs(s.dropped['random-drop'] / 10_000 - 0.2) < 0.02, `${s.dropped['random-drop']}`);
  t.is(received.length + s.dropped['random-drop'], 10_000);
});

test('duplication delivers a copy of close to duplicateRate of the messages', (t) => {
  const { clock, net, received } = world(2, { duplicateRate: 0.3 });
  for (let i = 0; i < 10_000; i++) net.send('a', 'b', { n: i });
  clock.advance(100);
  const s = net.stats();
  t.true(Math.abs(s.duplicated / 10_000 - 0.3) < 0.02, `${s.duplicated}`);
  t.is(received.length, 10_000 + s.duplicated);
  const counts = new Map<number, number>();
  for (const r of received) counts.set(r.n, (counts.get(r.n) ?? 0) + 1);
  t.true([...counts.values()].every((c) => c === 1 || c === 2));
});

test('duplicateRate 1 delivers every message exactly twice', (t) => {
  const { clock, net, numbers } = world(2, { duplicateRate: 1 });
  for (let i = 0; i < 5; i++) net.send('a', 'b', { n: i });
  clock.advance(100);
  t.deepEqual(
    numbers('a', 'b').sort((x, y) => x - y),
    [0, 0, 1, 1, 2, 2, 3, 3, 4, 4],
  );
});

function isSorted(xs: number[]): boolean {
  return xs.every((x, i) => i === 0 || (xs[i - 1] as number) <= x);
}

test('by default a link reorders: a random delay lets later messages overtake earlier ones', (t) => {
  const { clock, net, numbers } = world(4);
  for (let i = 0; i < 200; i++) net.send('a', 'b', { n: i });
  clock.advance(100);
  t.is(numbers('a', 'b').length, 200);
  t.false(isSorted(numbers('a', 'b')));
});

test('a FIFO link never reorders, whatever its delays, stragglers and duplicates', (t) => {
  const { clock, net, numbers } = world(4, {
    fifo: true,
    delay: { kind: 'exponential', minMs: 1, meanMs: 20 },
    reorderRate: 0.5,
  });
  for (let i = 0; i < 200; i++) clock.at(i, () => net.send('a', 'b', { n: i }));
  clock.advance(10_000);
  t.is(numbers('a', 'b').length, 200);
  t.true(isSorted(numbers('a', 'b')));
});

test('a fixed delay keeps order; stragglers (reorderRate) reorder it', (t) => {
  const plain = world(5, { delay: { kind: 'fixed', ms: 3 } });
  const straggly = world(5, { delay: { kind: 'fixed', ms: 3 }, reorderRate: 0.2 });
  for (const w of [plain, straggly]) {
    for (let i = 0; i < 100; i++) w.clock.at(i, () => w.net.send('a', 'b', { n: i }));
    w.clock.advance(1000);
    t.is(w.numbers('a', 'b').length, 100);
  }
  t.true(isSorted(plain.numbers('a', 'b')));
  t.false(isSorted(straggly.numbers('a', 'b')));
});

test('delays stay within their distribution: fixed, uniform and capped exponential', (t) => {
  const cases: [LinkConfig['delay'], (d: number) => boolean][] = [
    [{ kind: 'fixed', ms: 7 }, (d) => d === 7],
    [{ kind: 'uniform', minMs: 2, maxMs: 9 }, (d) => d >= 2 && d <= 9],
    [{ kind: 'exponential', minMs: 3, meanMs: 10, maxMs: 60 }, (d) => d >= 3 && d <= 60],
  ];
  for (const [delay, ok] of cases) {
    const { clock, net, received } = world(6, { delay });
    for (let i = 0; i < 2000; i++) net.send('a', 'b', { n: i });
    clock.advance(1000);
    t.is(received.length, 2000);
    t.true(
      received.every((r) => ok(r.at)),
      delay.kind,
    );
  }
});

test('an uncapped exponential delay has the configured mean', (t) => {
  const { clock, net, received } = world(6, {
    delay: { kind: 'exponential', minMs: 2, meanMs: 12 },
  });
  for (let i = 0; i < 10_000; i++) net.send('a', 'b', { n: i });
  clock.advance(100_000);
  const mean = received.reduce((s, r) => s + r.at, 0) / received.length;
  t.true(Math.abs(mean - 12) < 0.5, `${mean}`);
  t.true(received.every((r) => r.at >= 2));
});

test('a symmetric partition blocks both directions across it and none within a side', (t) => {
  const { clock, net, numbers } = world(9);
  net.partition(['a'], ['b', 'c']);
  net.send('a', 'b', { n: 1 });
  net.send('b', 'a', { n: 2 });
  net.send('c', 'a', { n: 3 });
  net.send('b', 'c', { n: 4 });
  clock.advance(100);
  t.deepEqual(numbers('a', 'b'), []);
  t.deepEqual(numbers('b', 'a'), []);
  t.deepEqual(numbers('c', 'a'), []);
  t.deepEqual(numbers('b', 'c'), [4]);
  t.is(net.stats().dropped.partition, 3);
});

test('a one-way partition blocks only its direction', (t) => {
  const { clock, net, numbers } = world(9);
  net.partitionOneWay(['a'], ['b']);
  net.send('a', 'b', { n: 1 });
  net.send('b', 'a', { n: 2 });
  net.send('a', 'c', { n: 3 });
  clock.advance(100);
  t.deepEqual(numbers('a', 'b'), []);
  t.deepEqual(numbers('b', 'a'), [2]);
  t.deepEqual(numbers('a', 'c'), [3]);
  t.is(net.blockedBy('a', 'b'), 'partition');
  t.is(net.blockedBy('b', 'a'), undefined);
});

test('an isolated node neither sends nor receives; the others talk; healing its handle reconnects it', (t) => {
  const { clock, net, numbers } = world(10);
  const fault = net.isolate('a');
  net.send('a', 'b', { n: 1 });
  net.send('c', 'a', { n: 2 });
  net.send('b', 'c', { n: 3 });
  net.send('a', 'a', { n: 4 }); // loopback is never blocked
  clock.advance(100);
  t.deepEqual(numbers('a', 'b'), []);
  t.deepEqual(numbers('c', 'a'), []);
  t.deepEqual(numbers('b', 'c'), [3]);
  t.deepEqual(numbers('a', 'a'), [4]);
  t.is(net.stats().dropped.isolated, 2);
  fault.heal();
  net.send('a', 'b', { n: 5 });
  clock.advance(100);
  t.deepEqual(numbers('a', 'b'), [5]);
});

test('unisolate ends the isolation of a node', (t) => {
  const { clock, net, numbers } = world(10);
  net.isolate('b');
  net.unisolate('b');
  net.send('a', 'b', { n: 1 });
  clock.advance(100);
  t.deepEqual(numbers('a', 'b'), [1]);
});

test('clogging delays every message to and from the node by the extra amount, once per clogged end', (t) => {
  const { clock, net, received } = world(11, { delay: { kind: 'fixed', ms: 5 } });
  net.clog('a', 100);
  net.send('a', 'b', { n: 1 });
  net.send('c', 'a', { n: 2 });
  net.send('b', 'c', { n: 3 });
  clock.advance(1000);
  t.deepEqual(
    received.map((r) => [r.n, r.at]),
    [
      [3, 5],
      [1, 105],
      [2, 105],
    ],
  );
  const start = clock.now();
  net.clog('b', { kind: 'uniform', minMs: 50, maxMs: 60 });
  net.send('a', 'b', { n: 4 });
  clock.advance(1000);
  const at = received.find((r) => r.n === 4)!.at - start;
  t.true(at >= 155 && at < 165, `${at}`);
});

test('unclog restores the link delay for later messages; messages already sent keep theirs', (t) => {
  const { clock, net, received } = world(11, { delay: { kind: 'fixed', ms: 5 } });
  net.clog('a', 100);
  net.send('a', 'b', { n: 1 });
  net.unclog('a');
  net.send('a', 'b', { n: 2 });
  clock.advance(1000);
  t.deepEqual(
    received.map((r) => [r.n, r.at]),
    [
      [2, 5],
      [1, 105],
    ],
  );
});

test('heal removes every partition, isolation and clog', (t) => {
  const { clock, net, received } = world(12, { delay: { kind: 'fixed', ms: 1 } });
  net.partition(['a'], ['b']);
  net.partitionOneWay(['c'], ['b']);
  net.isolate('c');
  net.clog('b', 500);
  net.heal();
  for (const [from, to] of [
    ['a', 'b'],
    ['b', 'a'],
    ['c', 'b'],
    ['c', 'a'],
  ] as const) {
    t.is(net.blockedBy(from, to), undefined);
    net.send(from, to, { n: 0 });
  }
  clock.advance(10);
  t.is(received.length, 4);
  t.true(received.every((r) => r.at === 1));
});

test('healing one partition by its handle leaves the others in place', (t) => {
  const { net } = world(12);
  const ab = net.partition(['a'], ['b']);
  net.partition(['a'], ['c']);
  ab.heal();
  ab.heal(); // idempotent
  t.is(net.blockedBy('a', 'b'), undefined);
  t.is(net.blockedBy('a', 'c'), 'partition');
});

test('a message in flight when its link is cut is lost at that instant, even if the link heals before its due time', (t) => {
  const { clock, net, numbers, trace } = world(13, { delay: { kind: 'fixed', ms: 10 } });
  net.send('a', 'b', { n: 1 });
  net.send('b', 'a', { n: 2 });
  net.send('a', 'c', { n: 3 });
  clock.advance(5);
  const cut = net.partitionOneWay(['a'], ['b']);
  t.is(net.inFlight, 2);
  t.true(trace.tail().some((l) => l === '5.000 net.drop a->b #1 partition in-flight m1'));
  cut.heal();
  clock.advance(100);
  t.deepEqual(numbers('a', 'b'), []);
  t.deepEqual(numbers('b', 'a'), [2]);
  t.deepEqual(numbers('a', 'c'), [3]);
});

test('isolating a node loses the messages in flight to and from it', (t) => {
  const { clock, net, received } = world(13, { delay: { kind: 'fixed', ms: 10 } });
  net.send('a', 'b', { n: 1 });
  net.send('b', 'a', { n: 2 });
  net.send('b', 'c', { n: 3 });
  clock.advance(1);
  net.isolate('a');
  clock.advance(100);
  t.deepEqual(
    received.map((r) => r.n),
    [3],
  );
  t.is(net.stats().dropped.isolated, 2);
});

test('an unregistered node gets nothing: mail in flight to it is dropped and a restart does not receive it', (t) => {
  const { clock, net, numbers } = world(14, { delay: { kind: 'fixed', ms: 10 } });
  net.send('a', 'b', { n: 1 });
  net.send('b', 'a', { n: 2 }); // sent before b crashed: still arrives
  clock.advance(1);
  t.true(net.unregister('b'));
  net.send('a', 'b', { n: 3 });
  net.send('b', 'c', { n: 4 }); // a crashed node cannot send
  const after: number[] = [];
  net.register('b', (_from, m) => after.push(m.n));
  clock.advance(100);
  t.deepEqual(after, []);
  t.deepEqual(numbers('b', 'a'), [2]);
  t.is(net.stats().dropped.unregistered, 3);
  net.send('a', 'b', { n: 5 });
  clock.advance(100);
  t.deepEqual(after, [5]);
});

test('registering a node twice is an error with a stable code', (t) => {
  const { net } = world(15);
  const err = t.throws(() => net.register('a', () => {}), { instanceOf: NetworkError });
  t.is(err?.code, 'ERR_NETWORK_NODE_REGISTERED');
});

test('invalid settings and overlapping partition groups are rejected with stable codes', (t) => {
  const { net } = world(15);
  const code = (fn: () => unknown) => t.throws(fn, { instanceOf: NetworkError })?.code;
  t.is(
    code(() => net.setDefaults({ dropRate: 1.5 })),
    'ERR_NETWORK_CONFIG',
  );
  t.is(
    code(() => net.setLink('a', 'b', { delay: { kind: 'uniform', minMs: 5, maxMs: 1 } })),
    'ERR_NETWORK_CONFIG',
  );
  t.is(
    code(() => net.clog('a', -1)),
    'ERR_NETWORK_CONFIG',
  );
  t.is(
    code(() => net.partition(['a', 'b'], ['b'])),
    'ERR_NETWORK_GROUPS_OVERLAP',
  );
  t.is(net.link('a', 'b').dropRate, 0, 'a rejected setting leaves the link unchanged');
  t.deepEqual(net.link('a', 'b').delay, net.link('b', 'a').delay);
});

test('per-link settings apply to their direction only, merge, and reset to the defaults', (t) => {
  const { clock, net, received } = world(16, { delay: { kind: 'fixed', ms: 2 } });
  net.setLink('a', 'b', { delay: { kind: 'fixed', ms: 30 } });
  net.setLink('a', 'b', { duplicateRate: 1 });
  t.deepEqual(net.link('a', 'b').delay, { kind: 'fixed', ms: 30 });
  t.is(net.link('a', 'b').duplicateRate, 1);
  t.is(net.link('b', 'a').duplicateRate, 0);
  net.send('a', 'b', { n: 1 });
  net.send('b', 'a', { n: 2 });
  clock.advance(100);
  t.deepEqual(
    received.map((r) => [r.n, r.at]),
    [
      [2, 2],
      [1, 30],
      [1, 30],
    ],
  );
  net.resetLink('a', 'b');
  t.deepEqual(net.link('a', 'b'), net.link('b', 'a'));
});

test('the trace has a line per send, delivery, duplicate, drop and fault, with the described message', (t) => {
  const { clock, net, trace } = world(17, { delay: { kind: 'fixed', ms: 1 } });
  net.setLink('a', 'b', { duplicateRate: 1 });
  net.send('a', 'b', { n: 1 });
  const p = net.partition(['a'], ['c']);
  net.send('c', 'a', { n: 2 });
  p.heal();
  clock.advance(5);
  t.deepEqual(trace.tail().slice(3), [
    '0.000 net.link a->b duplicateRate=1',
    '0.000 net.send a->b #1 due=1.000 m1',
    "0.000 net.dup a->b #1' due=1.000 m1",
    '0.000 net.partition #1 [a] <-> [c]',
    '0.000 net.drop c->a #2 partition m2',
    '0.000 net.heal #1',
    '1.000 net.deliver a->b #1 m1',
    "1.000 net.deliver a->b #1' m1",
  ]);
});
