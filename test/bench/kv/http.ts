/**
 * The load generator's HTTP client, the same for both systems: node:http over a keep-alive
 * Agent (one per system; sockets are reused across requests of a closed-loop client), a
 * total per-request deadline, bodies capped in size. Errors carry a `code`: the socket
 * error code (ECONNREFUSED, ECONNRESET, …), ETIMEOUT for the deadline, EBODY for an
 * oversized answer.
 */
import { Agent, request, type IncomingHttpHeaders } from 'node:http';

/** Answers larger than this are cut off with EBODY (the largest legitimate one is a few KiB). */
/** Largest answer read: a 1,000-instance health listing is ~1 MiB. */
const MAX_BODY_BYTES = 8 << 20;

export interface Reply {
  readonly status: number;
  readonly body: Buffer;
  readonly headers: IncomingHttpHeaders;
}

export class HttpError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** A keep-alive pool without a socket limit: concurrency is bounded by the callers. */
export function keepAliveAgent(): Agent {
  return new Agent({ keepAlive: true, keepAliveMsecs: 1000, maxSockets: Infinity });
}

export function send(
  agent: Agent | false,
  port: number,
  method: 'GET' | 'PUT' | 'POST' | 'DELETE',
  path: string,
  body: Buffer | string | undefined,
  timeoutMs: number,
  contentType = 'application/octet-stream',
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const payload =
      body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body) : body;
    const headers: Record<string, string | number> = {};
    if (payload) {
      headers['content-length'] = payload.length;
      headers['content-type'] = contentType;
    }
    let done = false;
    const finish = (e: Error | null, r?: Reply) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (e) reject(e);
      else resolve(r!);
    };
    const req = request({ host: '127.0.0.1', port, method, path, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY_BYTES)
          req.destroy(new HttpError('EBODY', `answer over ${MAX_BODY_BYTES} bytes`));
        else chunks.push(c);
      });
      res.on('end', () =>
        finish(null, {
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks),
          headers: res.headers,
        }),
      );
      res.on('error', (e) => finish(asHttpError(e)));
    });
    const timer = setTimeout(() => {
      const e = new HttpError('ETIMEOUT', `${method} ${path}: no answer within ${timeoutMs} ms`);
      req.destroy(e);
      finish(e);
    }, timeoutMs);
    req.on('error', (e) => finish(asHttpError(e)));
    req.end(payload);
  });
}

function asHttpError(e: Error): HttpError {
  if (e instanceof HttpError) return e;
  const code = (e as NodeJS.ErrnoException).code ?? 'EOTHER';
  return new HttpError(code, e.message);
}

export function errorCode(e: unknown): string {
  return e instanceof HttpError ? e.code : e instanceof Error ? e.name : 'EOTHER';
}
