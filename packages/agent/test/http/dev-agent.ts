/**
 * A real in-process agent (server and client in one, as `-dev`) on loopback for the Connect
 * HTTP tests, and a small fetch-based client that shows status, headers and text as sent.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../../src/agent.js';
import { buildConfig, type Fragment } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { waitFor } from '../wait.js';

export { waitFor };

export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  json<T = unknown>(): T;
}

export interface Teardown {
  teardown(fn: () => Promise<void> | void): void;
}

export interface DevAgent {
  readonly agent: Agent;
  readonly url: string;
  readonly dir: string;
  req(method: string, path: string, body?: unknown, timeoutMs?: number): Promise<Answer>;
  /** GET that must answer 200; the parsed body. */
  get<T>(path: string): Promise<T>;
}

/** One request; `body` is sent as is when a string or bytes, else as JSON. */
export async function req(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 20_000,
): Promise<Answer> {
  const res = await fetch(base + path, {
    method,
    ...(body === undefined
      ? {}
      : {
          body:
            typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
        }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    text,
    json: <T>() => JSON.parse(text) as T,
  };
}

export interface DevAgentOptions {
  /** Config keys, validated as a config file's JSON would be. */
  readonly extra?: Record<string, unknown>;
  /** JSON config files' contents, written to the agent's directory and loaded in order. */
  readonly configFiles?: readonly unknown[];
}

/** Starts a dev agent (its own data dir and ports), stopped and removed when the test ends. */
export async function devAgent(t: Teardown, o: DevAgentOptions = {}): Promise<DevAgent> {
  const dir = mkdtempSync(join(tmpdir(), 'trellis-connect-'));
  const files = (o.configFiles ?? []).map((c, i) => {
    const path = join(dir, `config-${i}.json`);
    writeFileSync(path, JSON.stringify(c));
    return path;
  });
  const flags = {
    node_name: 'dev1',
    datacenter: 'dc1',
    server: true,
    bootstrap: true,
    data_dir: join(dir, 'data'),
    bind_addr: '127.0.0.1',
    client_addr: '127.0.0.1',
    log_level: 'error',
    ports: { http: 0, dns: -1, grpc: -1, server: 0, serf_lan: 0 },
    ...o.extra,
  } as Fragment;
  const config = buildConfig({ configFiles: files, flags });
  const agent = await Agent.start({
    config,
    version: '0.0.0-test',
    logger: createLogger({ level: 'error', write: () => {} }),
    gossipPreset: 'local',
  });
  t.teardown(async () => {
    await agent.shutdown();
    rmSync(dir, { recursive: true, force: true });
  });
  const url = agent.httpInfo?.url ?? '';
  await waitFor(
    'a leader',
    async () => (await req(url, 'GET', '/v1/status/leader')).text.length > 2,
  );
  const r = (method: string, path: string, body?: unknown, timeoutMs?: number) =>
    req(url, method, path, body, timeoutMs);
  return {
    agent,
    url,
    dir,
    req: r,
    get: async <T>(path: string) => {
      const a = await r('GET', path);
      if (a.status !== 200) throw new Error(`GET ${path}: ${a.status} ${a.text}`);
      return a.json<T>();
    },
  };
}

/** Consul's IndexedCARoots as /v1/connect/ca/roots lists it. */
export interface RootsAnswer {
  readonly ActiveRootID: string;
  readonly TrustDomain: string;
  readonly Roots: ReadonlyArray<{
    readonly ID: string;
    readonly Name: string;
    readonly ExternalTrustDomain: string;
    readonly RootCert: string;
    readonly IntermediateCerts: readonly string[] | null;
    readonly Active: boolean;
    readonly RotatedOutAt?: string;
    readonly PrivateKeyType: string;
    readonly PrivateKeyBits: number;
    readonly CreateIndex: number;
    readonly ModifyIndex: number;
  }>;
}

/** Waits until the leader has initialised the CA; the roots and their X-Consul-Index. */
export async function caReady(a: DevAgent): Promise<{ roots: RootsAnswer; index: number }> {
  return waitFor('the CA to be initialised', async () => {
    const r = await a.req('GET', '/v1/connect/ca/roots');
    if (r.status !== 200) return undefined;
    const roots = r.json<RootsAnswer>();
    if (roots.Roots.length === 0 || roots.ActiveRootID === '') return undefined;
    return { roots, index: Number(r.headers.get('x-consul-index')) };
  });
}

/** The agent's leaf as /v1/agent/connect/ca/leaf/:service returns it. */
export interface LeafAnswer {
  readonly SerialNumber: string;
  readonly CertPEM: string;
  readonly PrivateKeyPEM: string;
  readonly Service: string;
  readonly ServiceURI: string;
  readonly ValidAfter: string;
  readonly ValidBefore: string;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
}

/** Every PEM block of `text`, each with its own BEGIN/END lines. */
export function pemBlocks(text: string): string[] {
  return text.match(/-----BEGIN [A-Z ]+-----[\s\S]+?-----END [A-Z ]+-----\n?/g) ?? [];
}

/** A promise with a flag that says whether it has settled (to show a blocking query waits). */
export function tracked<T>(p: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let done = false;
  const promise = p.finally(() => {
    done = true;
  });
  return { promise, settled: () => done };
}
