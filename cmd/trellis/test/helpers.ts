// Shared by the CLI's tests: an in-memory Io and a loopback port nobody listens on.
import { createServer } from 'node:net';
import { Readable } from 'node:stream';
import { main } from '../src/index.js';

export interface Captured {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI in-process with captured output and, optionally, stdin. */
export async function cli(argv: readonly string[], stdin?: string | Buffer): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const io = {
    stdout: {
      write: (s: string | Uint8Array) =>
        (stdout += typeof s === 'string' ? s : Buffer.from(s).toString('utf8')),
    },
    stderr: { write: (s: string) => (stderr += s) },
    ...(stdin !== undefined ? { stdin: Readable.from([Buffer.from(stdin)]) } : {}),
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

/** A loopback TCP port that was free a moment ago and has nothing listening on it. */
export async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}
