import test from 'ava';
import { parseDuration } from '@trellis/agent';
import { FlagError, parseFlags, type FlagSpec } from '../src/index.js';

const specs: FlagSpec[] = [
  { name: 'server', kind: 'bool', usage: 'server mode' },
  { name: 'bootstrap-expect', kind: 'int', usage: 'servers to wait for', min: 0, max: 10 },
  { name: 'data-dir', kind: 'string', usage: 'data directory' },
  { name: 'retry-join', kind: 'list', usage: 'address to join, repeatable' },
  { name: 'retry-interval', kind: 'duration', usage: 'time between joins' },
];

test('Consul single-dash and double-dash forms are both accepted', (t) => {
  const a = parseFlags(specs, ['-server', '-bootstrap-expect=3', '-data-dir', '/var/lib/trellis']);
  const b = parseFlags(specs, [
    '--server',
    '--bootstrap-expect',
    '3',
    '--data-dir=/var/lib/trellis',
  ]);
  for (const p of [a, b]) {
    t.is(p.values.get('server'), true);
    t.is(p.values.get('bootstrap-expect'), 3);
    t.is(p.values.get('data-dir'), '/var/lib/trellis');
    t.deepEqual(p.args, []);
  }
});

test('booleans take =false, lists collect every occurrence, durations parse like Go', (t) => {
  const p = parseFlags(specs, [
    '-server=false',
    '-retry-join',
    '10.0.0.1',
    '-retry-join=10.0.0.2',
    '-retry-interval=1m30s',
  ]);
  t.is(p.values.get('server'), false);
  t.deepEqual(p.values.get('retry-join'), ['10.0.0.1', '10.0.0.2']);
  t.is(p.values.get('retry-interval'), 90_000);
  t.is(parseDuration('500ms'), 500);
  t.is(parseDuration('1.5h'), 5_400_000);
  t.is(parseDuration('0'), 0);
});

test('arguments after the flags, or after --, are returned in order', (t) => {
  t.deepEqual(parseFlags(specs, ['-server', 'put', 'k', 'v']).args, ['put', 'k', 'v']);
  t.deepEqual(parseFlags(specs, ['--', '-server']).args, ['-server']);
  t.deepEqual(parseFlags(specs, ['-', 'x']).args, ['-', 'x']);
});

test('errors use Go flag package wording', (t) => {
  const cases: Array<[string[], string]> = [
    [['-nope'], 'flag provided but not defined: -nope'],
    [['--nope=1'], 'flag provided but not defined: -nope'],
    [['-data-dir'], 'flag needs an argument: -data-dir'],
    [['-bootstrap-expect=three'], 'invalid value "three" for flag -bootstrap-expect: parse error'],
    [
      ['-bootstrap-expect=11'],
      'invalid value "11" for flag -bootstrap-expect: must be between 0 and 10',
    ],
    [['-server=maybe'], 'invalid value "maybe" for flag -server: parse error'],
    [
      ['-retry-interval=10'],
      'invalid value "10" for flag -retry-interval: time: invalid duration "10"',
    ],
    [
      ['-retry-interval=5x'],
      'invalid value "5x" for flag -retry-interval: time: invalid duration "5x"',
    ],
    [['---server'], 'bad flag syntax: ---server'],
    [['-=x'], 'bad flag syntax: -=x'],
  ];
  for (const [argv, message] of cases)
    t.throws(() => parseFlags(specs, argv), { instanceOf: FlagError, message }, argv.join(' '));
});
