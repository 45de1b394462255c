/**
 * HTTP checks against real loopback servers (Consul's CheckHTTP: status mapping, headers,
 * body, redirects, TLS, output limits, timeouts).
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import test, { type ExecutionContext } from 'ava';
import type { CheckStatus } from '@trellis/state';
import { createRunner, type RunnerDeps } from '../../src/checks/index.js';
import type { CheckDefinition } from '../../src/local/types.js';
import { Recorder, TEST_CERT, TEST_KEY, def, listen, noStagger, unusedPort } from './helpers.js';

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  raw: string[];
  body: string;
  sni?: string | false | undefined;
}

/** Routes: /status/<code>, /echo, /redirect/<n>, /to?<location>&code=<code>, /loop, /hang, /stall, /endless, /binary. */
function handler(seen: Seen[]) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const url = new URL(req.url ?? '/', 'http://x');
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        raw: req.rawHeaders,
        body,
        sni: (req.socket as Partial<TLSSocket>).servername ?? undefined,
      });
      const [, route = '', arg = ''] = url.pathname.split('/');
      switch (route) {
        case 'status':
          res.writeHead(Number(arg));
          res.end('a'.repeat(8192)); // larger than the 4 KiB limit
          return;
        case 'echo':
          res.writeHead(200);
          res.end(`${req.method} ${body}`);
          return;
        case 'redirect':
          if (Number(arg) === 0) {
            res.writeHead(200);
            res.end('arrived');
          } else {
            res.writeHead(302, { Location: `/redirect/${Number(arg) - 1}` });
            res.end();
          }
          return;
        case 'to':
          res.writeHead(Number(url.searchParams.get('code') ?? 302), {
            Location: url.searchParams.get('location') ?? '/',
          });
          res.end('Moved');
          return;
        case 'loop':
          res.writeHead(302, { Location: '/loop' });
          res.end();
          return;
        case 'hang':
          return; // never answers
        case 'stall':
          res.writeHead(200);
          res.write('partial');
          return; // never ends
        case 'endless': {
          res.writeHead(200);
          const block = Buffer.alloc(16 * 1024, 'z');
          const pump = (): void => {
            while (!res.destroyed && res.write(block));
            if (!res.destroyed) res.once('drain', pump);
          };
          pump();
          return;
        }
        case 'binary':
          res.writeHead(200);
          res.end(Buffer.from(Array.from({ length: 6000 }, (_, i) => (i * 37) % 256)));
          return;
        default:
          res.writeHead(404);
          res.end('not found');
      }
    });
  };
}

async function httpServer(
  t: ExecutionContext,
): Promise<{ base: string; seen: Seen[]; port: number }> {
  const seen: Seen[] = [];
  const port = await listen(t, http.createServer(handler(seen)));
  return { base: `http://127.0.0.1:${port}`, seen, port };
}

async function httpsServer(t: ExecutionContext): Promise<{ port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const port = await listen(
    t,
    https.createServer({ key: TEST_KEY, cert: TEST_CERT }, handler(seen)),
  );
  return { port, seen };
}

function run(t: ExecutionContext, d: CheckDefinition, deps: Partial<RunnerDeps> = {}): Recorder {
  const rec = new Recorder();
  const runner = createRunner(d, { notify: rec.notify, random: noStagger, ...deps });
  t.teardown(() => runner.stop());
  runner.start();
  return rec;
}

const httpCheck = (over: Partial<CheckDefinition>): CheckDefinition =>
  def({ kind: 'http', ...over });

test('2xx is passing, 429 warning, anything else critical, with Consul’s output', async (t) => {
  const { base } = await httpServer(t);
  const cases: [number, CheckStatus, string][] = [
    [200, 'passing', '200 OK'],
    [201, 'passing', '201 Created'],
    [299, 'passing', '299 unknown'],
    [429, 'warning', '429 Too Many Requests'],
    [300, 'critical', '300 Multiple Choices'],
    [400, 'critical', '400 Bad Request'],
    [500, 'critical', '500 Internal Server Error'],
    [503, 'critical', '503 Service Unavailable'],
  ];
  await Promise.all(
    cases.map(async ([code, status, line]) => {
      const url = `${base}/status/${code}`;
      const u = await run(t, httpCheck({ HTTP: url })).next();
      t.is(u.status, status, `${code}`);
      t.is(u.output, `HTTP GET ${url}: ${line} Output: ${'a'.repeat(4096)}`, `${code}`);
    }),
  );
});

test('requests carry Consul’s User-Agent and Accept, the definition’s headers, and close the connection', async (t) => {
  const { base, seen } = await httpServer(t);
  await run(
    t,
    httpCheck({
      HTTP: `${base}/echo`,
      Header: { 'X-Multi': ['b', 'c'], 'X-One': ['1'], 'X-None': [] },
    }),
  ).next();
  const h = seen[0]!.headers;
  t.is(h['user-agent'], 'Consul Health Check');
  t.is(h['accept'], 'text/plain, text/*, */*');
  t.is(h['connection'], 'close', 'keep-alives are off');
  t.is(h['x-one'], '1');
  t.is(h['x-multi'], 'b, c', 'a list is sent as repeated headers');
  t.is(seen[0]!.raw.filter((v) => v === 'X-Multi').length, 2);
  t.false('x-none' in h, 'an empty list sends nothing');
});

test('the definition’s User-Agent, Accept and Host replace the defaults; Content-Length is computed', async (t) => {
  const { base, seen } = await httpServer(t);
  await run(
    t,
    httpCheck({
      HTTP: `${base}/echo`,
      Header: {
        'User-Agent': ['probe/1'],
        accept: ['application/json'],
        Host: ['web.service.consul'],
        'Content-Length': ['999'],
      },
    }),
  ).next();
  const h = seen[0]!.headers;
  t.is(h['user-agent'], 'probe/1');
  t.is(h['accept'], 'application/json');
  t.is(h['host'], 'web.service.consul');
  t.is(
    h['content-length'],
    undefined,
    'a GET without body sends no Content-Length, whatever Header says',
  );
});

test('Method and Body are sent; the output ends with the response body', async (t) => {
  const { base, seen } = await httpServer(t);
  const post = await run(
    t,
    httpCheck({ HTTP: `${base}/echo`, Method: 'POST', Body: '{"foo":"bar"}' }),
  ).next();
  t.is(post.status, 'passing');
  t.is(post.output, `HTTP POST ${base}/echo: 200 OK Output: POST {"foo":"bar"}`);
  const get = await run(t, httpCheck({ HTTP: `${base}/echo`, Body: 'hello world' })).next();
  t.true(get.output.endsWith('GET hello world'), 'a GET may carry a body too');
  await run(t, httpCheck({ HTTP: `${base}/echo`, Method: 'PUT' })).next();
  const put = seen.find((x) => x.method === 'PUT')!;
  t.is(put.headers['content-length'], '0', 'an empty PUT says so, as Go does');
});

test('at most OutputMaxSize bytes of the body are kept (TestCheckMaxOutputSize)', async (t) => {
  const { base } = await httpServer(t);
  const url = `${base}/status/200`;
  const u = await run(t, httpCheck({ HTTP: url, OutputMaxSize: 32 })).next();
  t.is(u.output, `HTTP GET ${url}: 200 OK Output: ${'a'.repeat(32)}`);
});

test('an endless body is cut at the limit without waiting for the timeout', async (t) => {
  const { base } = await httpServer(t);
  const url = `${base}/endless`;
  const u = await run(t, httpCheck({ HTTP: url, Timeout: 20_000 })).next(undefined, 10_000);
  t.is(u.status, 'passing');
  t.is(u.output, `HTTP GET ${url}: 200 OK Output: ${'z'.repeat(4096)}`);
});

test('a binary body is kept as text of bounded size', async (t) => {
  const { base } = await httpServer(t);
  const u = await run(t, httpCheck({ HTTP: `${base}/binary`, OutputMaxSize: 100 })).next();
  t.is(u.status, 'passing');
  const body = u.output.slice(u.output.indexOf('Output: ') + 'Output: '.length);
  t.true(Buffer.byteLength(body) <= 100 * 3, 'at most 100 bytes read, each at worst one U+FFFD');
  t.true(body.startsWith('\u0000%J'), 'bytes 0, 37, 74 as read');
});

test('a server that never answers is cut at Timeout → critical', async (t) => {
  const { base } = await httpServer(t);
  const url = `${base}/hang`;
  const u = await run(t, httpCheck({ HTTP: url, Timeout: 200 })).next();
  t.is(u.status, 'critical');
  t.is(
    u.output,
    `Get "${url}": request timed out after 200ms (Timeout exceeded while awaiting headers)`,
  );
});

test('a body cut short by Timeout still reports the response status (Consul only logs the read error)', async (t) => {
  const { base } = await httpServer(t);
  const url = `${base}/stall`;
  const warnings: string[] = [];
  const logger = {
    debug: () => {},
    info: () => {},
    warn: (_o: object, m: string) => void warnings.push(m),
  };
  const u = await run(t, httpCheck({ HTTP: url, Timeout: 500 }), { logger }).next();
  t.is(u.status, 'passing');
  t.is(u.output, `HTTP GET ${url}: 200 OK Output: partial`);
  t.true(warnings.includes('Check error while reading body'));
});

test('unreachable targets and bad URLs are critical with the reason', async (t) => {
  const port = await unusedPort();
  const refused = await run(t, httpCheck({ HTTP: `http://127.0.0.1:${port}/health` })).next();
  t.is(refused.status, 'critical');
  t.is(
    refused.output,
    `Get "http://127.0.0.1:${port}/health": connect ECONNREFUSED 127.0.0.1:${port}`,
  );
  const post = await run(
    t,
    httpCheck({ HTTP: `http://127.0.0.1:${port}/`, Method: 'POST' }),
  ).next();
  t.true(
    post.output.startsWith(`Post "http://127.0.0.1:${port}/": `),
    'Go’s url.Error names the method',
  );
  const bare = await run(t, httpCheck({ HTTP: `http://127.0.0.1:${port}` })).next();
  t.true(
    bare.output.startsWith(`Get "http://127.0.0.1:${port}": `),
    'the URL as the definition gives it',
  );
  const secret = await run(t, httpCheck({ HTTP: `http://user:s3cret@127.0.0.1:${port}/` })).next();
  t.true(
    secret.output.startsWith(`Get "http://user:***@127.0.0.1:${port}/": `),
    'passwords are masked',
  );
  const bad = await run(t, httpCheck({ HTTP: 'not a url' })).next();
  t.is(bad.output, 'parse "not a url": invalid URL');
  const scheme = await run(t, httpCheck({ HTTP: 'ftp://127.0.0.1/x' })).next();
  t.is(scheme.output, 'Get "ftp://127.0.0.1/x": unsupported protocol scheme "ftp"');
});

test('header values that cannot be sent are critical, not a crash', async (t) => {
  const { base, seen } = await httpServer(t);
  const u = await run(
    t,
    httpCheck({ HTTP: `${base}/echo`, Header: { 'X-Bad': ['a\r\nInjected: 1'] } }),
  ).next();
  t.is(u.status, 'critical');
  t.true(u.output.startsWith(`Get "${base}/echo": Invalid character in header content`), u.output);
  t.is(seen.length, 0, 'nothing was sent');
});

test('redirects are followed as Go’s client does, up to 10', async (t) => {
  const { base } = await httpServer(t);
  const followed = await run(t, httpCheck({ HTTP: `${base}/redirect/3` })).next();
  t.is(followed.status, 'passing');
  t.is(
    followed.output,
    `HTTP GET ${base}/redirect/3: 200 OK Output: arrived`,
    'the output names the URL checked',
  );
  const loop = await run(t, httpCheck({ HTTP: `${base}/loop` })).next();
  t.is(loop.status, 'critical');
  t.is(loop.output, `Get "${base}/loop": stopped after 10 redirects`);
});

test('DisableRedirects reports the redirect itself (TestCheckHTTP_DisableRedirects)', async (t) => {
  const { base, seen } = await httpServer(t);
  const u = await run(t, httpCheck({ HTTP: `${base}/redirect/1`, DisableRedirects: true })).next();
  t.is(u.status, 'critical');
  t.is(u.output, `HTTP GET ${base}/redirect/1: 302 Found Output: `);
  t.true(
    seen.every((x) => x.url === '/redirect/1'),
    'the Location was not requested',
  );
});

test('303 (and 301/302 of a POST) turn into a GET without body; 307 and 308 repeat the request', async (t) => {
  const { base, seen } = await httpServer(t);
  const to = (code: number) => `${base}/to?code=${code}&location=/echo`;
  const cases: [number, string][] = [
    [301, 'GET '],
    [302, 'GET '],
    [303, 'GET '],
    [307, 'POST ping'],
    [308, 'POST ping'],
  ];
  for (const [code, echoed] of cases) {
    const u = await run(t, httpCheck({ HTTP: to(code), Method: 'POST', Body: 'ping' })).next();
    t.is(u.output, `HTTP POST ${to(code)}: 200 OK Output: ${echoed}`, `${code}`);
  }
  t.true(seen.some((s) => s.method === 'POST' && s.url === '/echo' && s.body === 'ping'));
});

test('a redirect to another host drops credentials and the Host override; a relative one keeps them', async (t) => {
  const { base, port, seen } = await httpServer(t);
  const header = { Authorization: ['Bearer secret'], Host: ['web.example'] };
  const elsewhere = `${base}/to?location=${encodeURIComponent(`http://localhost:${port}/echo?cross`)}`;
  await run(t, httpCheck({ HTTP: elsewhere, Header: header })).next();
  const cross = seen.find((s) => s.url === '/echo?cross')!;
  t.is(cross.headers['authorization'], undefined);
  t.is(cross.headers['host'], `localhost:${port}`);
  const relative = `${base}/to?location=${encodeURIComponent('/echo?same')}`;
  await run(t, httpCheck({ HTTP: relative, Header: header })).next();
  const same = seen.find((s) => s.url === '/echo?same')!;
  t.is(same.headers['authorization'], 'Bearer secret');
  t.is(same.headers['host'], 'web.example');
});

test('https: a self-signed certificate fails verification unless TLSSkipVerify (TestCheckHTTP_TLS_*)', async (t) => {
  const { port } = await httpsServer(t);
  const url = `https://127.0.0.1:${port}/status/200`;
  const skip = await run(t, httpCheck({ HTTP: url, TLSSkipVerify: true })).next();
  t.is(skip.status, 'passing');
  t.true(skip.output.startsWith(`HTTP GET ${url}: 200 OK Output: aaa`));
  const verify = await run(t, httpCheck({ HTTP: url })).next();
  t.is(verify.status, 'critical');
  t.is(verify.output, `Get "${url}": self-signed certificate`);
});

test('https: the agent’s CA verifies the server, against TLSServerName when set', async (t) => {
  const { port, seen } = await httpsServer(t);
  const tls = { ca: TEST_CERT };
  const byIp = await run(t, httpCheck({ HTTP: `https://127.0.0.1:${port}/echo` }), { tls }).next();
  t.is(byIp.status, 'passing', 'the IP SAN matches');
  t.false(seen[0]!.sni, 'no SNI for an IP address');
  const named = await run(
    t,
    httpCheck({ HTTP: `https://127.0.0.1:${port}/echo`, TLSServerName: 'localhost' }),
    { tls },
  ).next();
  t.is(named.status, 'passing');
  t.true(
    seen.some((x) => x.sni === 'localhost'),
    'TLSServerName is sent as SNI',
  );
  const wrong = await run(
    t,
    httpCheck({ HTTP: `https://127.0.0.1:${port}/echo`, TLSServerName: 'db.example' }),
    { tls },
  ).next();
  t.is(wrong.status, 'critical');
  t.regex(wrong.output, /Hostname\/IP does not match certificate's altnames: Host: db\.example/);
});
