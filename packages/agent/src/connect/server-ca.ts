/**
 * The built-in Connect CA on a server (Consul's "consul" provider and CA manager). The root
 * certificate and its private key live in the replicated state (`caRoots`), so every server
 * can sign from its own replica; writes that change the roots are check-and-set on the CA
 * configuration's ModifyIndex, so two servers (or two leaders in a row) never race.
 *
 * - The leader initialises the CA on its first pass: a cluster ID (UUID, the trust domain's
 *   first label), an EC P-256 root (or the user's root from the configuration), one command.
 * - `PUT /v1/connect/ca/configuration` changes settings; a change of key type or size, or a new
 *   user root, rotates: the new root is cross-signed by the old one (the cross-signed copy is
 *   the new root's intermediate and travels in every new leaf's chain), the old root stays
 *   trusted (inactive) until every leaf it signed has expired: the leader prunes it once it
 *   has been rotated out for twice the leaf TTL.
 * - `sign()` signs a leaf from a CSR with the active root, within Consul's
 *   csr_max_per_second / csr_max_concurrent limits.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CSR_LIMIT_WAIT_MS,
  CaError,
  SigningLimiter,
  createSigner,
  crossSignRoot,
  generateRoot,
  loadRoot,
  trustDomainFor,
  type RootInfo,
  type Signer,
} from '@trellis/ca';
import {
  MessageType,
  type CAConfig,
  type CARoot,
  type CARootInput,
  type Command,
  type PlainMap,
  type StateStore,
} from '@trellis/state';
import { BackendError, type ApplyOutcome } from '../http/backend.js';
import type { AgentLogger } from '../log.js';
import {
  CaConfigError,
  DEFAULT_CA_CONFIG,
  needsNewRoot,
  normalizeCaConfig,
  settingsOf,
  type CaSettings,
} from './ca-config.js';

/** Consul's text when csr_max_per_second or csr_max_concurrent refuses a signing. */
export const RATE_LIMITED_TEXT = 'Rate limit reached, try again later';

export interface ServerCaHost {
  readonly store: StateStore;
  readonly datacenter: string;
  readonly log: AgentLogger;
  apply(cmd: Command): Promise<ApplyOutcome>;
  /** Settings from the agent configuration for a new CA (`connect.ca_config`). */
  readonly initialConfig?: Readonly<Record<string, unknown>>;
}

/** A signed leaf as the agent endpoint returns it (Consul's structs.IssuedCert, less the key). */
export interface IssuedLeaf {
  readonly SerialNumber: string;
  readonly CertPEM: string;
  readonly Service: string;
  readonly ServiceURI: string;
  readonly ValidAfter: string;
  readonly ValidBefore: string;
  /** The active root's ID when it was signed: a new active root means re-issue. */
  readonly RootID: string;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
}

/** The body of `PUT /v1/connect/ca/configuration` (fields matched case-insensitively). */
export interface CaConfigRequest {
  readonly Provider?: string;
  readonly Config?: Readonly<Record<string, unknown>>;
  readonly ForceWithoutCrossSigning?: boolean;
}

function rootRow(
  info: RootInfo,
  certPem: string,
  keyPem: string,
  clusterId: string,
  intermediates: readonly string[],
): CARootInput {
  return {
    ID: info.id,
    Name: info.name,
    SerialNumber: info.serialNumber,
    SigningKeyID: info.signingKeyId,
    ExternalTrustDomain: clusterId,
    NotBefore: info.notBefore,
    NotAfter: info.notAfter,
    RootCert: certPem,
    IntermediateCerts: intermediates,
    SigningKey: keyPem,
    Active: true,
    RotatedOutAt: '',
    PrivateKeyType: info.privateKeyType,
    PrivateKeyBits: info.privateKeyBits,
  };
}

function withoutIndexes(r: CARoot): CARootInput {
  const { CreateIndex: _c, ModifyIndex: _m, ...rest } = r;
  return rest;
}

function badConfig(e: unknown): never {
  if (e instanceof CaConfigError || e instanceof CaError) {
    throw new BackendError('BAD_REQUEST', e.message);
  }
  throw e;
}

export class ServerCa {
  readonly #h: ServerCaHost;
  #signer: { rootId: string; signer: Promise<Signer> } | null = null;
  #limiter: { key: string; limiter: SigningLimiter } | null = null;
  /** Signings waiting for a token, served in arrival order (see #acquire). */
  #waiting: Promise<unknown> = Promise.resolve();
  /** Leaves this server signed (for /v1/agent/self and the benchmark). */
  signed = 0;
  rateLimited = 0;

  constructor(host: ServerCaHost) {
    this.#h = host;
  }

  /** The CA configuration and the active root, or undefined before initialisation. */
  #current(): { config: CAConfig; active: CARoot; roots: CARoot[] } | undefined {
    const config = this.#h.store.caConfig().value;
    const roots = this.#h.store.caRoots().value;
    const active = roots.find((r) => r.Active);
    return config === undefined || active === undefined ? undefined : { config, active, roots };
  }

  /** The trust domain (`<cluster id>.consul`), '' before initialisation. */
  trustDomain(): string {
    const config = this.#h.store.caConfig().value;
    return config === undefined ? '' : trustDomainFor(config.ClusterID);
  }

  // -------------------------------------------------------------- leader

  /** One leader-loop pass: initialise the CA once, prune roots no leaf can chain to. */
  async leaderPass(now = new Date()): Promise<void> {
    const cur = this.#current();
    if (cur === undefined) {
      if (this.#h.store.caConfig().value !== undefined) return; // configured, roots pending
      await this.#initialize(now);
      return;
    }
    const leafTtl = settingsOf(cur.config.Config).leafCertTtlMs;
    const keep = cur.roots.filter(
      (r) =>
        r.Active ||
        r.RotatedOutAt === '' ||
        Date.parse(r.RotatedOutAt) + 2 * leafTtl > now.getTime(),
    );
    if (keep.length === cur.roots.length) return;
    this.#h.log.info(
      { pruned: cur.roots.length - keep.length },
      'connect: pruning CA roots rotated out more than twice the leaf TTL ago',
    );
    await this.#h.apply({
      type: MessageType.ConnectCA,
      now: now.getTime(),
      body: {
        Op: 'set-roots',
        Index: this.#h.store.caRoots().index,
        Roots: keep.map(withoutIndexes),
      },
    });
  }

  async #initialize(now: Date): Promise<void> {
    let config: PlainMap;
    try {
      config = normalizeCaConfig(this.#h.initialConfig ?? {});
    } catch (e) {
      this.#h.log.error({ err: e }, 'connect: invalid connect.ca_config; using the defaults');
      config = normalizeCaConfig({});
    }
    const clusterId = randomUUID();
    const root = await this.#newRoot(settingsOf(config), clusterId, now);
    const out = await this.#h.apply({
      type: MessageType.ConnectCA,
      now: now.getTime(),
      body: {
        Op: 'set-roots-and-config',
        Index: 0,
        Roots: [rootRow(root.info, root.certPem, root.keyPem, clusterId, [])],
        Config: {
          ClusterID: clusterId,
          Provider: 'consul',
          Config: config,
          ForceWithoutCrossSigning: false,
        },
      },
    });
    if (out.value === true) {
      this.#h.log.info({ clusterId, root: root.info.id }, 'connect: initialised the built-in CA');
    }
  }

  async #newRoot(
    s: CaSettings,
    clusterId: string,
    now: Date,
  ): Promise<{ certPem: string; keyPem: string; info: RootInfo }> {
    if (s.rootCert !== '') {
      const info = loadRoot(s.rootCert, s.privateKey, { now });
      return { certPem: s.rootCert, keyPem: s.privateKey, info };
    }
    return generateRoot({
      trustDomain: trustDomainFor(clusterId),
      clusterId,
      now,
      ttlMs: s.rootCertTtlMs,
      keyType: s.privateKeyType,
      keyBits: s.privateKeyBits,
    });
  }

  // -------------------------------------------------------------- configuration

  /** `PUT /v1/connect/ca/configuration`: new settings, rotating the root when they need it. */
  async setConfig(req: CaConfigRequest, now = new Date()): Promise<void> {
    const provider = req.Provider ?? 'consul';
    if (provider !== 'consul') {
      throw new BackendError('BAD_REQUEST', `unknown CA provider ${JSON.stringify(provider)}`);
    }
    const cur = this.#current();
    if (cur === undefined) throw new BackendError('INTERNAL', 'Connect CA is not yet initialized');
    let config: PlainMap;
    let next: CaSettings;
    try {
      config = normalizeCaConfig(req.Config ?? {}, DEFAULT_CA_CONFIG);
      next = settingsOf(config);
    } catch (e) {
      badConfig(e);
    }
    const prev = settingsOf(cur.config.Config);
    const Config = {
      ClusterID: cur.config.ClusterID,
      Provider: 'consul',
      Config: config,
      ForceWithoutCrossSigning: req.ForceWithoutCrossSigning === true,
    };
    if (!needsNewRoot(prev, next)) {
      const out = await this.#h.apply({
        type: MessageType.ConnectCA,
        now: now.getTime(),
        body: { Op: 'set-config', Index: cur.config.ModifyIndex, Config },
      });
      if (out.value !== true)
        throw new BackendError('INTERNAL', 'CA configuration changed concurrently; retry');
      return;
    }
    let root: { certPem: string; keyPem: string; info: RootInfo };
    try {
      root = await this.#newRoot(next, cur.config.ClusterID, now);
    } catch (e) {
      badConfig(e);
    }
    if (root.info.id === cur.active.ID) {
      throw new BackendError('BAD_REQUEST', 'the new root is the active root already');
    }
    const intermediates: string[] = [];
    if (!Config.ForceWithoutCrossSigning) {
      intermediates.push(
        await crossSignRoot({
          newRootCertPem: root.certPem,
          oldRootCertPem: cur.active.RootCert,
          oldKeyPem: cur.active.SigningKey,
          now,
        }),
      );
    }
    const rotatedOut = now.toISOString();
    const roots: CARootInput[] = [
      rootRow(root.info, root.certPem, root.keyPem, cur.config.ClusterID, intermediates),
      ...cur.roots
        .filter((r) => r.ID !== root.info.id)
        .map((r) =>
          r.Active
            ? { ...withoutIndexes(r), Active: false, RotatedOutAt: rotatedOut }
            : withoutIndexes(r),
        ),
    ];
    const out = await this.#h.apply({
      type: MessageType.ConnectCA,
      now: now.getTime(),
      body: { Op: 'set-roots-and-config', Index: cur.config.ModifyIndex, Roots: roots, Config },
    });
    if (out.value !== true)
      throw new BackendError('INTERNAL', 'CA configuration changed concurrently; retry');
    this.#h.log.info(
      { from: cur.active.ID, to: root.info.id, crossSigned: intermediates.length > 0 },
      'connect: CA root rotated',
    );
  }

  // -------------------------------------------------------------- signing

  #limiterFor(s: CaSettings): SigningLimiter {
    const key = `${s.csrMaxPerSecond}/${s.csrMaxConcurrent}`;
    if (this.#limiter?.key !== key) {
      this.#limiter = {
        key,
        limiter: new SigningLimiter({
          maxPerSecond: s.csrMaxPerSecond,
          maxConcurrent: s.csrMaxConcurrent,
        }),
      };
    }
    return this.#limiter.limiter;
  }

  /**
   * A token (or a slot) for one signing. As Consul's limiter.Wait with csrLimitWait: a signing
   * waits up to CSR_LIMIT_WAIT_MS for the next token and is refused only when none comes in
   * that time, so a steady stream of CSRs within the rate is never refused for arriving a few
   * milliseconds early. Waiters are served in arrival order.
   */
  #acquire(limiter: SigningLimiter): Promise<boolean> {
    const deadline = performance.now() + CSR_LIMIT_WAIT_MS;
    const turn = this.#waiting.then(async () => {
      for (;;) {
        const now = performance.now();
        if (limiter.tryAcquire(now)) return true;
        const wait = limiter.msUntilAvailable(now);
        if (now + wait > deadline) return false;
        await sleep(Math.max(1, wait));
      }
    });
    this.#waiting = turn.catch(() => false);
    return turn;
  }

  #signerFor(root: CARoot): Promise<Signer> {
    if (this.#signer?.rootId !== root.ID) {
      const signer = createSigner({
        certPem: root.RootCert,
        keyPem: root.SigningKey,
        intermediatesPem: [...root.IntermediateCerts],
      });
      this.#signer = { rootId: root.ID, signer };
      signer.catch(() => {
        if (this.#signer?.signer === signer) this.#signer = null;
      });
    }
    return this.#signer.signer;
  }

  /** Signs a leaf for `csrPem` with the active root (from this server's replica). */
  async sign(csrPem: string, now = new Date()): Promise<IssuedLeaf> {
    const cur = this.#current();
    if (cur === undefined) throw new BackendError('INTERNAL', 'Connect CA is not yet initialized');
    const s = settingsOf(cur.config.Config);
    const limiter = this.#limiterFor(s);
    if (!(await this.#acquire(limiter))) {
      this.rateLimited++;
      throw new BackendError('RATE_LIMITED', RATE_LIMITED_TEXT);
    }
    try {
      const signer = await this.#signerFor(cur.active);
      const leaf = await signer.signLeaf(csrPem, {
        trustDomain: trustDomainFor(cur.config.ClusterID),
        datacenter: this.#h.datacenter,
        ttlMs: s.leafCertTtlMs,
        now,
      });
      this.signed++;
      const index = this.#h.store.lastIndex;
      return {
        SerialNumber: leaf.serialNumber,
        CertPEM: leaf.certPem,
        Service: leaf.service,
        ServiceURI: leaf.serviceUri,
        ValidAfter: leaf.validAfter,
        ValidBefore: leaf.validBefore,
        RootID: cur.active.ID,
        CreateIndex: index,
        ModifyIndex: index,
      };
    } catch (e) {
      if (e instanceof CaError) throw new BackendError('BAD_REQUEST', e.message);
      throw e;
    } finally {
      limiter.release();
    }
  }
}
