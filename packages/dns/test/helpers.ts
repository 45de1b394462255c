/** Test harness: a real StateStore fed Register commands, a fake backend, and query helpers. */
import { Prng } from '@trellis/testkit';
import {
  MessageType,
  StateStore,
  encodeCommand,
  type CheckInput,
  type RegisterRequest,
  type ServiceInput,
} from '@trellis/state';
import {
  DEFAULT_DNS_CONFIG,
  DnsHandler,
  RRType,
  decodeMessage,
  encodeMessage,
  makeQuery,
  type DnsBackend,
  type DnsConfigInput,
  type DnsHandlerOptions,
  type Edns,
  type Message,
  type ReadBarrierResult,
  type ResourceRecord,
} from '../src/index.js';

export class Catalog {
  readonly store = new StateStore();
  index = 0;

  register(body: RegisterRequest): void {
    const r = this.store.apply(
      ++this.index,
      encodeCommand({ type: MessageType.Register, now: 1_700_000_000_000, body }),
    );
    if (!r.ok) throw new Error(`register failed: ${r.error.code}: ${r.error.message}`);
  }

  deregister(Node: string, ServiceID?: string): void {
    const body = ServiceID === undefined ? { Node } : { Node, ServiceID };
    const r = this.store.apply(
      ++this.index,
      encodeCommand({ type: MessageType.Deregister, now: 1_700_000_000_000, body }),
    );
    if (!r.ok) throw new Error(`deregister failed: ${r.error.code}`);
  }

  /** A node with a passing serfHealth check, as an agent's first registration leaves it. */
  node(
    name: string,
    address: string,
    extra: Partial<RegisterRequest> = {},
    serf: 'passing' | 'warning' | 'critical' = 'passing',
  ): void {
    this.register({
      Node: name,
      Address: address,
      Datacenter: 'dc1',
      ...extra,
      Check: { CheckID: 'serfHealth', Name: 'Serf Health Status', Status: serf },
    });
  }

  /** A service instance on an existing node, with its own checks. */
  service(node: string, service: ServiceInput, checks: CheckInput[] = []): void {
    const id = service.ID ?? service.Service;
    this.register({
      Node: node,
      Address: '',
      SkipNodeUpdate: true,
      Service: service,
      Checks: checks.map((c) => ({ ServiceID: id, ...c })),
    });
  }
}

/** A backend over a store with a scripted read barrier. */
export class FakeBackend implements DnsBackend {
  readonly store: StateStore;
  readonly datacenter: string;
  readonly nodeName = 'agent-1';
  serverList: Array<{ name: string; address: string }> = [];
  /** What the 'stale' barrier reports. */
  staleResult: ReadBarrierResult = { lastContactMs: 0, knownLeader: true };
  /** Modes that fail (reject). */
  failing = new Set<'default' | 'stale'>();
  readonly calls: Array<'default' | 'stale'> = [];

  constructor(store: StateStore, datacenter = 'dc1') {
    this.store = store;
    this.datacenter = datacenter;
  }

  readBarrier(mode: 'default' | 'stale'): Promise<ReadBarrierResult> {
    this.calls.push(mode);
    if (this.failing.has(mode)) return Promise.reject(new Error(`no leader (${mode})`));
    return Promise.resolve(
      mode === 'stale' ? this.staleResult : { lastContactMs: 0, knownLeader: true },
    );
  }

  servers(): readonly { name: string; address: string }[] {
    return this.serverList;
  }
}

/** A seeded random source for shuffles. */
export function seeded(seed: number): () => number {
  const p = new Prng(seed);
  return () => p.float();
}

export function handlerFor(
  backend: DnsBackend,
  opts: Partial<Omit<DnsHandlerOptions, 'config'>> & { config?: Partial<DnsConfigInput> } = {},
): DnsHandler {
  const { config, ...rest } = opts;
  return new DnsHandler({
    domain: 'consul.',
    altDomain: '',
    recursors: [],
    random: seeded(1),
    now: () => 1_700_000_000_000,
    ...rest,
    backend,
    config: { ...DEFAULT_DNS_CONFIG, ...config },
  });
}

let nextId = 1;

export interface AskOptions {
  transport?: 'udp' | 'tcp';
  edns?: Partial<Edns>;
  id?: number;
}

/** Asks `name type` and decodes the answer (throws when the handler dropped the query). */
export async function ask(
  h: DnsHandler,
  name: string,
  type: number,
  opts: AskOptions = {},
): Promise<Message> {
  const id = opts.id ?? nextId++ & 0xffff;
  const q = makeQuery(id, name, type, opts.edns === undefined ? {} : { edns: opts.edns });
  const bytes = await h.answer(encodeMessage(q), opts.transport ?? 'udp');
  if (bytes === null) throw new Error(`query ${name} ${type} was dropped`);
  const m = decodeMessage(bytes);
  if (m.header.id !== id) throw new Error(`answer ID ${m.header.id}, query ID ${id}`);
  return m;
}

/** A record as one line: "name ttl TYPE data". */
export function show(rr: ResourceRecord): string {
  const type = Object.entries(RRType).find(([, v]) => v === rr.type)?.[0] ?? String(rr.type);
  const d = rr.data;
  let data: string;
  switch (d.kind) {
    case 'a':
    case 'aaaa':
      data = d.address;
      break;
    case 'name':
      data = d.target;
      break;
    case 'srv':
      data = `${d.priority} ${d.weight} ${d.port} ${d.target}`;
      break;
    case 'mx':
      data = `${d.preference} ${d.exchange}`;
      break;
    case 'txt':
      data = d.strings.map((s) => JSON.stringify(Buffer.from(s).toString('utf8'))).join(' ');
      break;
    case 'soa':
      data = `${d.mname} ${d.rname} ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`;
      break;
    case 'opt':
      data = `opt(${d.options.length})`;
      break;
    case 'raw':
      data = Buffer.from(d.bytes).toString('hex');
      break;
  }
  return `${rr.name} ${rr.ttl} ${type} ${data}`;
}

export const lines = (rrs: readonly ResourceRecord[]): string[] => rrs.map(show);
export const sorted = (rrs: readonly ResourceRecord[]): string[] => rrs.map(show).sort();

/**
 * The catalog most handler tests use (datacenter dc1):
 *   n1 10.0.0.1 (meta rack=r1, env=prod)  web v1,primary :8080 passing; db @10.1.0.1 :5432;
 *                                          web-sidecar-proxy :21000 → web; api @api.example.com
 *   n2 10.0.0.2                           web v2 :8081 warning, weights 10/2
 *   n3 10.0.0.3                           web :8082 critical service check
 *   n4 10.0.0.4 serfHealth critical       web :8083
 *   n5 10.0.0.5 node maintenance          web :8084
 *   n6 2001:db8::6                        v6svc :9000
 *   ext ext.example.com                   extsvc :7000
 *   n7 10.0.0.7 lan_ipv6 tagged           tagged :7070
 *   n8 10.0.0.8                           native (Connect.Native) :7443; redis @10.0.0.8 :6379
 */
export function sampleCatalog(): Catalog {
  const c = new Catalog();
  c.node('n1', '10.0.0.1', { NodeMeta: { rack: 'r1', env: 'prod' } });
  c.service('n1', { ID: 'web1', Service: 'web', Tags: ['v1', 'primary'], Port: 8080 }, [
    { CheckID: 'web1-alive', Status: 'passing' },
  ]);
  c.service('n1', { ID: 'db1', Service: 'db', Address: '10.1.0.1', Port: 5432 });
  c.service('n1', {
    ID: 'web1-sidecar',
    Service: 'web-sidecar-proxy',
    Kind: 'connect-proxy',
    Port: 21000,
    Proxy: { DestinationServiceName: 'web', DestinationServiceID: 'web1' },
  });
  c.service('n1', { ID: 'api1', Service: 'api', Address: 'api.example.com', Port: 443 });
  c.node('n2', '10.0.0.2');
  c.service(
    'n2',
    { ID: 'web2', Service: 'web', Tags: ['v2'], Port: 8081, Weights: { Passing: 10, Warning: 2 } },
    [{ CheckID: 'web2-alive', Status: 'warning' }],
  );
  c.node('n3', '10.0.0.3');
  c.service('n3', { ID: 'web3', Service: 'web', Port: 8082 }, [
    { CheckID: 'web3-alive', Status: 'critical' },
  ]);
  c.node('n4', '10.0.0.4', {}, 'critical');
  c.service('n4', { ID: 'web4', Service: 'web', Port: 8083 });
  c.node('n5', '10.0.0.5');
  c.register({
    Node: 'n5',
    Address: '10.0.0.5',
    Datacenter: 'dc1',
    Check: { CheckID: '_node_maintenance', Name: 'Node Maintenance Mode', Status: 'critical' },
  });
  c.service('n5', { ID: 'web5', Service: 'web', Port: 8084 });
  c.node('n6', '2001:db8::6');
  c.service('n6', { ID: 'v6', Service: 'v6svc', Port: 9000 });
  c.node('ext', 'ext.example.com');
  c.service('ext', { ID: 'extsvc', Service: 'extsvc', Port: 7000 });
  c.node('n7', '10.0.0.7', { TaggedAddresses: { lan_ipv6: '2001:db8::7' } });
  c.service('n7', { ID: 'tagged', Service: 'tagged', Port: 7070 });
  c.node('n8', '10.0.0.8');
  c.service('n8', { ID: 'native', Service: 'native', Port: 7443, Connect: { Native: true } });
  c.service('n8', { ID: 'redis', Service: 'redis', Address: '10.0.0.8', Port: 6379 });
  return c;
}
