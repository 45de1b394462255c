// The DNS wire codec (RFC 1035 §4.1, on dns-packet) against hex fixtures: what a query and an
// answer look like byte for byte, compressed names read back, and the decoder's refusals of
// hostile input, including those dns-packet alone would accept (see decodeMessage).
import test from 'ava';
import {
  CLASS_IN,
  RRType,
  WireError,
  decodeHeader,
  decodeMessage,
  emptyHeader,
  encodeMessage,
  fqdn,
  formatIp,
  ipFromArpa,
  isEncodableName,
  makeQuery,
  messageLength,
  parseIp,
  reverseAddr,
  splitName,
  type Message,
} from '../src/index.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// ;; QUESTION: web.service.consul. IN SRV, ID 0x1234, RD.
const QUERY_HEX = `
  1234 0100 0001 0000 0000 0000
  03 776562 07 73657276696365 06 636f6e73756c 00 0021 0001`;

test('a query encodes as RFC 1035 §4.1.1/§4.1.2 lay it out', (t) => {
  const q = makeQuery(0x1234, 'web.service.consul', RRType.SRV);
  t.is(toHex(encodeMessage(q)), toHex(hex(QUERY_HEX)));
});

test('a query decodes back to its header and question', (t) => {
  const m = decodeMessage(hex(QUERY_HEX));
  t.like(m.header, { id: 0x1234, qr: false, opcode: 0, rd: true, rcode: 0 });
  t.deepEqual(m.question, [{ name: 'web.service.consul.', type: RRType.SRV, class: CLASS_IN }]);
  t.is(m.edns, undefined);
});

const SOA_ANSWER: Message = {
  header: { ...emptyHeader(0xabcd), qr: true, aa: true },
  question: [{ name: 'web.service.consul.', type: RRType.A, class: CLASS_IN }],
  answer: [
    {
      name: 'web.service.consul.',
      type: RRType.A,
      class: CLASS_IN,
      ttl: 60,
      data: { kind: 'a', address: '10.0.0.1' },
    },
  ],
  authority: [
    {
      name: 'consul.',
      type: RRType.SOA,
      class: CLASS_IN,
      ttl: 0,
      data: {
        kind: 'soa',
        mname: 'ns.consul.',
        rname: 'hostmaster.consul.',
        serial: 1,
        refresh: 3600,
        retry: 600,
        expire: 86400,
        minimum: 0,
      },
    },
  ],
  additional: [],
};

test('an answer encodes with every name spelled out (dns-packet does not compress)', (t) => {
  const expected = hex(`
    abcd 8400 0001 0001 0001 0000
    03 776562 07 73657276696365 06 636f6e73756c 00 0001 0001
    03 776562 07 73657276696365 06 636f6e73756c 00 0001 0001 0000003c 0004 0a000001
    06 636f6e73756c 00 0006 0001 00000000 0032
      02 6e73 06 636f6e73756c 00
      0a 686f73746d6173746572 06 636f6e73756c 00
      00000001 00000e10 00000258 00015180 00000000`);
  const bytes = encodeMessage(SOA_ANSWER);
  t.is(toHex(bytes), toHex(expected));
  t.is(messageLength(SOA_ANSWER), bytes.length);
  t.deepEqual(decodeMessage(bytes), { ...SOA_ANSWER, edns: undefined });
});

test('compressed owner and SOA names decode (§4.1.4), as upstream servers send them', (t) => {
  const compressed = hex(`
    abcd 8400 0001 0001 0001 0000
    03 776562 07 73657276696365 06 636f6e73756c 00 0001 0001
    c00c 0001 0001 0000003c 0004 0a000001
    c018 0006 0001 00000000 0026
      02 6e73 c018
      0a 686f73746d6173746572 c018
      00000001 00000e10 00000258 00015180 00000000`);
  t.deepEqual(decodeMessage(compressed), { ...SOA_ANSWER, edns: undefined });
});

test('an SRV answer round-trips; its target is written in full (RFC 2782)', (t) => {
  const m: Message = {
    header: { ...emptyHeader(1), qr: true },
    question: [{ name: 'web.service.consul.', type: RRType.SRV, class: CLASS_IN }],
    answer: [
      {
        name: 'web.service.consul.',
        type: RRType.SRV,
        class: CLASS_IN,
        ttl: 0,
        data: { kind: 'srv', priority: 1, weight: 1, port: 80, target: 'n1.node.dc1.consul.' },
      },
    ],
    authority: [],
    additional: [
      {
        name: 'n1.node.dc1.consul.',
        type: RRType.A,
        class: CLASS_IN,
        ttl: 0,
        data: { kind: 'a', address: '10.0.0.1' },
      },
    ],
  };
  const b = encodeMessage(m);
  const srvTarget = '026e31 046e6f6465 03646331 06636f6e73756c 00'.replace(/\s/g, '');
  t.true(toHex(b).includes('00010001' + '0050' + srvTarget));
  t.deepEqual(decodeMessage(b), { ...m, edns: undefined });
});

test('EDNS: the OPT record is lifted out of the additional section (RFC 6891 §6.1.2)', (t) => {
  const q = makeQuery(7, 'web.service.consul', RRType.A, {
    edns: { udpSize: 1232, dnssecOk: true, options: [{ code: 10, data: hex('0102030405060708') }] },
  });
  const b = encodeMessage(q);
  t.true(
    toHex(b).endsWith(
      '00' + '0029' + '04d0' + '00008000' + '000c' + '000a0008' + '0102030405060708',
    ),
  );
  const m = decodeMessage(b);
  t.deepEqual(m.additional, []);
  t.like(m.edns, { udpSize: 1232, dnssecOk: true, version: 0, extendedRcode: 0 });
  t.is(decodeHeader(b)?.arcount, 1);
});

test('labels keep their escapes: a "." byte in a label and other bytes decode as \\. and \\DDD', (t) => {
  const name = 'a\\.b.c\\032d.\\255.consul.';
  t.deepEqual(splitName(name), ['a\\.b', 'c\\032d', '\\255', 'consul']);
  // "a.b", "c d", 0xff, "consul": labels dns-packet reads as text would lose.
  const b = hex('1234 0100 0001 0000 0000 0000 03612e62 03632064 01ff 06636f6e73756c 00 0001 0001');
  t.is(decodeMessage(b).question[0]?.name, name);
  t.is(fqdn('a\\.'), 'a\\..');
  t.is(fqdn('a\\\\.'), 'a\\\\.');
  t.is(fqdn('x'), 'x.');
});

test('escaped labels dns-packet can write encode; a "." byte, non-UTF-8 or a line break cannot', (t) => {
  const ok = 'c\\032d.caf\\195\\169.consul.';
  const b = encodeMessage(makeQuery(1, ok, RRType.A));
  t.true(toHex(b).includes('03632064' + '05636166c3a9'));
  t.is(decodeMessage(b).question[0]?.name, ok);
  for (const bad of ['a\\.b.consul.', '\\255.consul.', 'a\\010b.consul.', 'a\\013.consul.']) {
    t.false(isEncodableName(bad), bad);
    t.throws(() => encodeMessage(makeQuery(1, bad, RRType.A)), { instanceOf: WireError });
  }
});

test('names that cannot be encoded are refused: label > 63 bytes, name > 255, empty label', (t) => {
  t.false(isEncodableName('x'.repeat(64) + '.consul.'));
  t.true(isEncodableName('x'.repeat(63) + '.consul.'));
  t.false(isEncodableName(Array(64).fill('abc').join('.') + '.'));
  t.false(isEncodableName('a..b.'));
  t.throws(() => encodeMessage(makeQuery(1, 'x'.repeat(64) + '.consul', RRType.A)), {
    instanceOf: WireError,
  });
});

const refusals: Array<[string, string]> = [
  ['shorter than a header', '1234 0100 0001'],
  ['a count larger than the input could hold', '1234 0100 0001 ffff 0000 0000 00 0001 0001'],
  ['a compression pointer to itself', '1234 0100 0001 0000 0000 0000 c00c 0001 0001'],
  ['a forward compression pointer', '1234 0100 0001 0000 0000 0000 c010 0001 0001 00 00'],
  [
    'a pointer loop through earlier labels',
    // Question "a" + pointer back to the question; the answer's owner points to the question
    // name, whose label chain then points back to its own start.
    '1234 0100 0001 0000 0000 0000 01 61 c00c 0001 0001',
  ],
  ['a reserved label type (0x40)', '1234 0100 0001 0000 0000 0000 41 61 00 0001 0001'],
  ['a label running past the end', '1234 0100 0001 0000 0000 0000 05 6162 00'],
  ['a question cut short', '1234 0100 0001 0000 0000 0000 00 0001'],
  [
    'an A record whose data is not 4 bytes',
    '1234 8100 0000 0001 0000 0000 00 0001 0001 00000000 0005 0a00000100',
  ],
  ['record data past the end', '1234 8100 0000 0001 0000 0000 00 0001 0001 00000000 0010 0a00'],
  [
    'a CNAME whose name runs past its data',
    '1234 8100 0000 0001 0000 0000 00 0005 0001 00000000 0002 0161 00',
  ],
  [
    // dns-packet alone reads on from a NaN offset (from byte 0) and returns garbage.
    'TXT data past the end, followed by another record',
    '1234 8100 0000 0002 0000 0000 00 0010 0001 00000000 0020 0a 61616161616161616161',
  ],
  [
    // dns-packet alone reads 4 bytes and starts the next record one byte early.
    'an A record of 5 bytes followed by another record',
    '1234 8100 0000 0002 0000 0000 00 0001 0001 00000000 0005 0a00000100 00 0001 0001 00000000 0004 0a000001',
  ],
  [
    // dns-packet alone counts SRV data by RDLENGTH.
    'an SRV record with bytes after its target',
    '1234 8100 0000 0001 0000 0000 00 0021 0001 00000000 0008 0001 0001 0050 00 ff',
  ],
  [
    'a TXT string running past its data',
    '1234 8100 0000 0001 0000 0000 00 0010 0001 00000000 0002 05 61 00',
  ],
  [
    'two OPT records',
    '1234 0000 0000 0000 0000 0002 00 0029 1000 00000000 0000 00 0029 1000 00000000 0000',
  ],
];

for (const [what, bytes] of refusals) {
  test(`the decoder refuses ${what}`, (t) => {
    t.throws(() => decodeMessage(hex(bytes)), { instanceOf: WireError });
  });
}

test('a name longer than 255 bytes built from pointers is refused', (t) => {
  // Four questions, each a 60-byte label plus a pointer to the previous one: 62, 123, 184
  // and 245 bytes. Prefixing the last with one more 10-byte label makes it 256.
  const label = '3c' + '61'.repeat(60);
  const build = (lastPrefix: string): Uint8Array => {
    let body = '';
    let prev = -1;
    for (let i = 0; i < 4; i++) {
      const at = 12 + body.length / 2;
      const prefix = i === 3 ? lastPrefix : '';
      body +=
        prefix + label + (prev < 0 ? '00' : 'c0' + prev.toString(16).padStart(2, '0')) + '00010001';
      prev = at;
    }
    return hex('1234 0100 0004 0000 0000 0000' + body);
  };
  const ok = decodeMessage(build(''));
  t.is(ok.question[3]?.name, Array(4).fill('a'.repeat(60)).join('.') + '.');
  t.throws(() => decodeMessage(build('0a' + '62'.repeat(10))), { instanceOf: WireError });
});

test('unknown record types decode as raw bytes and re-encode unchanged', (t) => {
  const b = hex('1234 8180 0000 0001 0000 0000 00 0063 0001 0000000a 0003 010203');
  const m = decodeMessage(b);
  t.deepEqual(m.answer[0]?.data, { kind: 'raw', bytes: hex('010203') });
  t.is(toHex(encodeMessage(m)), toHex(b));
});

test('a type dns-packet knows but we keep raw (DS) re-encodes unchanged', (t) => {
  const b = hex('1234 8180 0000 0001 0000 0000 00 002b 0001 0000000a 0003 010203');
  t.deepEqual(decodeMessage(b).answer[0]?.data, { kind: 'raw', bytes: hex('010203') });
  t.is(toHex(encodeMessage(decodeMessage(b))), toHex(b));
});

test('classes dns-packet has no name for, and an OPT payload size of 0, are written as given', (t) => {
  const q = makeQuery(9, 'web.service.consul', RRType.A, { edns: { udpSize: 0 } });
  q.question[0]!.class = 0x8001;
  q.answer.push({
    name: 'x.',
    type: 99,
    class: 0x00fe,
    ttl: 1,
    data: { kind: 'raw', bytes: hex('01') },
  });
  const m = decodeMessage(encodeMessage(q));
  t.is(m.question[0]?.class, 0x8001);
  t.is(m.answer[0]?.class, 0x00fe);
  t.is(m.edns?.udpSize, 0);
  t.is(messageLength(q), encodeMessage(q).length);
});

test('bytes after the last section are ignored, as miekg/dns does', (t) => {
  t.notThrows(() => decodeMessage(hex(QUERY_HEX + 'deadbeef')));
});

// ---------------------------------------------------------------------------- addresses

const ipCases: Array<[string, string | null]> = [
  ['10.0.0.1', '10.0.0.1'],
  ['::ffff:10.0.0.1', '10.0.0.1'],
  ['2001:db8::1', '2001:db8::1'],
  ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
  ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'],
  ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
  ['::', '::'],
  ['::1', '::1'],
  ['1::', '1::'],
  ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
  ['1:0:3:4:5:6:7:8', '1:0:3:4:5:6:7:8'],
  ['010.0.0.1', null],
  ['256.0.0.1', null],
  ['1.2.3', null],
  ['fe80::1%eth0', null],
  ['1:2:3:4:5:6:7:8:9', null],
  ['1::2::3', null],
  ['web.example.com', null],
  ['', null],
];

for (const [input, expected] of ipCases) {
  test(`parseIp/formatIp follow Go's net.ParseIP/IP.String: ${JSON.stringify(input)}`, (t) => {
    const ip = parseIp(input);
    t.is(ip === null ? null : formatIp(ip), expected);
  });
}

test('reverseAddr is miekg/dns ReverseAddr; ipFromArpa is Consul dnsutil.IPFromARPA', (t) => {
  t.is(reverseAddr('127.0.0.2'), '2.0.0.127.in-addr.arpa.');
  t.is(
    reverseAddr('2001:db8::1'),
    '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.',
  );
  t.is(reverseAddr('not-an-ip'), null);
  const v4 = ipFromArpa(splitName('2.0.0.127.in-addr.arpa.'));
  t.is(v4 && formatIp(v4), '127.0.0.2');
  const v6 = ipFromArpa(splitName(reverseAddr('2001:db8::1')!));
  t.is(v6 && formatIp(v6), '2001:db8::1');
  t.is(ipFromArpa(splitName('0.127.in-addr.arpa.')), null);
  t.is(ipFromArpa(splitName('02.0.0.127.in-addr.arpa.')), null);
  t.is(ipFromArpa(splitName('1.0.0.127.foo.arpa.')), null);
});
