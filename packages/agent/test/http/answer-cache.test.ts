// The shared answer cache of catalog and health reads: a hit only at the store state the
// answer was built at, never across different queries, and every write retires it.
import test from 'ava';
import { ANSWERS } from '../../src/http/catalog.js';
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
    t.true(first.text.length > 4096, 'big enough to be cached');
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

test.serial('parked readers woken by one change share one build of the answer', async (t) => {
  const s = await serve(t.teardown);
  for (let i = 0; i < 40; i++) await register(s, `n${i}`, 'passing');
  const first = await s.call('GET', '/v1/health/service/web');
  const index = String(first.headers['x-consul-index']);
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
