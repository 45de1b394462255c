// The shared answer cache of catalog and health reads: a hit only at the store state the
// answer was built at, never across different queries, and every write retires it.
import test from 'ava';
import { answerCache } from '../../src/http/catalog.js';
import { serve } from './helpers.js';

async function register(
  s: Awaited<ReturnType<typeof serve>>,
  node: string,
  status: 'passing' | 'critical',
) {
  const r = await s.call('PUT', '/v1/catalog/register', {
    body: JSON.stringify({
      Node: node,
      Address: '10.0.0.1',
      Service: { ID: 'web', Service: 'web', Port: 80, Tags: ['a', 'b'] },
      Check: { CheckID: 'alive', Name: 'alive', Status: status, ServiceID: 'web' },
    }),
  });
  if (r.status !== 200) throw new Error(r.text);
}

test.serial(
  'large listings are served from the cache until the next write, per query',
  async (t) => {
    const s = await serve(t.teardown);
    for (let i = 0; i < 40; i++) await register(s, `n${i}`, 'passing');
    const first = await s.call('GET', '/v1/health/service/web');
    const ANSWERS = answerCache(s.backend.store);
    const hits = ANSWERS.hits;
    const again = await s.call('GET', '/v1/health/service/web?stale');
    t.is(again.text, first.text);
    t.is(ANSWERS.hits, hits + 1, 'the second read is a hit (consistency is not part of the key)');
    t.is(again.headers['x-consul-index'], first.headers['x-consul-index']);
    // Another query is another entry.
    const passing = await s.call('GET', '/v1/health/service/web?passing');
    t.is(ANSWERS.hits, hits + 1);
    t.is((JSON.parse(passing.text) as unknown[]).length, 40);
    // A write retires the entry: the next answer shows it.
    await register(s, 'n0', 'critical');
    const after = await s.call('GET', '/v1/health/service/web?passing');
    t.is((JSON.parse(after.text) as unknown[]).length, 39);
    t.true(Number(after.headers['x-consul-index']) > Number(passing.headers['x-consul-index']));
    const pretty = await s.call('GET', '/v1/health/service/web?pretty');
    t.not(pretty.text, first.text);
    t.true(pretty.text.startsWith('[\n    {'));
  },
);

test('parked readers woken by one change share one build of the answer', async (t) => {
  const s = await serve(t.teardown);
  for (let i = 0; i < 40; i++) await register(s, `n${i}`, 'passing');
  const first = await s.call('GET', '/v1/health/service/web');
  const index = String(first.headers['x-consul-index']);
  const ANSWERS = answerCache(s.backend.store);
  const builds = ANSWERS.builds;
  const parked = Array.from({ length: 20 }, () =>
    s.call('GET', `/v1/health/service/web?index=${index}&wait=30s`),
  );
  await register(s, 'n40', 'passing');
  const answers = await Promise.all(parked);
  for (const a of answers) t.is((JSON.parse(a.text) as unknown[]).length, 41);
  // One build for the first woken reader (a reader whose index was already passed before it
  // parked may build one more); every other reader takes the cached bytes.
  const n = ANSWERS.builds - builds;
  t.true(n <= 2, `woken readers built the answer ${n} times`);
});

test('each store has its own cache: two agents at the same index never share answers', async (t) => {
  const a = await serve(t.teardown);
  const b = await serve(t.teardown);
  await register(a, 'only-in-a', 'passing');
  await register(b, 'only-in-b', 'passing');
  t.is(a.backend.store.lastIndex, b.backend.store.lastIndex);
  const fromA = (await a.call('GET', '/v1/health/service/web')).json() as Array<{
    Node: { Node: string };
  }>;
  const fromB = (await b.call('GET', '/v1/health/service/web')).json() as Array<{
    Node: { Node: string };
  }>;
  t.deepEqual(
    fromA.map((x) => x.Node.Node),
    ['only-in-a'],
  );
  t.deepEqual(
    fromB.map((x) => x.Node.Node),
    ['only-in-b'],
  );
});
