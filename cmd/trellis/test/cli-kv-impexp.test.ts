// The kv export/import document (Consul's impexp.Entry list) and its validation: a bad
// document fails with a clear message and exit 1 before the first write.
import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { formatExport, MAX_IMPORT_VALUE_BYTES, parseImport } from '../src/commands/kv/impexp.js';
import { parsePairs } from '../src/commands/kv/pair.js';
import { decodeBase64Strict, loadDataSource } from '../src/commands/shared/input.js';
import { cli, closedPort } from './helpers.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

test('export is Go’s MarshalIndent with tabs: key, flags, base64 value, HTML characters escaped', (t) => {
  const pairs = parsePairs([
    { Key: 'app/a', Flags: 0, Value: b64('one') },
    { Key: 'app/<b>&', Flags: 7, Value: null },
  ]);
  t.is(
    formatExport(pairs),
    '[\n' +
      '\t{\n\t\t"key": "app/a",\n\t\t"flags": 0,\n\t\t"value": "b25l"\n\t},\n' +
      '\t{\n\t\t"key": "app/\\u003cb\\u003e\\u0026",\n\t\t"flags": 7,\n\t\t"value": ""\n\t}\n' +
      ']',
  );
  t.is(formatExport([]), '[]');
});

test('import reads what export writes, with -prefix joined like Go’s path.Join', (t) => {
  const doc = formatExport(
    parsePairs([
      { Key: 'a', Flags: 3, Value: b64('x') },
      { Key: 'dir/', Flags: 0, Value: null },
    ]),
  );
  t.deepEqual(
    parseImport(doc).map((e) => [e.key, e.flags, e.value.toString()]),
    [
      ['a', 3, 'x'],
      ['dir/', 0, ''],
    ],
  );
  t.deepEqual(
    parseImport(doc, 'restored/').map((e) => e.key),
    ['restored/a', 'restored/dir/'],
  );
  // Go's encoding/json matches field names case-insensitively and ignores unknown ones.
  t.deepEqual(
    parseImport('[{"Key":"k","FLAGS":1,"Value":"eA==","extra":true}]').map((e) => [e.key, e.flags]),
    [['k', 1]],
  );
  t.deepEqual(parseImport('null'), []);
});

test('import rejects malformed documents with Consul’s wording', (t) => {
  const cases: Array<[string, RegExp]> = [
    ['[{"key": "a",', /^Cannot unmarshal data: /],
    ['not json', /^Cannot unmarshal data: /],
    ['{"key":"a"}', /cannot unmarshal object into Go value of type \[\]\*impexp\.Entry/],
    ['["a"]', /cannot unmarshal string into Go value of type impexp\.Entry/],
    ['[null]', /entry 0 is null/],
    [
      '[{"key": 5, "value": ""}]',
      /cannot unmarshal number 5 into Go struct field Entry\.key of type string/,
    ],
    [
      '[{"key": "a", "flags": -1}]',
      /cannot unmarshal number -1 into Go struct field Entry\.flags of type uint64/,
    ],
    ['[{"key": "a", "flags": 1.5}]', /number 1\.5 into Go struct field Entry\.flags/],
    [
      '[{"key": "a", "flags": "1"}]',
      /cannot unmarshal string into Go struct field Entry\.flags of type uint64/,
    ],
    ['[{"key": "a", "value": 12}]', /Entry\.value of type string/],
    [
      '[{"key": "a", "value": "%%%"}]',
      /^Error base 64 decoding value for key a: illegal base64 data at input byte 0$/,
    ],
    ['[{"key": "a", "value": "YWJ"}]', /^Error base 64 decoding value for key a: illegal base64/],
    ['[{"key": "", "value": ""}]', /Entry 0 has an empty key/],
  ];
  for (const [doc, message] of cases) t.throws(() => parseImport(doc), { message }, doc);
});

test('import refuses a value over the KV store’s default size limit before writing', (t) => {
  const big = Buffer.alloc(MAX_IMPORT_VALUE_BYTES + 1, 1).toString('base64');
  t.throws(
    () =>
      parseImport(
        JSON.stringify([
          { key: 'ok', value: '' },
          { key: 'big', value: big },
        ]),
      ),
    {
      message: /Value for key big is 524289 bytes, over the limit of 524288 bytes/,
    },
  );
});

test('strict base64 like Go’s StdEncoding: padding required, CR/LF skipped', (t) => {
  t.is(decodeBase64Strict('aGVsbG8=').toString(), 'hello');
  t.is(decodeBase64Strict('aGVs\nbG8=').toString(), 'hello');
  t.is(decodeBase64Strict('').length, 0);
  t.throws(() => decodeBase64Strict('aGVsbG8'), { message: /illegal base64 data at input byte 4/ });
  t.throws(() => decodeBase64Strict('aGVs*G8='), {
    message: 'illegal base64 data at input byte 4',
  });
  t.throws(() => decodeBase64Strict('aG=sbG8='), {
    message: /illegal base64 data at input byte 2/,
  });
});

test('data sources: literal, @file, - for stdin, each bounded', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'trellis-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const f = join(dir, 'v');
  await writeFile(f, 'from-file');
  const io = { stdout: { write: () => true }, stderr: { write: () => true } };
  t.is((await loadDataSource(`@${f}`, io)).toString(), 'from-file');
  t.is((await loadDataSource('-x', io)).toString(), '-x', 'more than one dash is literal data');
  t.is((await loadDataSource('', io)).length, 0);
  await t.throwsAsync(loadDataSource(`@${f}`, io, 4), {
    message: /^Failed to read file: .* is 9 bytes, over the limit of 4 bytes$/,
  });
  await t.throwsAsync(loadDataSource(`@${join(dir, 'missing')}`, io), {
    message: /^Failed to read file: open .*missing: no such file or directory$/,
  });
  const withStdin = {
    ...io,
    stdin: Readable.from([Buffer.alloc(3), Buffer.alloc(3)]),
  };
  await t.throwsAsync(loadDataSource('-', withStdin, 5), {
    message: 'Failed to read stdin: input is over the limit of 5 bytes',
  });
});

test('kv import with a bad document exits 1 before contacting the agent', async (t) => {
  const port = await closedPort();
  const addr = `-http-addr=127.0.0.1:${port}`;
  // Were anything sent, the error would be the connection failure, not the validation.
  const bad: Array<[string, RegExp]> = [
    [
      '[{"key":"a","value":"YQ=="},{"key":"b","value":"!!"}]',
      /Error base 64 decoding value for key b/,
    ],
    ['[{"key":"a","value":"YQ=="},{"key":7}]', /Entry\.key of type string/],
    ['[{"key":"a"', /Cannot unmarshal data/],
  ];
  for (const [doc, message] of bad) {
    const r = await cli(['kv', 'import', addr, doc]);
    t.is(r.code, 1, doc);
    t.regex(r.stderr, message, doc);
    t.notRegex(r.stderr, /connection refused/);
    t.is(r.stdout, '');
  }
  const viaStdin = await cli(['kv', 'import', addr, '-'], '{"not":"a list"}');
  t.is(viaStdin.code, 1);
  t.regex(viaStdin.stderr, /cannot unmarshal object/);
  const good = await cli(['kv', 'import', addr, '[{"key":"a","value":"YQ=="}]']);
  t.is(good.code, 1);
  t.regex(
    good.stderr,
    /^Error! Failed writing data for key a: Put ".*": dial tcp .*connection refused/,
  );
});
