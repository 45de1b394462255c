/**
 * The drill's HTTP client: node:http over keep-alive sockets with a total deadline per
 * request. Failures say whether the request may have reached the server: a refused
 * connection never did (`sent: false`); a reset, a timeout or a broken answer may have.
 */
import { Agent, request } from 'node:http';

const MAX_BODY_BYTES = 1 << 20;

export interface Reply {
  readonly status: number;
  readonly body: string;
  readonly headers: Record<string, string | string[] | undefined>;
}

export class RequestError extends Error {
  constructor(
    readonly code: string,
    /** Whether the server may have seen the request (its outcome is then unknown). */
    readonly sent: boolean,
    message: string,
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

export function keepAliveAgent(): Agent {
  return new Agent({ keepAlive: true, keepAliveMsecs: 1000, maxSockets: Infinity });
}

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export function send(
  agent: Agent | false,
  to: Endpoint,
  method: 'GET' | 'PUT' | 'DELETE',
  path: string,
  body: string | undefined,
  timeoutMs: number,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (e: RequestError | null, r?: Reply) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (e) reject(e);
      else resolve(r!);
    };
    const payload = body === undefined ? undefined : Buffer.from(body);
    const req = request(
      {
        host: to.host,
        port: to.port,
        method,
        path,
        agent,
        headers: payload ? { 'content-length': payload.length } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY_BYTES) req.destroy(new Error('answer too large'));
          else chunks.push(c);
        });
        res.on('end', () =>
          finish(null, {
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            headers: res.headers,
          }),
        );
        res.on('error', (e) => finish(new RequestError('EANSWER', true, e.message)));
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      finish(new RequestError('ETIMEOUT', true, `no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => {
      const code = e.code ?? 'EOTHER';
      finish(new RequestError(code, code !== 'ECONNREFUSED', e.message));
    });
    req.end(payload);
  });
}
