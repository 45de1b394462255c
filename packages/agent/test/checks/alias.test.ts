/**
 * Alias checks (Consul's CheckAlias.processChecks), with a fake AliasSource.
 */
import test from 'ava';
import type { CheckStatus } from '@trellis/state';
import {
  aliasOutcome,
  createRunner,
  isCheckRunnerError,
  type AliasCheck,
  type AliasSnapshot,
  type AliasSource,
} from '../../src/checks/index.js';
import { Recorder, def } from './helpers.js';

const chk = (CheckID: string, Status: CheckStatus, ServiceID = '', Output = ''): AliasCheck => ({
  CheckID,
  Name: `name-${CheckID}`,
  Status,
  ServiceID,
  Output,
});

test('the worst of the counted checks wins, with Consul’s outputs', (t) => {
  const web = { node: '', serviceId: 'web' };
  const cases: [string, AliasSnapshot, CheckStatus, string][] = [
    ['no checks', { exists: true, checks: [] }, 'passing', 'No checks found.'],
    [
      'all passing',
      { exists: true, checks: [chk('a', 'passing', 'web'), chk('n', 'passing')] },
      'passing',
      'All checks passing.',
    ],
    [
      'a warning',
      { exists: true, checks: [chk('a', 'passing', 'web'), chk('b', 'warning', 'web', 'slow')] },
      'warning',
      'Aliased check "name-b" failing: slow',
    ],
    [
      'a passing check after a warning keeps the warning',
      { exists: true, checks: [chk('b', 'warning', 'web', 'slow'), chk('a', 'passing', 'web')] },
      'warning',
      'Aliased check "name-b" failing: slow',
    ],
    [
      'critical beats warning, whatever the order',
      {
        exists: true,
        checks: [
          chk('b', 'warning', 'web', 'slow'),
          chk('c', 'critical', 'web', 'down'),
          chk('d', 'warning', 'web'),
        ],
      },
      'critical',
      'Aliased check "name-c" failing: down',
    ],
    [
      'the first critical is named',
      {
        exists: true,
        checks: [chk('c1', 'critical', 'web', 'one'), chk('c2', 'critical', 'web', 'two')],
      },
      'critical',
      'Aliased check "name-c1" failing: one',
    ],
    [
      'a critical node-level check counts for a service alias',
      {
        exists: true,
        checks: [chk('a', 'passing', 'web'), chk('serfHealth', 'critical', '', 'Agent not live')],
      },
      'critical',
      'Aliased check "name-serfHealth" failing: Agent not live',
    ],
    [
      'other services’ checks are ignored',
      { exists: true, checks: [chk('a', 'passing', 'web'), chk('x', 'critical', 'db')] },
      'passing',
      'All checks passing.',
    ],
    [
      'a missing service is critical',
      { exists: false, checks: [chk('n', 'passing')] },
      'critical',
      'Service web could not be found on node ',
    ],
    [
      'the service’s own checks prove it exists',
      { exists: false, checks: [chk('a', 'passing', 'web')] },
      'passing',
      'All checks passing.',
    ],
  ];
  for (const [what, snap, status, output] of cases) {
    t.deepEqual(aliasOutcome(web, snap), { status, output }, what);
  }
  t.deepEqual(aliasOutcome({ node: 'node-2', serviceId: 'web' }, { exists: false, checks: [] }), {
    status: 'critical',
    output: 'Service web could not be found on node node-2',
  });
  t.deepEqual(aliasOutcome({ node: 'node-2', serviceId: '' }, { exists: false, checks: [] }), {
    status: 'critical',
    output: 'Node node-2 could not be found',
  });
  t.deepEqual(
    aliasOutcome(
      { node: 'node-2', serviceId: '' },
      { exists: true, checks: [chk('x', 'critical', 'web'), chk('n', 'passing')] },
    ),
    { status: 'passing', output: 'All checks passing.' },
    'a node alias counts node-level checks only',
  );
  t.deepEqual(
    aliasOutcome(
      { node: '', serviceId: '', selfCheckId: 'me' },
      { exists: true, checks: [chk('me', 'critical'), chk('n', 'passing')] },
    ),
    { status: 'passing', output: 'All checks passing.' },
    'an alias of this node does not count itself',
  );
  t.deepEqual(
    aliasOutcome(
      { node: '', serviceId: 'web' },
      { exists: true, checks: [{ CheckID: 'bare', Status: 'critical', ServiceID: 'web' }] },
    ),
    { status: 'critical', output: 'Aliased check "bare" failing: ' },
    'without a Name the CheckID is used',
  );
});

/** A source whose snapshots the test pushes; keeps every callback it was given. */
class FakeSource implements AliasSource {
  readonly watches: {
    node: string;
    serviceId: string;
    onChange: (r: AliasSnapshot) => void;
    stopped: boolean;
  }[] = [];
  initial: AliasSnapshot | undefined;
  throwOnWatch: Error | undefined;

  watch(node: string, serviceId: string, onChange: (r: AliasSnapshot) => void): () => void {
    if (this.throwOnWatch !== undefined) throw this.throwOnWatch;
    const w = { node, serviceId, onChange, stopped: false };
    this.watches.push(w);
    if (this.initial !== undefined) onChange(this.initial);
    return () => {
      w.stopped = true;
    };
  }

  emit(snap: AliasSnapshot): void {
    for (const w of this.watches) w.onChange(snap);
  }
}

const aliasDef = def({
  kind: 'alias',
  CheckID: 'web-alias',
  AliasNode: 'node-2',
  AliasService: 'web',
});

test('the runner watches the target and reports every snapshot directly', (t) => {
  const source = new FakeSource();
  const rec = new Recorder();
  const runner = createRunner(aliasDef, { notify: rec.notify, alias: source });
  t.is(source.watches.length, 0, 'nothing happens before start()');
  runner.start();
  runner.start();
  t.is(source.watches.length, 1, 'start() twice watches once');
  t.like(source.watches[0], { node: 'node-2', serviceId: 'web' });
  source.emit({ exists: true, checks: [chk('a', 'critical', 'web', 'down')] });
  source.emit({ exists: true, checks: [chk('a', 'passing', 'web')] });
  source.emit({ exists: true, checks: [chk('a', 'passing', 'web')] });
  t.deepEqual(
    rec.updates.map((u) => [u.status, u.output]),
    [
      ['critical', 'Aliased check "name-a" failing: down'],
      ['passing', 'All checks passing.'],
      ['passing', 'All checks passing.'],
    ],
    'no thresholds, no de-duplication: the local state makes updates idempotent',
  );
  runner.stop();
  t.true(source.watches[0]!.stopped);
  source.emit({ exists: true, checks: [chk('a', 'critical', 'web')] });
  t.is(rec.updates.length, 3, 'a snapshot delivered after stop() is dropped');
  runner.start();
  t.is(source.watches.length, 2, 'a stopped runner can start again');
  source.watches[1]!.onChange({ exists: false, checks: [] });
  t.is(rec.last?.output, 'Service web could not be found on node node-2');
  runner.stop();
});

test('a snapshot delivered from within watch() is reported; stop() from within it unwatches', (t) => {
  const source = new FakeSource();
  source.initial = { exists: true, checks: [] };
  const rec = new Recorder();
  const runner = createRunner(aliasDef, {
    notify: (s, o) => {
      rec.notify(s, o);
      runner.stop();
    },
    alias: source,
  });
  runner.start();
  t.deepEqual(
    rec.updates.map((u) => u.output),
    ['No checks found.'],
  );
  t.true(source.watches[0]!.stopped, 'the stop function returned after stop() ran is called');
});

test('a source that cannot watch makes the check critical with Consul’s failure text', (t) => {
  const source = new FakeSource();
  source.throwOnWatch = new Error('no route to datacenter');
  const rec = new Recorder();
  const runner = createRunner(aliasDef, { notify: rec.notify, alias: source });
  runner.start();
  t.deepEqual(
    [rec.last?.status, rec.last?.output],
    ['critical', 'Failure checking aliased node or service: no route to datacenter'],
  );
  runner.stop();
});

test('an alias check needs an alias source', (t) => {
  const err = t.throws(() => createRunner(aliasDef, { notify: () => {} }));
  t.true(isCheckRunnerError(err));
  t.like(err, { code: 'NO_ALIAS_SOURCE', checkId: 'web-alias' });
});
