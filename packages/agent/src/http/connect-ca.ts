/**
 * Consul's connect_ca_endpoint.go: `GET /v1/connect/ca/roots` (blocking; `?pem=true` for a
 * PEM bundle) and `GET/PUT /v1/connect/ca/configuration`. Private keys never leave: roots are
 * listed without their signing key, the configuration without the user's PrivateKey.
 */
import type { CARoot, StateStore } from '@trellis/state';
import { publicConfig } from '../connect/ca-config.js';
import { empty, json, setMeta, type Answer, type Ctx } from './context.js';
import type { Endpoint } from './endpoints.js';
import { HttpError, badRequest } from './errors.js';
import { blockingRead, checkDatacenter, parseQueryOptions, readBody } from './request.js';
import { field, parseJsonObject, qget } from './wire.js';

/** Largest CA configuration body (a user root and key in PEM are a few KiB). */
export const CA_CONFIG_MAX_BODY_BYTES = 256 * 1024;

/** Consul's structs.CARoot as the API lists it. */
export function rootJson(r: CARoot): Record<string, unknown> {
  return {
    ID: r.ID,
    Name: r.Name,
    SerialNumber: r.SerialNumber,
    SigningKeyID: r.SigningKeyID,
    ExternalTrustDomain: r.ExternalTrustDomain,
    NotBefore: r.NotBefore,
    NotAfter: r.NotAfter,
    RootCert: r.RootCert,
    IntermediateCerts: r.IntermediateCerts.length === 0 ? null : r.IntermediateCerts,
    Active: r.Active,
    PrivateKeyType: r.PrivateKeyType,
    PrivateKeyBits: r.PrivateKeyBits,
    ...(r.RotatedOutAt === '' ? {} : { RotatedOutAt: r.RotatedOutAt }),
    CreateIndex: r.CreateIndex,
    ModifyIndex: r.ModifyIndex,
  };
}

/** Consul's structs.IndexedCARoots: the roots, the active root's ID and the trust domain. */
export function rootsJson(store: StateStore, roots: readonly CARoot[]): Record<string, unknown> {
  const config = store.caConfig().value;
  return {
    ActiveRootID: roots.find((r) => r.Active)?.ID ?? '',
    TrustDomain: config === undefined ? '' : `${config.ClusterID}.consul`,
    Roots: roots.map(rootJson),
  };
}

/** Every root and intermediate a peer should trust, as one PEM bundle (`?pem=true`). */
export function rootsPem(roots: readonly CARoot[]): string {
  const pems: string[] = [];
  for (const r of roots) pems.push(r.RootCert.trim(), ...r.IntermediateCerts.map((c) => c.trim()));
  return pems.join('\n') + (pems.length > 0 ? '\n' : '');
}

async function caRoots(ctx: Ctx): Promise<Answer> {
  const opts = parseQueryOptions(ctx.query, ctx.limits);
  checkDatacenter(ctx.query, ctx.backend);
  const pem = qget(ctx.query, 'pem');
  if (pem !== '' && pem !== 'true' && pem !== 'false') {
    throw badRequest(`Failed to parse pem query parameter: invalid syntax: ${JSON.stringify(pem)}`);
  }
  const { result, meta } = await blockingRead(ctx.backend, opts, ctx.signal, (store, ws) =>
    store.caRoots(ws),
  );
  setMeta(ctx, result.index, meta, opts.mode);
  if (pem === 'true') {
    return {
      kind: 'bytes',
      body: Buffer.from(rootsPem(result.value)),
      contentType: 'application/pem-certificate-chain',
    };
  }
  return json(rootsJson(ctx.backend.store, result.value));
}

async function caConfiguration(ctx: Ctx): Promise<Answer> {
  if (ctx.method === 'GET') {
    const opts = parseQueryOptions(ctx.query, ctx.limits);
    checkDatacenter(ctx.query, ctx.backend);
    const { result, meta } = await blockingRead(ctx.backend, opts, ctx.signal, (store, ws) =>
      store.caConfig(ws),
    );
    setMeta(ctx, result.index, meta, opts.mode);
    const c = result.value;
    if (c === undefined) throw new HttpError(500, 'CA has not finished initializing');
    return json({
      Provider: c.Provider,
      Config: publicConfig(c.Config),
      State: null,
      ForceWithoutCrossSigning: c.ForceWithoutCrossSigning,
      CreateIndex: c.CreateIndex,
      ModifyIndex: c.ModifyIndex,
    });
  }
  const body = parseJsonObject(await readBody(ctx.request.raw, CA_CONFIG_MAX_BODY_BYTES));
  checkDatacenter(ctx.query, ctx.backend);
  const provider = field(body, 'Provider');
  const config = field(body, 'Config');
  const force = field(body, 'ForceWithoutCrossSigning');
  if (provider !== undefined && provider !== null && typeof provider !== 'string') {
    throw badRequest('Request decode failed: Provider must be a string');
  }
  if (
    config !== undefined &&
    config !== null &&
    (typeof config !== 'object' || Array.isArray(config))
  ) {
    throw badRequest('Request decode failed: Config must be an object');
  }
  if (force !== undefined && force !== null && typeof force !== 'boolean') {
    throw badRequest('Request decode failed: ForceWithoutCrossSigning must be a boolean');
  }
  const ca = ctx.backend.ca;
  if (ca === undefined) throw new HttpError(500, 'Connect CA is not available on this agent');
  await ca.setConfig({
    ...(typeof provider === 'string' ? { Provider: provider } : {}),
    ...(config ? { Config: config as Record<string, unknown> } : {}),
    ForceWithoutCrossSigning: force === true,
  });
  // Consul's handler returns (nil, nil): an empty 200.
  return empty();
}

export const CONNECT_CA_ENDPOINTS: readonly Endpoint[] = [
  { path: '/v1/connect/ca/roots', methods: ['GET'], handler: caRoots },
  {
    path: '/v1/connect/ca/configuration',
    methods: ['GET', 'PUT'],
    readsBody: true,
    handler: caConfiguration,
  },
];
