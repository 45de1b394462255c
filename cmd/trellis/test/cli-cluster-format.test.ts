// The pure parts of the cluster commands, without a process or a socket: Consul's tables and
// listings (command/catalog, command/maint), Go's SplitHostPort wording for -tagged-address,
// the service definition decoder (command/services config loading), the RE2 flag-group
// approximation of `event`, and the request-line helpers (repeated query keys, path escaping).
import test from 'ava';
import { ApiClient } from '../src/api/index.js';
import { mapToKV, nodesTable, parseNodes } from '../src/commands/catalog/nodes.js';
import {
  parseNodeServices,
  parseServiceTags,
  servicesListing,
} from '../src/commands/catalog/services.js';
import { compileGoRegexp } from '../src/commands/event.js';
import { maintenanceListing } from '../src/commands/maint.js';
import { parseDefinitionDocument } from '../src/commands/services/definition.js';
import { parseServiceAddr } from '../src/commands/services/register.js';
import { ListQueryClient, listQuery, pathSegment } from '../src/commands/shared/query.js';

test('catalog nodes: an ID without a dash is shown whole; empty maps leave empty cells', (t) => {
  const nodes = parseNodes(
    [{ ID: 'plain', Node: 'n1', Address: '10.0.0.1', Datacenter: 'dc1', Meta: null }],
    false,
  );
  t.is(nodesTable(nodes, false), 'Node  ID     Address   DC\nn1    plain  10.0.0.1  dc1');
  t.is(
    nodesTable(nodes, true),
    'Node  ID     Address   DC   TaggedAddresses  Meta\n' +
      `n1    plain  10.0.0.1  dc1  ${' '.repeat('TaggedAddresses'.length)}  `,
    'columnize pads the empty TaggedAddresses cell and leaves the last one empty',
  );
  t.is(mapToKV({ wan: '2', lan: '1' }), 'lan=1, wan=2');
  t.throws(() => parseNodes({}, false), { message: /not a list of nodes/ });
  t.deepEqual(parseNodes(null, false), [], 'null is no nodes');
});

test('catalog nodes -service reads node metadata from NodeMeta', (t) => {
  const [n] = parseNodes(
    [
      {
        ID: 'a-b',
        Node: 'n',
        Address: 'x',
        Datacenter: 'dc1',
        NodeMeta: { k: 'v' },
        Meta: { no: 'no' },
      },
    ],
    true,
  );
  t.deepEqual(n?.Meta, { k: 'v' });
});

test('catalog services: tags of every instance gathered and sorted; names padded to the widest plus six, output trimmed at the end', (t) => {
  const m = parseNodeServices({
    Services: {
      a: { Service: 'web', Tags: ['b'] },
      b: { Service: 'web', Tags: ['a', 'b'] },
      c: { Service: 'db', Tags: null },
    },
  });
  t.is(servicesListing(m, true), 'db       \nweb      a,b,b');
  t.is(servicesListing(m, false), 'db\nweb');
  t.deepEqual(parseNodeServices(null), new Map());
  t.deepEqual(
    [...parseServiceTags({ x: null, y: ['t'] })],
    [
      ['x', []],
      ['y', ['t']],
    ],
  );
  t.throws(() => parseServiceTags([]), { message: /not a map/ });
});

test('maint listing: node block first, services by ID, other checks ignored', (t) => {
  const out = maintenanceListing('n1', [
    { CheckID: '_service_maintenance:web', ServiceID: 'web', Notes: 'b' },
    { CheckID: 'serfHealth', ServiceID: '', Notes: '' },
    { CheckID: '_node_maintenance', ServiceID: '', Notes: 'a' },
    { CheckID: '_service_maintenance:api', ServiceID: 'api', Notes: 'c' },
  ]);
  t.is(
    out,
    'Node:\n  Name:   n1\n  Reason: a\n\n' +
      'Service:\n  ID:     api\n  Reason: c\n\n' +
      'Service:\n  ID:     web\n  Reason: b\n\n',
  );
  t.is(maintenanceListing('n1', []), '');
});

test('-tagged-address values: host:port as Go’s SplitHostPort and Atoi read them', (t) => {
  t.deepEqual(parseServiceAddr('10.0.0.1:80'), { Address: '10.0.0.1', Port: 80 });
  t.deepEqual(parseServiceAddr('[::1]:8080'), { Address: '::1', Port: 8080 });
  t.deepEqual(parseServiceAddr(':80'), { Address: '', Port: 80 });
  const cases: Array<[string, string]> = [
    ['10.0.0.1', 'address 10.0.0.1: missing port in address'],
    ['::1:80', 'address ::1:80: too many colons in address'],
    ['[::1]', 'address [::1]: missing port in address'],
    ['[::1:80', "address [::1:80: missing ']' in address"],
    ['[::1]::80', 'address [::1]::80: too many colons in address'],
    ['a]:80', "address a]:80: unexpected ']' in address"],
    ['host:', 'strconv.Atoi: parsing "": invalid syntax'],
    ['host:x', 'strconv.Atoi: parsing "x": invalid syntax'],
    ['host:70000', 'port 70000 is out of range 0..65535'],
  ];
  for (const [input, message] of cases) t.throws(() => parseServiceAddr(input), { message }, input);
});

test('definition files: keys matched case- and underscore-insensitively, API names out', (t) => {
  const problems: string[] = [];
  const got = parseDefinitionDocument(
    JSON.stringify({
      Service: {
        NAME: 'web',
        Socket_Path: '/run/web.sock',
        checks: [{ CheckID: 'c1', tcp: 'localhost:80', interval: '5s', tls_skip_verify: true }],
        Meta: { a: 'b' },
      },
    }),
    'web.json',
    problems,
  );
  t.deepEqual(problems, []);
  t.deepEqual(got, [
    {
      source: 'web.json: Service',
      registration: {
        Name: 'web',
        SocketPath: '/run/web.sock',
        Checks: [{ CheckID: 'c1', TCP: 'localhost:80', Interval: '5s', TLSSkipVerify: true }],
        Meta: { a: 'b' },
      },
    },
  ]);
});

test('definition files: every mistake is reported with its key path', (t) => {
  const problems: string[] = [];
  parseDefinitionDocument(
    JSON.stringify({
      services: [
        { name: 'a', port: 70000, tags: 'x', id: 'i', ID: 'j' },
        { name: 'b', check: { status: 'ok', header: { h: 'v' } }, proxy: [] },
      ],
      service: 'web',
      bogus: 1,
    }),
    'f.json',
    problems,
  );
  t.deepEqual(problems, [
    'failed to parse f.json: invalid config key bogus',
    'failed to parse f.json: services[0].port: 70000 is out of range 0..65535',
    'failed to parse f.json: services[0].tags: expected a list of strings, got string "x"',
    'failed to parse f.json: services[0].ID: given twice (also as id)',
    'failed to parse f.json: services[1].check.status: expected one of passing, warning, critical, got string "ok"',
    'failed to parse f.json: services[1].check.header: expected an object of string lists, got an object',
    'failed to parse f.json: services[1].proxy: expected an object, got a list',
    'failed to parse f.json: service: expected an object, got string "web"',
  ]);
});

test('event filters: RegExp with RE2’s leading flag group understood', (t) => {
  t.true(compileGoRegexp('(?i)^WEB').test('web-1'));
  t.true(compileGoRegexp('(?is)a.b').test('A\nB'));
  t.true(compileGoRegexp('^web-[0-9]+$').test('web-12'));
  t.throws(() => compileGoRegexp('('));
});

test('a ListQueryClient repeats a parameter in order and sorts keys as Go does', (t) => {
  const c = new ListQueryClient({ baseUrl: 'http://127.0.0.1:1', datacenter: 'dc2' });
  const u = c.url(
    '/v1/catalog/nodes',
    listQuery(c, { near: '_agent', 'node-meta': ['z:1', 'a:2'], filter: 'a == "b"' }),
  );
  t.is(u.search, '?dc=dc2&filter=a%20%3D%3D%20%22b%22&near=_agent&node-meta=z%3A1&node-meta=a%3A2');
  t.is(c.url('/x', {}).search, '?dc=dc2');
  t.throws(() => listQuery(new ApiClient({ baseUrl: 'http://127.0.0.1:1' }), {}), {
    instanceOf: TypeError,
  });
});

test('path segments keep host:port readable and cannot escape their segment', (t) => {
  t.is(pathSegment('10.0.0.1:8301'), '10.0.0.1:8301');
  t.is(pathSegment('a/b?c#d e%'), 'a%2Fb%3Fc%23d%20e%25');
  t.is(pathSegment('[::1]:8301'), '%5B::1%5D:8301');
  t.is(pathSegment('user@host'), 'user@host');
});
