// A stand-in for a Consul agent's HTTP API on loopback, for CLI tests: it records every
// request (method, path, query, body, token) and answers with canned JSON taken from
// Consul's API documentation, or with what a test overrides. Also runs the real `trellis`
// executable against it.
import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';

export interface RecordedRequest {
  readonly method: string;
  /** The path as sent, still percent-encoded. */
  readonly path: string;
  /** The raw query string without "?" ('' when none). */
  readonly search: string;
  /** Query parameters, each with all its values in order. */
  readonly query: Readonly<Record<string, readonly string[]>>;
  readonly body: string;
  readonly token: string | undefined;
}

export interface Answer {
  readonly status?: number;
  /** A string is sent as text/plain (Consul's error bodies); anything else as JSON. */
  readonly body?: unknown;
}

/** A route: method and path pattern (matched against the undecoded path) to an answer. */
export type Route = readonly [
  method: string,
  path: RegExp,
  answer: Answer | ((req: RecordedRequest) => Answer),
];

/** Consul's documented answers, used unless a test's routes match first. */
export const NODES = [
  {
    ID: '40e4a748-2192-161a-0510-9bf59fe950b5',
    Node: 'baz',
    Address: '10.1.10.11',
    Datacenter: 'dc1',
    TaggedAddresses: { lan: '10.1.10.11', wan: '10.1.10.11' },
    Meta: { instance_type: 't2.medium' },
    CreateIndex: 5,
    ModifyIndex: 7,
  },
  {
    ID: '8f246b77-f3e1-ff88-5b48-8ec93abf3e05',
    Node: 'foobar',
    Address: '10.1.10.12',
    Datacenter: 'dc2',
    TaggedAddresses: { lan: '10.1.10.11', wan: '10.1.10.12' },
    Meta: { instance_type: 't2.large', rack: 'r1' },
    CreateIndex: 6,
    ModifyIndex: 8,
  },
];

export const SERVICE_WEB = [
  {
    ID: '40e4a748-2192-161a-0510-9bf59fe950b5',
    Node: 'foobar',
    Address: '192.168.10.10',
    Datacenter: 'dc1',
    TaggedAddresses: { lan: '192.168.10.10', wan: '10.0.10.10' },
    NodeMeta: { somekey: 'somevalue' },
    ServiceAddress: '172.17.0.3',
    ServiceID: '32a2a47f7992:nodea:5000',
    ServiceName: 'web',
    ServicePort: 5000,
    ServiceTags: ['tag1'],
    CreateIndex: 51,
    ModifyIndex: 51,
  },
];

export const AGENT_CHECKS = {
  'service:redis': {
    Node: 'foobar',
    CheckID: 'service:redis',
    Name: "Service 'redis' check",
    Status: 'passing',
    Notes: '',
    Output: '',
    ServiceID: 'redis',
    ServiceName: 'redis',
  },
  '_service_maintenance:redis': {
    Node: 'foobar',
    CheckID: '_service_maintenance:redis',
    Name: 'Service Maintenance Mode',
    Status: 'critical',
    Notes:
      'Maintenance mode is enabled for this service, but no reason was provided. This is a default message.',
    Output: '',
    ServiceID: 'redis',
    ServiceName: 'redis',
  },
  _node_maintenance: {
    Node: 'foobar',
    CheckID: '_node_maintenance',
    Name: 'Node Maintenance Mode',
    Status: 'critical',
    Notes: 'kernel upgrade',
    Output: '',
    ServiceID: '',
    ServiceName: '',
  },
};

const DEFAULT_ROUTES: readonly Route[] = [
  ['PUT', /^\/v1\/agent\/join\/[^/]+$/, { body: '' }],
  ['PUT', /^\/v1\/agent\/force-leave\/[^/]+$/, { body: '' }],
  ['PUT', /^\/v1\/agent\/service\/register$/, { body: '' }],
  ['PUT', /^\/v1\/agent\/service\/deregister\/[^/]+$/, { body: '' }],
  ['PUT', /^\/v1\/agent\/maintenance$/, { body: '' }],
  ['PUT', /^\/v1\/agent\/service\/maintenance\/[^/]+$/, { body: '' }],
  [
    'GET',
    /^\/v1\/agent\/self$/,
    {
      body: {
        Config: {
          Datacenter: 'dc1',
          NodeName: 'foobar',
          NodeID: '9d754d17-d864-b1d3-e758-f3fe25a9874f',
          Server: true,
          Revision: 'deadbeef',
          Version: '1.0.0',
        },
        Member: { Name: 'foobar', Addr: '10.1.10.12', Port: 8301, Status: 1 },
      },
    },
  ],
  ['GET', /^\/v1\/agent\/checks$/, { body: AGENT_CHECKS }],
  [
    'PUT',
    /^\/v1\/event\/fire\/[^/]+$/,
    (req) => ({
      body: {
        ID: 'b54fe110-7af5-cafc-d1fb-afc8ba432b1c',
        Name: decodeURIComponent(req.path.slice('/v1/event/fire/'.length)),
        Payload: req.body === '' ? null : Buffer.from(req.body).toString('base64'),
        NodeFilter: req.query['node']?.[0] ?? '',
        ServiceFilter: req.query['service']?.[0] ?? '',
        TagFilter: req.query['tag']?.[0] ?? '',
        Version: 1,
        LTime: 0,
      },
    }),
  ],
  ['GET', /^\/v1\/catalog\/datacenters$/, { body: ['dc1', 'dc2', 'dc3'] }],
  ['GET', /^\/v1\/catalog\/nodes$/, { body: NODES }],
  ['GET', /^\/v1\/catalog\/service\/web$/, { body: SERVICE_WEB }],
  ['GET', /^\/v1\/catalog\/service\/[^/]+$/, { body: [] }],
  [
    'GET',
    /^\/v1\/catalog\/services$/,
    { body: { consul: [], redis: [], postgresql: ['primary', 'secondary'] } },
  ],
  [
    'GET',
    /^\/v1\/catalog\/node\/foobar$/,
    {
      body: {
        Node: NODES[1],
        Services: {
          consul: { ID: 'consul', Service: 'consul', Tags: null, Port: 8300 },
          'redis-1': { ID: 'redis-1', Service: 'redis', Tags: ['v1', 'primary'], Port: 8000 },
          'redis-2': { ID: 'redis-2', Service: 'redis', Tags: ['v1'], Port: 8001 },
        },
      },
    },
  ],
  // Consul answers 200 and `null` for a node it does not know.
  ['GET', /^\/v1\/catalog\/node\/[^/]+$/, { body: null }],
];

export interface FakeConsul {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** `-http-addr=…` for the CLI. */
  readonly flag: string;
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

/** Largest request body recorded (definitions and payloads are small). */
const MAX_BODY_BYTES = 1024 * 1024;

async function readBody(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    total += c.length;
    if (total > MAX_BODY_BYTES) throw new Error('request body over the test limit');
    parts.push(c);
  }
  return Buffer.concat(parts).toString('utf8');
}

/** Starts a fake agent on 127.0.0.1:0; `routes` are tried before the documented answers. */
export async function fakeConsul(routes: readonly Route[] = []): Promise<FakeConsul> {
  const requests: RecordedRequest[] = [];
  const server: Server = createServer((req, res) => {
    void (async () => {
      const raw = req.url ?? '/';
      const q = raw.indexOf('?');
      const path = q < 0 ? raw : raw.slice(0, q);
      const search = q < 0 ? '' : raw.slice(q + 1);
      const query: Record<string, string[]> = {};
      for (const [k, v] of new URLSearchParams(search)) (query[k] ??= []).push(v);
      const token = req.headers['x-consul-token'];
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        path,
        search,
        query,
        body: await readBody(req),
        token: typeof token === 'string' ? token : undefined,
      };
      requests.push(recorded);
      const route = [...routes, ...DEFAULT_ROUTES].find(
        ([m, p]) => m === recorded.method && p.test(path),
      );
      const answer: Answer = route
        ? typeof route[2] === 'function'
          ? route[2](recorded)
          : route[2]
        : { status: 404, body: `no route for ${recorded.method} ${path}` };
      const status = answer.status ?? 200;
      if (typeof answer.body === 'string') {
        res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(answer.body);
      } else {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(answer.body ?? null));
      }
    })().catch((e: unknown) => {
      res.writeHead(500);
      res.end(String(e));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    flag: `-http-addr=${url}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

const bin = new URL('../../bin/trellis.js', import.meta.url).pathname;
/** Per invocation: a CLI run against loopback takes well under a second. */
const RUN_TIMEOUT_MS = 30_000;

/** The environment without any agent address or token a developer's shell may carry. */
const env: Record<string, string | undefined> = { ...process.env };
for (const k of Object.keys(env)) {
  if (/^(CONSUL|TRELLIS)_HTTP_/.test(k)) delete env[k];
}

/** Runs `trellis <args>` as a separate process, with optional stdin. */
export function trellis(args: readonly string[], stdin = ''): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [bin, ...args],
      { env, timeout: RUN_TIMEOUT_MS, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(stdin);
  });
}
