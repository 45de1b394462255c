/**
 * The agent's leaf-certificate cache (Consul's agent/leafcert): one key and certificate per
 * service name this agent serves. The private key is made here and never leaves the agent;
 * the servers only see a CSR.
 *
 * - A leaf is fetched on first use and then kept fresh in the background: renewed at a random
 *   60–90% of its lifetime (so a fleet does not renew at once), and at once when the active
 *   root changes (a rotation), so new leaves chain to the new root.
 * - A failed signing (rate limit, no leader) is retried with jittered back-off; the old leaf
 *   keeps being served while it is valid.
 * - Blocking reads: `wait(service, index)` resolves when the leaf's ModifyIndex passes `index`.
 * - Bounded: at most MAX_LEAVES services; a leaf nobody asked for in LEAF_IDLE_MS is dropped.
 */
import { createLeafKeyAndCsr, spiffeIdForService } from '@trellis/ca';
import { isBackendError } from '../http/backend.js';
import type { AgentLogger } from '../log.js';
import type { IssuedLeaf } from './server-ca.js';
import type { WatchHub } from './watches.js';

export const MAX_LEAVES = 4096;
/** Consul's cache drops an unused leaf after 3 days. */
export const LEAF_IDLE_MS = 72 * 3_600_000;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;
/**
 * The back-off bound after a refusal by the servers' CSR rate limit. Such a refusal is not a
 * failure: the limit frees a token every 1/csr_max_per_second, so waiting up to 30 s would
 * leave the servers idle while leaves wait (twelve leaves at 1/s took 26–29 s, not 12).
 */
const RATE_LIMITED_RETRY_MAX_MS = 4_000;

/** Consul's structs.IssuedCert as `/v1/agent/connect/ca/leaf/:service` returns it. */
export interface LeafJson {
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

export interface RootsJson {
  readonly ActiveRootID: string;
  readonly TrustDomain: string;
  readonly Roots: ReadonlyArray<{
    readonly ID: string;
    readonly RootCert: string;
    readonly IntermediateCerts: readonly string[] | null;
    readonly Active: boolean;
  }>;
}

export const ROOTS_PATH = '/v1/connect/ca/roots';

export interface LeafOptions {
  readonly datacenter: string;
  readonly watches: WatchHub;
  readonly sign: (csrPem: string, signal: AbortSignal) => Promise<IssuedLeaf>;
  readonly logger: AgentLogger;
  readonly random?: () => number;
  readonly now?: () => number;
}

class Leaf {
  current: LeafJson | undefined;
  rootId = '';
  lastUsed = 0;
  timer: NodeJS.Timeout | null = null;
  signing = false;
  failures = 0;
  lastError = '';
  readonly waiters = new Set<() => void>();
  readonly listeners = new Set<(l: LeafJson) => void>();
  constructor(readonly service: string) {}
}

export class LeafError extends Error {
  override readonly name = 'LeafError';
}

export class LeafCerts {
  readonly #o: LeafOptions;
  readonly #leaves = new Map<string, Leaf>();
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #abort = new AbortController();
  #roots: RootsJson | undefined;
  readonly #rootWaiters = new Set<() => void>();
  #unsubscribeRoots: (() => void) | null = null;
  #index = 0;
  #sweep: NodeJS.Timeout;
  /** Signings done and failed (for /v1/agent/self, the benchmark and tests). */
  signed = 0;
  failed = 0;

  constructor(o: LeafOptions) {
    this.#o = o;
    this.#random = o.random ?? Math.random;
    this.#now = o.now ?? Date.now;
    this.#sweep = setInterval(() => this.#evictIdle(), 3_600_000);
    this.#sweep.unref();
  }

  /** The roots as the agent last saw them (watched from the first leaf request on). */
  roots(): RootsJson | undefined {
    return this.#roots;
  }

  #watchRoots(): void {
    if (this.#unsubscribeRoots !== null) return;
    this.#unsubscribeRoots = this.#o.watches.subscribe(ROOTS_PATH, (v) => {
      const roots = v.value as RootsJson;
      if (typeof roots?.ActiveRootID !== 'string' || !Array.isArray(roots.Roots)) return;
      this.#roots = roots;
      for (const fn of [...this.#rootWaiters]) fn();
      // A rotation: every leaf not signed by the new active root is re-issued now.
      for (const leaf of this.#leaves.values()) {
        if (
          leaf.current !== undefined &&
          leaf.rootId !== roots.ActiveRootID &&
          roots.ActiveRootID !== ''
        ) {
          this.#schedule(leaf, 0);
        }
      }
    });
  }

  async #rootsReady(signal: AbortSignal): Promise<RootsJson> {
    this.#watchRoots();
    while (
      this.#roots === undefined ||
      this.#roots.TrustDomain === '' ||
      this.#roots.ActiveRootID === ''
    ) {
      if (signal.aborted) throw new LeafError('cancelled');
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.#rootWaiters.delete(done);
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.#rootWaiters.add(done);
        signal.addEventListener('abort', done, { once: true });
      });
    }
    return this.#roots;
  }

  #leaf(service: string): Leaf {
    let leaf = this.#leaves.get(service);
    if (leaf === undefined) {
      if (this.#leaves.size >= MAX_LEAVES) this.#evictIdle(true);
      if (this.#leaves.size >= MAX_LEAVES) {
        throw new LeafError(`too many leaf certificates on this agent (limit ${MAX_LEAVES})`);
      }
      leaf = new Leaf(service);
      this.#leaves.set(service, leaf);
    }
    leaf.lastUsed = this.#now();
    return leaf;
  }

  /**
   * The leaf for `service`: at once when there is one with ModifyIndex above `minIndex`
   * (0: any), else after the next issue or when `signal` ends the wait (then the current one,
   * if any). Rejects only when there is no leaf at all and none could be had.
   */
  async get(service: string, minIndex: number, signal: AbortSignal): Promise<LeafJson> {
    const leaf = this.#leaf(service);
    if (leaf.current === undefined && !leaf.signing && leaf.timer === null) this.#schedule(leaf, 0);
    while (leaf.current === undefined || leaf.current.ModifyIndex <= minIndex) {
      if (signal.aborted) {
        if (leaf.current !== undefined) return leaf.current;
        throw new LeafError(leaf.lastError || 'no leaf certificate yet');
      }
      await new Promise<void>((resolve) => {
        const done = (): void => {
          leaf.waiters.delete(done);
          signal.removeEventListener('abort', done);
          resolve();
        };
        leaf.waiters.add(done);
        signal.addEventListener('abort', done, { once: true });
      });
    }
    return leaf.current;
  }

  /** Calls `fn` with the current leaf and every renewal until the returned function is called. */
  subscribe(service: string, fn: (l: LeafJson) => void): () => void {
    const leaf = this.#leaf(service);
    leaf.listeners.add(fn);
    if (leaf.current !== undefined) fn(leaf.current);
    else if (!leaf.signing && leaf.timer === null) this.#schedule(leaf, 0);
    return () => {
      leaf.listeners.delete(fn);
      leaf.lastUsed = this.#now();
    };
  }

  #schedule(leaf: Leaf, delayMs: number): void {
    if (leaf.timer !== null) clearTimeout(leaf.timer);
    leaf.timer = setTimeout(
      () => {
        leaf.timer = null;
        void this.#issue(leaf);
      },
      Math.max(0, delayMs),
    );
    if (delayMs > 10_000) leaf.timer.unref();
  }

  async #issue(leaf: Leaf): Promise<void> {
    if (leaf.signing || this.#abort.signal.aborted) return;
    leaf.signing = true;
    try {
      const roots = await this.#rootsReady(this.#abort.signal);
      const uri = spiffeIdForService({
        trustDomain: roots.TrustDomain,
        datacenter: this.#o.datacenter,
        service: leaf.service,
      });
      const { keyPem, csrPem } = await createLeafKeyAndCsr({ uri });
      const issued = await this.#o.sign(csrPem, this.#abort.signal);
      this.signed++;
      leaf.failures = 0;
      leaf.lastError = '';
      leaf.rootId = issued.RootID;
      this.#index = Math.max(
        this.#index + 1,
        issued.ModifyIndex,
        (leaf.current?.ModifyIndex ?? 0) + 1,
      );
      leaf.current = {
        SerialNumber: issued.SerialNumber,
        CertPEM: issued.CertPEM,
        PrivateKeyPEM: keyPem,
        Service: issued.Service,
        ServiceURI: issued.ServiceURI,
        ValidAfter: issued.ValidAfter,
        ValidBefore: issued.ValidBefore,
        CreateIndex: this.#index,
        ModifyIndex: this.#index,
      };
      this.#o.logger.debug(
        { service: leaf.service, serial: issued.SerialNumber, validBefore: issued.ValidBefore },
        'connect: leaf certificate issued',
      );
      const current = leaf.current;
      for (const fn of [...leaf.waiters]) fn();
      for (const fn of [...leaf.listeners]) fn(current);
      this.#schedule(leaf, this.#renewDelay(current));
      // The roots moved while we were signing: issue again from the new root.
      const active = this.#roots?.ActiveRootID ?? '';
      if (active !== '' && active !== leaf.rootId) this.#schedule(leaf, 0);
    } catch (e) {
      if (this.#abort.signal.aborted) return;
      this.failed++;
      leaf.failures++;
      leaf.lastError = e instanceof Error ? e.message : String(e);
      const max = isBackendError(e, 'RATE_LIMITED') ? RATE_LIMITED_RETRY_MAX_MS : RETRY_MAX_MS;
      const backoff = Math.min(max, RETRY_MIN_MS * 2 ** Math.min(leaf.failures - 1, 10));
      this.#o.logger.warn(
        { service: leaf.service, err: leaf.lastError, retryInMs: Math.round(backoff) },
        'connect: leaf certificate signing failed; will retry',
      );
      this.#schedule(leaf, backoff / 2 + (this.#random() * backoff) / 2);
    } finally {
      leaf.signing = false;
    }
  }

  /** Consul's renewal point: a random moment between 60% and 90% of the leaf's lifetime. */
  #renewDelay(l: LeafJson): number {
    const after = Date.parse(l.ValidAfter);
    const before = Date.parse(l.ValidBefore);
    const life = before - after;
    const at = after + life * (0.6 + 0.3 * this.#random());
    return Math.max(1_000, at - this.#now());
  }

  #evictIdle(force = false): void {
    const cutoff = this.#now() - (force ? 0 : LEAF_IDLE_MS);
    for (const [name, leaf] of this.#leaves) {
      if (leaf.listeners.size === 0 && leaf.waiters.size === 0 && leaf.lastUsed <= cutoff) {
        if (leaf.timer !== null) clearTimeout(leaf.timer);
        this.#leaves.delete(name);
        if (force) return;
      }
    }
  }

  stats(): { leaves: number; signed: number; failed: number } {
    return { leaves: this.#leaves.size, signed: this.signed, failed: this.failed };
  }

  close(): void {
    this.#abort.abort();
    clearInterval(this.#sweep);
    for (const leaf of this.#leaves.values()) if (leaf.timer !== null) clearTimeout(leaf.timer);
    this.#leaves.clear();
    this.#unsubscribeRoots?.();
    for (const fn of [...this.#rootWaiters]) fn();
  }
}
