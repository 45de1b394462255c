/** What the e2e apps share: environment parsing, listening on loopback, small HTTP helpers. */
import type { Server as HttpServer } from 'node:http';
import type { Server as NetServer } from 'node:net';

/** A port from the environment; exits with a message when it is missing or not a port. */
export function envPort(name: string): number {
  const raw = process.env[name];
  const port = Number(raw);
  if (raw === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
    process.stderr.write(`${name} must be a port number (got ${JSON.stringify(raw)})\n`);
    process.exit(2);
  }
  return port;
}

/** A line on stdout with a timestamp (apps' stdout goes to their log file). */
export function log(msg: string): void {
  process.stdout.write(`${new Date().toISOString()} ${msg}\n`);
}

/** Listens on 127.0.0.1:port; rejects on a bind error (the process then exits non-zero). */
export function listenOn(server: NetServer | HttpServer, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export interface Fetched {
  readonly status: number;
  readonly body: string;
}

/**
 * One HTTP request to an upstream (through the sidecar's local listener), bounded by
 * `timeoutMs`; network errors and timeouts come back as status 0 with the error text.
 */
export async function fetchText(
  url: string,
  init: { method?: string; body?: string; headers?: Record<string, string> } = {},
  timeoutMs = 5000,
): Promise<Fetched> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, body: await res.text() };
  } catch (e) {
    const err = e as Error & { cause?: Error };
    return { status: 0, body: `${err.message}${err.cause ? `: ${err.cause.message}` : ''}` };
  }
}
