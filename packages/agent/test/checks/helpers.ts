/**
 * Shared pieces of the check-runner tests: a complete CheckDefinition from a few fields, a
 * notify that records every update, bounded waits, and loopback servers that always close.
 */
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import type { ExecutionContext } from 'ava';
import type { CheckStatus } from '@trellis/state';
import { BLANK_CHECK, type CheckDefinition } from '../../src/local/types.js';
import type { CheckNotify } from '../../src/checks/index.js';
import { waitFor as waitUntil } from '../wait.js';

/** A definition with every field at its zero value, then `over`. */
export function def(
  over: Partial<CheckDefinition> & Pick<CheckDefinition, 'kind'>,
): CheckDefinition {
  return {
    ...BLANK_CHECK,
    CheckID: `check-${over.kind}`,
    Name: `check ${over.kind}`,
    // One run per test unless a test asks for more: fewer processes and sockets in flight keep
    // the suite's timing honest when test files run side by side.
    Interval: 10_000,
    Timeout: 2000,
    OutputMaxSize: 4096,
    ...over,
  };
}

export interface Update {
  readonly status: CheckStatus;
  readonly output: string;
  readonly at: number;
}

/** A notify that records updates. */
export class Recorder {
  readonly updates: Update[] = [];
  readonly notify: CheckNotify = (status, output) => {
    this.updates.push({ status, output, at: Date.now() });
  };

  get last(): Update | undefined {
    return this.updates.at(-1);
  }

  /** Waits (bounded) for an update matching `pred` and returns it. */
  async next(pred: (u: Update) => boolean = () => true, timeoutMs = 5000): Promise<Update> {
    return waitFor(
      `an update matching ${pred.toString()}`,
      () => this.updates.find(pred),
      timeoutMs,
    );
  }

  /** Waits (bounded) until at least `n` updates were recorded. */
  async count(n: number, timeoutMs = 5000): Promise<Update[]> {
    await waitFor(`${n} updates`, () => this.updates.length >= n, timeoutMs);
    return this.updates.slice(0, n);
  }
}

/** The check tests' bounded wait: 5 s, polled every 10 ms. */
export function waitFor<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 5000,
): Promise<T> {
  return waitUntil(what, fn, timeoutMs, 10);
}

/**
 * Listens on `host` port 0; when the test ends, closes the server and destroys the connections
 * it accepted (a connection nobody reads from would otherwise never notice its peer left).
 */
export async function listen<S extends NetServer>(
  t: ExecutionContext,
  server: S,
  host = '127.0.0.1',
): Promise<number> {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  );
  return (server.address() as AddressInfo).port;
}

/** A port with nothing listening on it (bound, then released). */
export async function unusedPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', () => resolve()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Runs the first run at once (no stagger). */
export const noStagger = (): number => 0;

/**
 * A self-signed certificate for localhost, 127.0.0.1 and ::1 (EC P-256, valid 2020–2120,
 * CA:TRUE so it can be its own trust root), generated once with openssl for these tests.
 */
export const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg/A0wEfpRkiWyNNCW
hvq0cmvVAdBpXOwgY55GXGpt24uhRANCAASg7EGKFLG8zarHQ2InIJJFlYSosd9D
iR32W4raXzLYmemWB3HEYs0c52CWwynytiCCe0FSOF24pjmChF4u5PYa
-----END PRIVATE KEY-----
`;

export const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBejCCAR+gAwIBAgIBATAKBggqhkjOPQQDAjAUMRIwEAYDVQQDDAlsb2NhbGhv
c3QwIBcNMjAwMTAxMDAwMDAwWhgPMjEyMDAxMDEwMDAwMDBaMBQxEjAQBgNVBAMM
CWxvY2FsaG9zdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABKDsQYoUsbzNqsdD
YicgkkWVhKix30OJHfZbitpfMtiZ6ZYHccRizRznYJbDKfK2IIJ7QVI4XbimOYKE
Xi7k9hqjYDBeMA8GA1UdEwEB/wQFMAMBAf8wLAYDVR0RBCUwI4IJbG9jYWxob3N0
hwR/AAABhxAAAAAAAAAAAAAAAAAAAAABMB0GA1UdDgQWBBS/qkxG/v/fKaRJCoi7
L9iS667hczAKBggqhkjOPQQDAgNJADBGAiEAqUrKag05+5Squm6UMvYLD1Lti5V0
LOeQtb4tLps7uqECIQDmGx8SWBpA3W7+stHzIE45ZDprZcMXe+DBsQ9kntCnOg==
-----END CERTIFICATE-----
`;
