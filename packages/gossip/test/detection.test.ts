/**
 * Faster detection with memberlist's Lifeguard formula unchanged (README, "faster
 * detection"): who runs an expedited confirmation. The rest (the confirmation itself,
 * failures gossiped at once, the final check ending at a deadline pulled in) is scripted in
 * testdata/detection.txt; late nacks and refused TCP pings are in test/probe.test.ts.
 */
import test from 'ava';
import { MessageType, type GossipCore } from '../src/index.js';
import { EXPEDITED_CONFIRMERS_PER_K } from '../src/state.js';
import { pkt, udps, withPeers } from './helpers.js';

const quiet = { gossipInterval: 1e9, pushPullInterval: 0, probeInterval: 1e9 };

/** Whether `a`, told by c that `node` is suspect, probes it at once (accusation first). */
function expedites(a: GossipCore, node: string): boolean {
  const outs = a.handlePacket(
    'c',
    pkt({ type: MessageType.Suspect, incarnation: 1, node, from: 'c' }),
    1,
  );
  return udps(outs).some((u) => u.to === node && u.messages[0]?.type === MessageType.Suspect);
}

const names = (n: number): string[] => Array.from({ length: n }, (_, i) => `m${i}`);

test('in a cluster of ten every member probes a new suspect at once (4 × k = 8 others)', (t) => {
  for (let seed = 1; seed <= 20; seed++) {
    const a = withPeers('a', ['c', ...names(8)], quiet, seed);
    t.true(expedites(a, 'm3'), `seed ${seed}`);
  }
});

test('in a cluster of 100 about 4 × k of the 98 others probe a new suspect at once', (t) => {
  const cores = 400;
  let n = 0;
  for (let seed = 1; seed <= cores; seed++) {
    const a = withPeers('a', ['c', ...names(98)], quiet, seed);
    if (expedites(a, 'm7')) n++;
  }
  // k = SuspicionMult − 2 = 2 (LAN): p = 8 / 98, so 32.7 expected of 400 (sd 5.5).
  const expected = (cores * EXPEDITED_CONFIRMERS_PER_K * 2) / 98;
  t.true(Math.abs(n - expected) < 4 * Math.sqrt(expected), `${n} of ${cores}`);
});

test('no expedited probe of our own accusation, nor about ourselves', (t) => {
  const a = withPeers('a', ['c', ...names(8)], quiet);
  const outs = a.handlePacket(
    'c',
    pkt({ type: MessageType.Suspect, incarnation: 1, node: 'm1', from: 'a' }),
    1,
  );
  t.is(a.member('m1')!.status, 'suspect');
  t.false(udps(outs).some((u) => u.to === 'm1'));
  const self = a.handlePacket(
    'c',
    pkt({ type: MessageType.Suspect, incarnation: 1, node: 'a', from: 'c' }),
    2,
  );
  t.false(udps(self).some((u) => u.messages[0]?.type === MessageType.Suspect && u.to === 'a'));
});
