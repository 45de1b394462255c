/**
 * Connect on an agent (server or client): what `/v1/agent/connect/*` answers and what the
 * proxy configuration stream (port 8502) is built from. Everything comes from the servers
 * through shared blocking watches (watches.ts) — on a server agent its own HTTP API, on a
 * client agent forwarded to a server — so servers and clients run the same code.
 */
import { CaError, parseSpiffeId } from '@trellis/ca';
import { authorize, intentionRules, type ServiceIntentionsEntry } from '@trellis/connect';
import { HttpError } from '../http/errors.js';
import type { AgentLogger } from '../log.js';
import { LeafCerts, ROOTS_PATH, type LeafJson, type RootsJson } from './leaf.js';
import type { IssuedLeaf } from './server-ca.js';
import { WatchHub, type ServerGet, type WatchValue } from './watches.js';

export const INTENTIONS_PATH = '/v1/config/service-intentions';

export interface AgentConnectOptions {
  readonly datacenter: string;
  readonly nodeName: string;
  /** acl.default_policy: what authorization decides when no intention matches. */
  readonly defaultAllow: boolean;
  readonly get: ServerGet;
  readonly sign: (csrPem: string, signal: AbortSignal) => Promise<IssuedLeaf>;
  readonly logger: AgentLogger;
  readonly random?: () => number;
}

export class AgentConnect {
  readonly watches: WatchHub;
  readonly leaves: LeafCerts;
  readonly #o: AgentConnectOptions;
  /** Paths kept watched once used (Consul's agent cache keeps such entries for days). */
  readonly #sticky = new Map<string, () => void>();

  constructor(o: AgentConnectOptions) {
    this.#o = o;
    this.watches = new WatchHub(o.get, o.random);
    this.leaves = new LeafCerts({
      datacenter: o.datacenter,
      watches: this.watches,
      sign: o.sign,
      logger: o.logger,
      ...(o.random === undefined ? {} : { random: o.random }),
    });
  }

  get datacenter(): string {
    return this.#o.datacenter;
  }

  get defaultAllow(): boolean {
    return this.#o.defaultAllow;
  }

  /**
   * The answer of a watched path once its index passes `minIndex` (0: the current one), or
   * the current answer when `signal` ends the wait.
   */
  async watched(path: string, minIndex: number, signal: AbortSignal): Promise<WatchValue> {
    let latest: WatchValue | undefined;
    let wake: (() => void) | null = null;
    const unsubscribe = this.watches.subscribe(path, (v) => {
      latest = v;
      wake?.();
    });
    try {
      while (latest === undefined || (minIndex > 0 && latest.index <= minIndex)) {
        if (signal.aborted) {
          if (latest !== undefined) return latest;
          return await this.watches.fetch(path, AbortSignal.timeout(10_000));
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
          signal.addEventListener('abort', () => resolve(), { once: true });
        });
        wake = null;
      }
      return latest;
    } finally {
      unsubscribe();
    }
  }

  /** `/v1/agent/connect/ca/roots`: the servers' roots, through the agent's watch. */
  async roots(minIndex: number, signal: AbortSignal): Promise<{ index: number; value: RootsJson }> {
    const v = await this.watched(ROOTS_PATH, minIndex, signal);
    return { index: v.index, value: v.value as RootsJson };
  }

  /** `/v1/agent/connect/ca/leaf/:service`. */
  leaf(service: string, minIndex: number, signal: AbortSignal): Promise<LeafJson> {
    return this.leaves.get(service, minIndex, signal);
  }

  /** Keeps `path` watched from now on, so later reads are answered from memory. */
  #keep(path: string): void {
    if (!this.#sticky.has(path))
      this.#sticky.set(
        path,
        this.watches.subscribe(path, () => {}),
      );
  }

  /**
   * `/v1/agent/connect/authorize` (Consul's ConnectAuthorize): may the service named by the
   * client certificate's SPIFFE ID connect to `target`? Decided by the intentions (L4: an L7
   * intention that would need a request denies) and the default policy.
   */
  async authorize(
    target: string,
    clientCertUri: string,
    signal: AbortSignal,
  ): Promise<{ Authorized: boolean; Reason: string }> {
    let id;
    try {
      id = parseSpiffeId(clientCertUri);
    } catch (e) {
      if (e instanceof CaError)
        throw new HttpError(400, 'ClientCertURI not a valid Connect identifier');
      throw e;
    }
    if (id.kind !== 'service') {
      throw new HttpError(400, 'ClientCertURI must be a valid Service identifier');
    }
    this.#keep(INTENTIONS_PATH);
    this.#keep(ROOTS_PATH);
    const [roots, intentions] = await Promise.all([
      this.roots(0, signal),
      this.watched(INTENTIONS_PATH, 0, signal),
    ]);
    if (
      roots.value.TrustDomain !== '' &&
      id.trustDomain.toLowerCase() !== roots.value.TrustDomain.toLowerCase()
    ) {
      return {
        Authorized: false,
        Reason: `Identity from an external trust domain: ${id.trustDomain}`,
      };
    }
    const entries = Array.isArray(intentions.value)
      ? (intentions.value as ServiceIntentionsEntry[])
      : [];
    const d = authorize({
      destination: target,
      intentions: intentionRules(entries),
      source: id.service,
      defaultAllow: this.#o.defaultAllow,
    });
    return { Authorized: d.allowed, Reason: d.reason };
  }

  stats(): Record<string, string> {
    const l = this.leaves.stats();
    return {
      watches: String(this.watches.size),
      watch_queries: String(this.watches.queries),
      leaf_certs: String(l.leaves),
      leaf_signed: String(l.signed),
      leaf_sign_failures: String(l.failed),
    };
  }

  close(): void {
    for (const stop of this.#sticky.values()) stop();
    this.#sticky.clear();
    this.leaves.close();
    this.watches.close();
  }
}
