/**
 * The MongoDB stand-in of the webblog scenario: a tiny TCP key-value store with a line
 * protocol, so that what crosses the mesh is plain, recognisable bytes.
 *
 *     PORT=27017 node test/dist/e2e/apps/kv.js
 *
 * Requests and answers are one line each (UTF-8, `\n`-terminated):
 * `PING` → `PONG`; `SET <key> <value…>` → `OK`; `GET <key>` → `VALUE <value…>` or `NIL`;
 * anything else → `ERR unknown command`. Lines over 64 KiB close the connection.
 */
import { createServer } from 'node:net';
import { envPort, listenOn, log } from './common.js';

const MAX_LINE = 64 * 1024;
const port = envPort('PORT');
const data = new Map<string, string>();

function answer(line: string): string {
  const [cmd = '', key = ''] = line.split(' ', 2);
  switch (cmd.toUpperCase()) {
    case 'PING':
      return 'PONG';
    case 'SET': {
      if (key === '') return 'ERR SET needs a key';
      data.set(key, line.slice(cmd.length + 1 + key.length + 1));
      return 'OK';
    }
    case 'GET': {
      const v = data.get(key);
      return v === undefined ? 'NIL' : `VALUE ${v}`;
    }
    default:
      return 'ERR unknown command';
  }
}

const server = createServer((sock) => {
  let buf = '';
  sock.setEncoding('utf8');
  sock.on('data', (chunk: string) => {
    buf += chunk;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i).replace(/\r$/, '');
      buf = buf.slice(i + 1);
      sock.write(answer(line) + '\n');
    }
    if (buf.length > MAX_LINE) sock.destroy();
  });
  sock.on('error', () => sock.destroy());
});

await listenOn(server, port);
log(`kv: listening on 127.0.0.1:${port}`);
