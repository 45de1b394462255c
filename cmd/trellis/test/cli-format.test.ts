// Table and block rendering of members, operator raft list-peers and kv get -detailed, pinned
// to the layout Consul's command/members, command/operator/raft/listpeers and
// command/kv/get produce (ryanuber/columnize and Go's tabwriter).
import test from 'ava';
import {
  detailedTable,
  memberStatus,
  prepareMembers,
  standardTable,
  tcpAddr,
  type AgentMember,
} from '../src/commands/members.js';
import { peersTable, parseRaftConfiguration } from '../src/commands/operator/list-peers.js';
import { detailedPair, parsePairs } from '../src/commands/kv/pair.js';
import { columnize, goQuote, tabulate } from '../src/commands/shared/output.js';

const member = (
  name: string,
  addr: string,
  status: number,
  tags: Record<string, string>,
): AgentMember => ({
  Name: name,
  Addr: addr,
  Port: 8301,
  Status: status,
  Tags: tags,
});

const server = (name: string, addr: string, status = 1) =>
  member(name, addr, status, { role: 'consul', dc: 'dc1', build: '0.1.0:abc', vsn: '2' });
const client = (name: string, addr: string, status = 1) =>
  member(name, addr, status, { role: 'node', dc: 'dc1', build: '0.1.0', vsn: '2' });

test('columnize pads every column but the last to its widest cell, glued by two spaces', (t) => {
  t.is(
    columnize([
      ['Node', 'Address', 'Status'],
      ['a-long-name', '10.0.0.1:8301', 'alive'],
      ['b', '10.0.0.22:8301', 'failed'],
    ]),
    'Node         Address         Status\n' +
      'a-long-name  10.0.0.1:8301   alive\n' +
      'b            10.0.0.22:8301  failed',
  );
  t.is(columnize([[' x ', 'y']]), 'x  y', 'cells are trimmed');
});

test('members: Consul’s columns, servers first then by name, build cut at ":", segment and partition defaults', (t) => {
  const shown = prepareMembers(
    [client('web-1', '10.0.0.3'), server('srv-b', '10.0.0.2'), server('srv-a', '10.0.0.1', 4)],
    /.*/,
  );
  t.deepEqual(
    shown.map((m) => m.Name),
    ['srv-a', 'srv-b', 'web-1'],
  );
  t.is(
    standardTable(shown),
    [
      'Node   Address        Status  Type    Build  Protocol  DC   Partition  Segment',
      'srv-a  10.0.0.1:8301  failed  server  0.1.0  2         dc1  default    <all>',
      'srv-b  10.0.0.2:8301  alive   server  0.1.0  2         dc1  default    <all>',
      'web-1  10.0.0.3:8301  alive   client  0.1.0  2         dc1  default    <default>',
    ].join('\n'),
  );
});

test('members -detailed lists every tag sorted by key, including the defaults Consul fills in', (t) => {
  const shown = prepareMembers([server('srv-a', '10.0.0.1')], /.*/);
  t.is(
    detailedTable(shown),
    'Node   Address        Status  Tags\n' +
      'srv-a  10.0.0.1:8301  alive   ap=default,build=0.1.0:abc,dc=dc1,role=consul,segment=<all>,vsn=2',
  );
});

test('members -status filters by an unanchored regexp on the status name', (t) => {
  const all = [server('a', '10.0.0.1', 1), server('b', '10.0.0.2', 4), client('c', '10.0.0.3', 3)];
  t.deepEqual(
    prepareMembers(all, /fail/).map((m) => m.Name),
    ['b'],
  );
  t.deepEqual(
    prepareMembers(all, /^(alive|left)$/).map((m) => m.Name),
    ['a', 'c'],
  );
  t.deepEqual(prepareMembers(all, /leaving/), []);
});

test('members: unknown roles, missing build tags, IPv6 addresses and status names', (t) => {
  const shown = prepareMembers(
    [member('x', '::1', 1, { role: 'other' }), member('y', '10.0.0.9', 2, { role: 'node' })],
    /.*/,
  );
  const lines = standardTable(shown).split('\n');
  t.deepEqual(lines[1]!.trim().split(/ {2,}/), ['x', '[::1]:8301', 'alive', 'unknown']);
  // Consul's columnize pads the empty cells of an unknown member too: trailing blanks.
  t.is(lines[1]!.length, lines[0]!.length - 'Segment'.length);
  t.deepEqual(lines[2]!.split(/ {2,}/), [
    'y',
    '10.0.0.9:8301',
    'leaving',
    'client',
    '< 0.3',
    'default',
    '<default>',
  ]);
  t.is(tcpAddr('not-an-ip', 1), ':1');
  t.deepEqual([0, 1, 2, 3, 4].map(memberStatus), ['none', 'alive', 'leaving', 'left', 'failed']);
});

test('list-peers: Consul’s header, leader state, "<=1" for an empty protocol, commits trailed', (t) => {
  const servers = parseRaftConfiguration({
    Servers: [
      {
        ID: 'id-1',
        Node: 'alice',
        Address: '127.0.0.1:8300',
        Leader: false,
        Voter: true,
        ProtocolVersion: '3',
        LastIndex: 1166,
      },
      {
        ID: 'id-2',
        Node: 'bob',
        Address: '127.0.0.2:8300',
        Leader: true,
        Voter: true,
        ProtocolVersion: '3',
        LastIndex: 1167,
      },
      {
        ID: 'id-3',
        Node: 'carol',
        Address: '127.0.0.3:8300',
        Leader: false,
        Voter: false,
        ProtocolVersion: '',
        LastIndex: 1159,
      },
    ],
    Index: 10,
  });
  t.is(
    peersTable(servers),
    [
      'Node   ID    Address         State     Voter  RaftProtocol  Commit Index  Trails Leader By',
      'alice  id-1  127.0.0.1:8300  follower  true   3             1166          1 commit',
      'bob    id-2  127.0.0.2:8300  leader    true   3             1167          -',
      'carol  id-3  127.0.0.3:8300  follower  false  <=1           1159          8 commits',
    ].join('\n'),
  );
  t.throws(() => parseRaftConfiguration({ nope: 1 }), { message: /no Servers list/ });
});

test('kv get -detailed: tabwriter block with padding 6, "-" for no session, raw or base64 value', (t) => {
  const [pair] = parsePairs([
    {
      Key: 'a/b',
      Flags: 42,
      Value: Buffer.from('hello').toString('base64'),
      CreateIndex: 5,
      ModifyIndex: 7,
      LockIndex: 0,
    },
  ]);
  const expected =
    'CreateIndex      5\n' +
    'Flags            42\n' +
    'Key              a/b\n' +
    'LockIndex        0\n' +
    'ModifyIndex      7\n' +
    'Session          -\n' +
    'Value            ';
  t.is(detailedPair(pair!, false).toString(), expected + 'hello');
  t.is(detailedPair(pair!, true).toString(), expected + 'aGVsbG8=');
  t.is(detailedPair(pair!, false, true).toString(), expected.slice(0, expected.indexOf('Value')));
  t.is(tabulate([['k', 'v']]), 'k      v');
});

test('kv entries with a null Value decode to empty; a malformed answer is an error', (t) => {
  const [p] = parsePairs([{ Key: 'k', Value: null }]);
  t.is(p!.Value.length, 0);
  t.throws(() => parsePairs({}), { message: /not a list/ });
  t.throws(() => parsePairs([{ Value: 'x' }]), { message: /without a Key/ });
});

test('Go %q quoting for remove-peer messages', (t) => {
  t.is(goQuote('10.0.0.1:8300'), '"10.0.0.1:8300"');
  t.is(goQuote('a"b\\c\n'), '"a\\"b\\\\c\\n"');
});
