// Consul's `?filter=` language (go-bexpr, as vendored by Consul): grammar, operators,
// precedence, coercion, collections, missing fields, regular expressions, and the exact
// error texts Consul answers 400 with. Cases marked "go-bexpr" come from go-bexpr's own
// grammar_test.go / README; "consul docs" from Consul's filtering documentation.
import test from 'ava';
import {
  FilterError,
  FilterErrorCode,
  MAX_EXPRESSION_LENGTH,
  compileFilter,
  type FilterSchema,
} from '../../src/http/filter/index.js';

const PREFIX = 'Failed to create boolean expression evaluator: ';

/** Consul's /v1/agent/services example (consul docs, "Filtering"). */
const redis = (id: string, tags: string[], env: string, port: number) => ({
  ID: id,
  Service: 'redis',
  Tags: tags,
  Meta: env === 'qa' ? { env } : { env, foo: 'bar' },
  Port: port,
  Address: '',
  Weights: { Passing: 1, Warning: 1 },
  EnableTagOverride: false,
});
const services = [
  redis('redis1', ['primary', 'production'], 'production', 1234),
  redis('redis2', ['secondary', 'production'], 'production', 1235),
  redis('redis3', ['primary', 'qa'], 'qa', 1234),
];
const ids = (expr: string): string[] => services.filter(compileFilter(expr)).map((s) => s.ID);

test('consul docs: Meta.env == "qa" keeps redis3 only', (t) => {
  t.deepEqual(ids('Meta.env == "qa"'), ['redis3']);
});

test('every match operator, on strings, lists, maps, numbers and booleans', (t) => {
  const cases: Array<[string, string[]]> = [
    ['ID == redis1', ['redis1']],
    ['ID != redis1', ['redis2', 'redis3']],
    ['"primary" in Tags', ['redis1', 'redis3']],
    ['"primary" not in Tags', ['redis2']],
    ['Tags contains qa', ['redis3']],
    ['Tags not contains qa', ['redis1', 'redis2']],
    ['"dis2" in ID', ['redis2']], // substring on strings
    ['ID contains "3"', ['redis3']],
    ['ID matches "^redis[12]$"', ['redis1', 'redis2']],
    ['ID not matches "1"', ['redis2', 'redis3']],
    ['Tags is empty', []],
    ['Tags is not empty', ['redis1', 'redis2', 'redis3']],
    ['Meta is not empty', ['redis1', 'redis2', 'redis3']],
    ['foo in Meta', ['redis1', 'redis2']], // map: key present
    ['foo not in Meta', ['redis3']],
    ['Port == 1234', ['redis1', 'redis3']],
    ['Port != 1234', ['redis2']],
    ['Port == "0x4d2"', ['redis1', 'redis3']], // Go ParseInt base 0
    ['Weights.Passing == 1', ['redis1', 'redis2', 'redis3']],
    ['EnableTagOverride == false', ['redis1', 'redis2', 'redis3']],
    ['EnableTagOverride == F', ['redis1', 'redis2', 'redis3']], // strconv.ParseBool
    ['EnableTagOverride == "1"', []],
  ];
  for (const [expr, want] of cases) t.deepEqual(ids(expr), want, expr);
});

test('precedence: not binds tighter than and, and tighter than or (go-bexpr)', (t) => {
  const cases: Array<[string, string[]]> = [
    // (ID == redis1 and (not Port == 1234)) or ID == redis3
    ['ID == redis1 and not Port == 1234 or ID == redis3', ['redis3']],
    ['ID == redis1 and not (Port == 1234 or ID == redis3)', []],
    ['not ID == redis1 and Port == 1234', ['redis3']],
    ['not (ID == redis1 and Port == 1234)', ['redis2', 'redis3']],
    ['ID == redis2 or ID == redis3 and Port == 1235', ['redis2']],
    ['(ID == redis2 or ID == redis3) and Port == 1234', ['redis3']],
    ['not not ID == redis1', ['redis1']],
    ['( ( ( ID == redis1 ) ) )', ['redis1']],
    ['\t\r\n ( \t\r\n ID \t\r\n == \t\r\n redis1 \t\r\n ) \t\r\n', ['redis1']],
  ];
  for (const [expr, want] of cases) t.deepEqual(ids(expr), want, expr);
});

test('values: bare words, numbers, double-quoted with Go escapes, raw backticks', (t) => {
  const v = { S: 'a\tb', Q: 'say "hi"', U: 'héllo', N: -0.5, Dot: 'x.y', Back: 'a\\n' };
  const ok = (expr: string): boolean => compileFilter(expr)(v);
  t.true(ok('S == "a\\tb"'));
  t.true(ok('S == "a\\x09b"'));
  t.true(ok('S == "a\\011b"'));
  t.true(ok('U == "h\\u00e9llo"'));
  t.true(ok('U == "h\\xc3\\xa9llo"')); // \x escapes are bytes, decoded as UTF-8
  t.is(
    t_throws(() => ok('U == héllo')).code,
    FilterErrorCode.SYNTAX,
    'bare values are ASCII selectors; é is not part of one',
  );
  t.true(ok('Back == `a\\n`'), 'backticks do not expand escapes');
  t.true(ok('Q == `say "hi"`'));
  t.true(ok('N == -0.5'));
  t.true(ok('N == "-5e-1"'));
  t.true(ok('Dot == x.y'), 'a bare selector-like value is its dotted text');
  t.true(ok('Dot == x["y"]'));
});

test('selectors: dots and ["…"] indexes are case-sensitive, any key text allowed', (t) => {
  const v = { Node: { Meta: { 'key with space': 'v', env: 'prod', 'åß∂ƒ': 'u' } } };
  const ok = (expr: string): boolean => compileFilter(expr)(v);
  t.true(ok('Node.Meta["key with space"] == v'));
  t.true(ok('Node["Meta"][`env`] == prod'));
  t.true(ok('Node.Meta[ "åß∂ƒ" ] == u'));
  t.false(ok('node.Meta.env == prod'), 'field names are matched exactly, as in Go');
  t.false(ok('Node.Meta.ENV == prod'));
  t.true(ok('Node.Meta.ENV != prod'), 'a missing key is not equal to anything');
});

test('arrays of objects on the path: ANY element, operators applied per element', (t) => {
  const csn = {
    Node: { Node: 'n1' },
    Checks: [
      { CheckID: 'serfHealth', Status: 'passing' },
      { CheckID: 'svc', Status: 'critical', Tags: ['a'] },
    ],
  };
  const ok = (expr: string): boolean => compileFilter(expr)(csn);
  t.true(ok('Checks.Status == passing'));
  t.true(ok('Checks.Status != passing'), 'some check is not passing');
  t.false(ok('not Checks.Status != passing'));
  t.false(ok('Checks.Status == warning'));
  t.true(ok('a in Checks.Tags'));
  t.true(ok('Checks is not empty'));
  t.false(compileFilter('Checks.Status == passing')({ Checks: [] }));
  t.true(compileFilter('Checks is empty')({ Checks: [] }));
});

test('missing or null fields follow go-bexpr NotPresentDisposition', (t) => {
  const v = { Meta: {}, Tagged: null };
  const cases: Array<[string, boolean]> = [
    ['Meta.x == a', false],
    ['Meta.x != a', true],
    ['a in Meta.x', false],
    ['a not in Meta.x', true],
    ['Meta.x is empty', true],
    ['Meta.x is not empty', false],
    ['Meta.x matches "."', false],
    ['Meta.x not matches "."', true],
    ['Tagged is empty', true],
    ['lan in Tagged', false],
    ['Nope.Deeper == 1', false],
    ['Meta is empty', true],
  ];
  for (const [expr, want] of cases) t.is(compileFilter(expr)(v), want, expr);
});

const errorOf = (expr: string, value: unknown = {}, schema?: FilterSchema): FilterError => {
  const err = t_throws(() => compileFilter(expr, schema === undefined ? {} : { schema })(value));
  return err;
};
function t_throws(f: () => unknown): FilterError {
  try {
    f();
  } catch (e) {
    if (e instanceof FilterError) return e;
    throw e;
  }
  throw new Error('expected a FilterError');
}

test('syntax errors carry pigeon positions and texts (go-bexpr grammar_test.go)', (t) => {
  const cases: Array<[string, string]> = [
    ['foo == "12x', '1:12 (11): rule "string": Unterminated string literal'],
    ['foo == `12x', '1:12 (11): rule "string": Unterminated string literal'],
    ['foo == 3x', '1:9 (8): rule "number": Invalid number literal'],
    ['foo[3] == abc', '1:5 (4): rule "index": Invalid index'],
    ['x in foo["abc"', '1:15 (14): rule "index": Unclosed index expression'],
    ['foo["abc" == 3', '1:11 (10): rule "index": Unclosed index expression'],
    ['x in 32', '1:6 (5): rule "match": Invalid selector'],
    ['32 == 32', '1:4 (3): no match found, expected: "in", "not" or [ \\t\\r\\n]'],
    ['32 is empty', '1:4 (3): no match found, expected: "in", "not" or [ \\t\\r\\n]'],
    ['x in foo abc', '1:10 (9): no match found, expected: "and", "or", [ \\t\\r\\n] or EOF'],
    [
      'x in foo and ',
      '1:14 (13): no match found, expected: "(", "-", "0", "\\"", "`", "not", [ \\t\\r\\n], [1-9] or [a-zA-Z]',
    ],
    ['(foo == 4', '1:10 (9): rule "grouping": Unmatched parentheses'],
    ['foo == "\\q"', '1:8 (7): rule "string": invalid syntax'],
    ['foo == "a\\"b"', '1:8 (7): rule "string": invalid syntax'],
    [
      'é == 1',
      '1:1 (0): no match found, expected: "(", "-", "0", "\\"", "`", "not", [ \\t\\r\\n], [1-9] or [a-zA-Z]',
    ],
    ['x == "é" junk', '1:10 (10): no match found, expected: "and", "or", [ \\t\\r\\n] or EOF'],
  ];
  for (const [expr, detail] of cases) {
    const err = errorOf(expr);
    t.is(err.code, FilterErrorCode.SYNTAX, expr);
    t.is(err.message, PREFIX + detail, expr);
    t.is(err.detail, detail, expr);
  }
});

test('type errors use Consul texts, at the first value that shows them', (t) => {
  const v = { Port: 80, Tags: ['a'], Name: 'web', On: true, Checks: [{ S: 'x' }] };
  const cases: Array<[string, FilterErrorCode, string]> = [
    [
      'Port matches "8"',
      FilterErrorCode.INVALID_OPERATOR,
      'Invalid match operator "Matches" for selector "Port"',
    ],
    [
      'Tags == a',
      FilterErrorCode.INVALID_OPERATOR,
      'Invalid match operator "Equal" for selector "Tags"',
    ],
    [
      'Name is empty',
      FilterErrorCode.INVALID_OPERATOR,
      'Invalid match operator "Is Empty" for selector "Name"',
    ],
    [
      'x in Checks',
      FilterErrorCode.INVALID_OPERATOR,
      'Invalid match operator "In" for selector "Checks"',
    ],
    ['Name.First == a', FilterErrorCode.INVALID_SELECTOR, 'Selector "Name.First" is not valid'],
    [
      'Port == abc',
      FilterErrorCode.COERCE,
      'Failed to coerce value "abc" for selector "Port": strconv.ParseInt: parsing "abc": invalid syntax',
    ],
    [
      'On == yes',
      FilterErrorCode.COERCE,
      'Failed to coerce value "yes" for selector "On": strconv.ParseBool: parsing "yes": invalid syntax',
    ],
  ];
  for (const [expr, code, detail] of cases) {
    const f = compileFilter(expr); // compiles: the type is not known yet
    const err = t_throws(() => f(v));
    t.is(err.code, code, expr);
    t.is(err.message, PREFIX + detail, expr);
  }
});

const nodeSchema: FilterSchema = {
  ID: 'string',
  Node: 'string',
  Address: 'string',
  TaggedAddresses: { map: 'string' },
  Meta: { map: 'string' },
  CreateIndex: 'uint',
  Weights: { struct: { Passing: 'int', Warning: 'int' } },
  Tags: { list: 'string' },
  Checks: { list: { struct: { Status: 'string', ServiceTags: { list: 'string' } } } },
};

test('with a schema, Consul compile-time errors come from compileFilter', (t) => {
  const cases: Array<[string, string]> = [
    ['Nope == 1', 'Selector "Nope" is not valid'],
    ['Weights.Critical == 1', 'Selector "Weights.Critical" is not valid'],
    ['Meta.env.x == 1', 'Selector "Meta.env.x" is not valid'],
    ['Address is empty', 'Invalid match operator "Is Empty" for selector "Address"'],
    ['Checks.Status is empty', 'Invalid match operator "Is Empty" for selector "Checks.Status"'],
    ['Checks == x', 'Invalid match operator "Equal" for selector "Checks"'],
    [
      'CreateIndex == -1',
      'Failed to coerce value "-1" for selector "CreateIndex": strconv.ParseUint: parsing "-1": invalid syntax',
    ],
    [
      'Weights.Passing == 99999999999999999999',
      'Failed to coerce value "99999999999999999999" for selector "Weights.Passing": strconv.ParseInt: parsing "99999999999999999999": value out of range',
    ],
    [
      'Node matches "["',
      'Failed to compile regular expression "[": error parsing regexp: missing closing ]: `[`',
    ],
  ];
  for (const [expr, detail] of cases) {
    const err = t_throws(() => compileFilter(expr, { schema: nodeSchema }));
    t.is(err.message, PREFIX + detail, expr);
  }
  const keep = compileFilter('Meta.env == prod and Checks.ServiceTags contains x', {
    schema: nodeSchema,
  });
  t.true(keep({ Meta: { env: 'prod' }, Checks: [{ ServiceTags: [] }, { ServiceTags: ['x'] }] }));
  t.false(keep({ Meta: {}, Checks: [] }));
});

test('regular expressions follow Go RE2 syntax', (t) => {
  const cases: Array<[string, string, boolean]> = [
    ['^web-[0-9]+$', 'web-12', true],
    ['^web-\\d+$', 'web-1a', false],
    ['(?i)^WEB', 'web', true],
    ['(?i:a)B', 'AB', true],
    ['(?i:a)B', 'Ab', false],
    ['^a.c$', 'a\nc', false],
    ['(?s)^a.c$', 'a\nc', true],
    ['^b$', 'a\nb', false],
    ['(?m)^b$', 'a\nb', true],
    ['\\bfoo\\b', 'a foo b', true],
    ['\\Bfoo', 'afoo', true],
    ['[[:upper:]]{3}', 'xABCx', true],
    ['[^a-z]', 'abc', false],
    ['\\pL+\\p{Greek}', 'xα', true],
    ['\\PL', 'abc', false],
    ['a{2,3}$', 'aa', true],
    ['^a{2,3}$', 'aaaa', false],
    ['^(ab|cd)*$', 'abcdab', true],
    ['^(?P<x>a)(?:b)+?$', 'abb', true],
    ['\\Q.*\\E', 'a.*', true],
    ['\\Q.*\\E', 'ab', false],
    ['\\x{1F600}', '😀', true],
    ['^.$', '😀', true], // one code point
    ['', 'anything', true],
    ['a|', 'b', true],
    ['x*', '', true],
    ['\\.', 'a', false],
    ['[\\]a]', ']', true],
  ];
  for (const [re, text, want] of cases) {
    const expr = `V matches ${JSON.stringify(re)}`;
    t.is(compileFilter(expr)({ V: text }), want, `${re} on ${JSON.stringify(text)}`);
  }
  const bad: Array<[string, string]> = [
    ['(', 'missing closing ): `(`'],
    ['a)', 'unexpected ): `a)`'],
    ['*a', 'missing argument to repetition operator: `*`'],
    ['a**', 'invalid nested repetition operator: `**`'],
    ['a{1001}', 'invalid repeat count: `{1001}`'],
    ['a{3,2}', 'invalid repeat count: `{3,2}`'],
    ['\\1', 'invalid escape sequence: `\\1`'],
    ['\\k', 'invalid escape sequence: `\\k`'],
    ['[z-a]', 'invalid character class range: `z-a`'],
    ['\\p{Nope}', 'invalid character class range: `\\p{Nope}`'],
    ['(?<>a)', 'invalid named capture: `(?<>`'],
    ['(?=a)', 'invalid or unsupported Perl syntax: `(?=`'],
  ];
  for (const [re, why] of bad) {
    const err = t_throws(() => compileFilter(`V matches ${JSON.stringify(re)}`));
    t.is(err.code, FilterErrorCode.REGEX, re);
    t.is(
      err.message,
      `${PREFIX}Failed to compile regular expression ${JSON.stringify(re)}: error parsing regexp: ${why}`,
      re,
    );
  }
});

test('hostile input: pathological regex runs in linear time', (t) => {
  const text = 'a'.repeat(20_000) + '!';
  const started = Date.now();
  for (const re of ['(a+)+$', '(a|a)*b', '^(a*)*$', '^(a|aa)+$', '(x+x+)+y']) {
    t.false(compileFilter(`V matches "${re}"`)({ V: text }), re);
  }
  t.true(Date.now() - started < 5000, 'no catastrophic backtracking');
  const big = t_throws(() => compileFilter('V matches "((a{1000}){1000}){1000}"'));
  t.is(big.code, FilterErrorCode.REGEX);
  t.regex(big.message, /expression too large/);
});

test('hostile input: length, nesting and unbalanced parentheses are FilterErrors', (t) => {
  const long = t_throws(() => compileFilter('a == 1 or '.repeat(500) + 'a == 1'));
  t.is(long.code, FilterErrorCode.TOO_LARGE);
  t.true(long.message.startsWith(PREFIX));

  // Just under the limit: a flat chain of 250 terms parses and evaluates without deep recursion.
  const chain = Array.from({ length: 250 }, (_, i) => `a == ${i}`).join(' or ');
  t.true(chain.length <= MAX_EXPRESSION_LENGTH);
  t.true(compileFilter(chain)({ a: 249 }));

  const deep = t_throws(() => compileFilter('('.repeat(500) + 'a == 1' + ')'.repeat(500)));
  t.is(deep.code, FilterErrorCode.TOO_LARGE);
  t.regex(deep.message, /nests too deeply/);
  const nots = t_throws(() => compileFilter('not '.repeat(200) + 'a == 1'));
  t.is(nots.code, FilterErrorCode.TOO_LARGE);

  t.true(compileFilter('('.repeat(30) + 'a == 1' + ')'.repeat(30))({ a: 1 }));
  t.true(compileFilter('not '.repeat(30) + 'a == 1')({ a: 1 }));

  for (const expr of [
    '(a == 1',
    'a == 1)',
    '((a == 1)',
    ')',
    '(',
    '()',
    'a ==',
    '==',
    '"',
    '`',
    '[',
  ]) {
    const err = t_throws(() => compileFilter(expr));
    t.is(err.code, FilterErrorCode.SYNTAX, expr);
    t.true(err.message.startsWith(PREFIX), expr);
  }
});

test('hostile input: unicode, control characters and junk never crash', (t) => {
  const inputs = [
    '😀 == 1',
    'a == "😀"',
    'a == "\u0000"',
    'a\u0000 == 1',
    '\ud800 == 1',
    'a == "\ud800"',
  ];
  for (const expr of inputs) {
    try {
      const f = compileFilter(expr);
      t.is(typeof f({ a: '😀' }), 'boolean', expr);
    } catch (e) {
      t.true(e instanceof FilterError, expr);
    }
  }
  t.true(compileFilter('a == "😀"')({ a: '😀' }));
  const err = t_throws(() => compileFilter('a == 1 😀'));
  t.is(err.detail, '1:8 (7): no match found, expected: "and", "or", [ \\t\\r\\n] or EOF');
});

test('the empty expression keeps everything (Consul: no filter)', (t) => {
  t.true(compileFilter('')({}));
  t.true(compileFilter('')(null));
});
