/**
 * grpc.health.v1 messages byte for byte (hex fixtures as protoc-generated code encodes them),
 * and the decoder's behaviour on what a hostile or broken server may send.
 */
import test from 'ava';
import {
  ProtoDecodeError,
  decodeHealthCheckRequest,
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  encodeHealthCheckResponse,
  servingStatusName,
} from '../../src/checks/grpc-health-codec.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('HealthCheckRequest: service is field 1 (string); the empty service is the empty message', (t) => {
  t.is(encodeHealthCheckRequest({ service: '' }).toString('hex'), '');
  t.is(encodeHealthCheckRequest({ service: 'web' }).toString('hex'), '0a03776562');
  const long = 'x'.repeat(200);
  t.is(
    encodeHealthCheckRequest({ service: long }).subarray(0, 3).toString('hex'),
    '0ac801',
    'length 200 is a two-byte varint',
  );
  t.deepEqual(decodeHealthCheckRequest(encodeHealthCheckRequest({ service: long })), {
    service: long,
  });
  t.deepEqual(decodeHealthCheckRequest(hex('')), { service: '' });
  t.deepEqual(decodeHealthCheckRequest(hex('0a03776562')), { service: 'web' });
});

test('HealthCheckResponse: status is field 1 (enum); absent means UNKNOWN', (t) => {
  const cases: [string, number][] = [
    ['', 0],
    ['0801', 1],
    ['0802', 2],
    ['0803', 3],
    ['0800', 0],
    ['0807', 7],
  ];
  for (const [h, status] of cases) t.deepEqual(decodeHealthCheckResponse(hex(h)), { status }, h);
  t.is(encodeHealthCheckResponse({ status: 1 }).toString('hex'), '0801');
  t.is(encodeHealthCheckResponse({ status: 0 }).toString('hex'), '', 'proto3 omits the default');
  t.is(encodeHealthCheckResponse({ status: -1 }).toString('hex'), '08ffffffffffffffffff01');
  t.deepEqual(decodeHealthCheckResponse(hex('08ffffffffffffffffff01')), { status: -1 });
});

test('unknown fields of every wire type are skipped; the last status wins', (t) => {
  t.deepEqual(
    decodeHealthCheckResponse(hex('12 03 616263  0801')),
    { status: 1 },
    'length-delimited',
  );
  t.deepEqual(
    decodeHealthCheckResponse(hex('19 0102030405060708  0802')),
    { status: 2 },
    'fixed64',
  );
  t.deepEqual(decodeHealthCheckResponse(hex('25 01020304  0801')), { status: 1 }, 'fixed32');
  t.deepEqual(decodeHealthCheckResponse(hex('10 96 01  0803')), { status: 3 }, 'varint');
  t.deepEqual(decodeHealthCheckResponse(hex('0802 0801')), { status: 1 });
  t.deepEqual(
    decodeHealthCheckResponse(hex('0a 00')),
    { status: 0 },
    'field 1 with another wire type is skipped',
  );
});

test('malformed messages are rejected, not misread', (t) => {
  const bad: [string, string][] = [
    ['08', 'truncated varint'],
    ['0a 05 6162', 'truncated length-delimited field'],
    ['19 0102', 'truncated fixed64'],
    ['0b', 'group wire type'],
    ['00 01', 'field number 0'],
    [`08 ${'ff'.repeat(11)}`, 'varint over 10 bytes'],
  ];
  for (const [h, what] of bad) {
    t.throws(() => decodeHealthCheckResponse(hex(h)), { instanceOf: ProtoDecodeError }, what);
  }
  t.throws(
    () => decodeHealthCheckRequest(hex('0a 02 c328')),
    undefined,
    'invalid UTF-8 in a string',
  );
});

test('serving statuses print as their enum names, unknown values as numbers', (t) => {
  t.is(servingStatusName(0), 'UNKNOWN');
  t.is(servingStatusName(1), 'SERVING');
  t.is(servingStatusName(2), 'NOT_SERVING');
  t.is(servingStatusName(3), 'SERVICE_UNKNOWN');
  t.is(servingStatusName(9), '9');
});
