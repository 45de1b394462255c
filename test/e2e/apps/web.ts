/**
 * The webblog frontend (the seed's Python/Flask app): an HTTP app that keeps its posts in the
 * `mongodb` upstream, reached as the seed's `.env` says — on 127.0.0.1 at DB_PORT, which is
 * the sidecar's local upstream listener, never the database's own address.
 *
 *     PORT=8080 DB_SERVER=127.0.0.1 DB_PORT=27017 node test/dist/e2e/apps/web.js
 *
 * - `GET /` → 200 `Webblog` and the latest post, read from the database; 502 `db error: …`
 *   when the database cannot be reached (refused by the mesh, say).
 * - `POST /posts` (the body is the post) → 201 `saved`, or 502 as above.
 * - `GET /healthz` → 200 `ok` without touching the database.
 *
 * Every database call opens its own connection (so a new intention shows on the next call).
 */
import { createServer, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { envPort, listenOn, log } from './common.js';

const port = envPort('PORT');
const dbPort = envPort('DB_PORT');
const dbHost = process.env['DB_SERVER'] ?? '127.0.0.1';
const DB_TIMEOUT_MS = 5000;
const MAX_BODY = 64 * 1024;

/** Sends the command lines on one connection and resolves with one answer line each. */
function db(lines: readonly string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: dbHost, port: dbPort });
    const answers: string[] = [];
    let buf = '';
    let done = false;
    const finish = (err: Error | null): void => {
      if (done) return;
      done = true;
      sock.destroy();
      if (err) reject(err);
      else resolve(answers);
    };
    sock.setTimeout(DB_TIMEOUT_MS, () => finish(new Error(`no answer within ${DB_TIMEOUT_MS} ms`)));
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(lines.map((l) => l + '\n').join('')));
    sock.on('data', (chunk: string) => {
      buf += chunk;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        answers.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
      if (answers.length >= lines.length) finish(null);
    });
    sock.on('error', (e) => finish(e));
    sock.on('close', () =>
      finish(new Error(`connection closed after ${answers.length} of ${lines.length} answers`)),
    );
  });
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
      if (body.length > MAX_BODY) req.destroy(new Error('body too large'));
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

const server = createServer((req, res) => {
  const reply = (status: number, text: string): void => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(text + '\n');
    log(`${req.method} ${req.url} → ${status}`);
  };
  const url = new URL(req.url ?? '/', 'http://web');
  void (async () => {
    try {
      if (req.method === 'GET' && url.pathname === '/healthz') return reply(200, 'ok');
      if (req.method === 'GET' && url.pathname === '/') {
        const [pong, latest] = await db(['PING', 'GET post:latest']);
        if (pong !== 'PONG') return reply(502, `db error: unexpected answer ${pong}`);
        const post = latest?.startsWith('VALUE ') ? latest.slice('VALUE '.length) : '(none yet)';
        return reply(200, `Webblog\nLatest post: ${post}`);
      }
      if (req.method === 'POST' && url.pathname === '/posts') {
        const body = (await readBody(req)).replace(/[\r\n]+/g, ' ').trim();
        if (body === '') return reply(400, 'empty post');
        const [ok] = await db([`SET post:latest ${body}`]);
        return ok === 'OK' ? reply(201, 'saved') : reply(502, `db error: ${ok}`);
      }
      return reply(404, 'not found');
    } catch (e) {
      return reply(502, `db error: ${(e as Error).message}`);
    }
  })();
});

await listenOn(server, port);
log(`web: listening on 127.0.0.1:${port}, mongodb at ${dbHost}:${dbPort}`);
