/**
 * The webblog seed ("Webblog App Part 3 - Consul Connect Service Mesh") end to end, all real
 * processes: a dev agent; `web` (the Flask app's stand-in) whose `.env` points its database
 * at 127.0.0.1:DB_PORT — the local listener of its `mongodb` upstream; `mongodb` (a TCP
 * key-value stand-in); a `trellis connect proxy` sidecar for each.
 *
 * - With `trellis intention create -allow web mongodb`, posts are written and read through
 *   the two sidecars.
 * - The seed's mTLS claim, checked on the wire (the other seed's tcpdump): mongodb's sidecar
 *   is registered with Port = a recording relay, its own listener on `bind_port`, so every
 *   byte web's sidecar sends to it crosses the relay. Each connection opens with a TLS
 *   handshake record (0x16 0x03) in both directions and the app's plaintext never appears.
 * - `trellis intention create -deny -replace web mongodb`: the next calls are refused.
 */
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { APPS, Mesh, http } from './mesh.js';
import { RecordingRelay } from './relay.js';

const mesh = new Mesh('webblog');
let relay: RecordingRelay | undefined;
let webUrl = '';
let mongoSidecarPort = 0;
/** A post no one else would write: it must never be seen between the sidecars. */
const MARKER = `Consul Connect makes the service mesh easy ${randomBytes(8).toString('hex')}`;

test.before(async () => {
  const [kvPort, webPort, relayPort, sidecarListen, webSidecarPort, dbLocalPort] =
    await mesh.freePorts(6);
  mongoSidecarPort = sidecarListen!;
  webUrl = `http://127.0.0.1:${webPort}`;
  relay = await RecordingRelay.start(relayPort!, sidecarListen!);
  // The apps start while the agent does (they do not talk to it).
  await Promise.all([
    mesh.start(),
    mesh.startApp('mongodb', APPS.kv, kvPort!, {}),
    mesh.startApp('web', APPS.web, webPort!, {
      DB_SERVER: '127.0.0.1',
      DB_PORT: String(dbLocalPort),
    }),
  ]);
  // mongodb's sidecar: registered (and so dialled) at the relay; it listens on bind_port.
  await mesh.registerWithSidecar({
    name: 'mongodb',
    port: kvPort!,
    sidecarPort: relayPort!,
    config: { bind_port: sidecarListen },
  });
  // web's upstream, as the seed's annotation `mongodb:27017` (a free port instead of 27017).
  await mesh.registerWithSidecar({
    name: 'web',
    port: webPort!,
    sidecarPort: webSidecarPort!,
    upstreams: [{ DestinationName: 'mongodb', LocalBindPort: dbLocalPort! }],
  });
  await Promise.all([mesh.startSidecar('mongodb'), mesh.startSidecar('web')]);
});

test.after.always(async () => {
  await mesh.close();
  await relay?.close();
});

test.serial('web → mongodb through the sidecars with an allow intention', async (t) => {
  const created = await mesh.cli(['intention', 'create'], ['-allow', 'web', 'mongodb']);
  t.is(created.code, 0, created.stderr);
  t.regex(created.stdout, /Created: web => mongodb \(allow\)/);
  const check = await mesh.cli(['intention', 'check'], ['web', 'mongodb']);
  t.is(check.stdout.trim(), 'Allowed');

  // The sidecars pick the configuration up within moments: poll until the post is saved.
  const saved = await mesh.eventually('the post saved through the mesh', async () => {
    const r = await http('POST', `${webUrl}/posts`, MARKER);
    return r.status === 201 ? r : undefined;
  });
  t.is(saved.text.trim(), 'saved');
  const page = await http('GET', `${webUrl}/`);
  t.is(page.status, 200);
  t.is(page.text, `Webblog\nLatest post: ${MARKER}\n`);

  // mongodb's sidecar listens on bind_port, not on its registered Port (the relay's).
  const svc = JSON.parse(await mesh.apiOk('GET', '/v1/agent/service/mongodb-sidecar-proxy')) as {
    Port: number;
    Proxy: { Config: { bind_port: number } };
  };
  t.is(svc.Proxy.Config.bind_port, mongoSidecarPort);
  t.true((relay?.connections.length ?? 0) > 0, 'web’s sidecar dialled the registered port');
});

test.serial('between the sidecars: TLS records only, never the app’s plaintext', (t) => {
  const conns = relay?.connections ?? [];
  t.true(conns.length > 0);
  for (const [i, c] of conns.entries()) {
    const sent = RecordingRelay.bytes(c.sent);
    const received = RecordingRelay.bytes(c.received);
    if (sent.length === 0) continue; // a connection opened and closed without a byte
    // A TLS handshake record (content type 22, version 3.x): the ClientHello…
    t.deepEqual([...sent.subarray(0, 2)], [0x16, 0x03], `connection ${i}: client hello`);
    // …answered by a ServerHello.
    t.deepEqual([...received.subarray(0, 2)], [0x16, 0x03], `connection ${i}: server hello`);
  }
  const wire = relay?.all() ?? Buffer.alloc(0);
  t.true(wire.length > 0);
  for (const plain of [MARKER, 'post:latest', 'PING', 'PONG', 'VALUE ', 'Webblog']) {
    t.is(wire.indexOf(plain), -1, `"${plain}" is not on the wire`);
  }
});

test.serial('a deny intention refuses web → mongodb', async (t) => {
  const before = relay?.connections.length ?? 0;
  const denied = await mesh.cli(['intention', 'create'], ['-deny', '-replace', 'web', 'mongodb']);
  t.is(denied.code, 0, denied.stderr);
  const check = await mesh.cli(['intention', 'check'], ['web', 'mongodb']);
  t.is(check.stdout.trim(), 'Denied');

  const refused = await mesh.eventually('web refused by mongodb', async () => {
    const r = await http('GET', `${webUrl}/`);
    return r.status === 502 ? r : undefined;
  });
  t.regex(refused.text, /^db error: /);
  // Every later call is refused too (new connections, no leftover pooled one).
  for (let i = 0; i < 3; i++) {
    const r = await http('GET', `${webUrl}/`);
    t.is(r.status, 502, r.text);
  }
  // Refused by mongodb's sidecar after the handshake: the attempts crossed the relay.
  t.true((relay?.connections.length ?? 0) > before);
  // web itself is fine; only its database is out of reach.
  t.is((await http('GET', `${webUrl}/healthz`)).status, 200);
});
