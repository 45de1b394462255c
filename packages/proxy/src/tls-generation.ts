/**
 * One generation of TLS material: the leaf (certificate chain and key) and the trusted roots
 * of one snapshot. A generation is built once when the material changes, never per
 * connection: the public listener gets its options through `server.setSecureContext`, and
 * every upstream connection shares one client SecureContext.
 */
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import type { SnapshotTls } from '@trellis/connect';

export const MIN_TLS_VERSION = 'TLSv1.2';

export class TlsGeneration {
  /** Options for `tls.Server#setSecureContext` (the server side). */
  readonly serverOptions: SecureContextOptions;
  /** Shared by every upstream connection and https.Agent of this generation. */
  readonly clientContext: SecureContext;

  /** Throws (bad PEM, key not matching the certificate) — the snapshot is then refused. */
  constructor(
    readonly id: number,
    readonly material: SnapshotTls,
  ) {
    if (material.rootPems.length === 0) throw new Error('tls: no CA roots to trust');
    const options: SecureContextOptions = {
      cert: material.certPem,
      key: material.keyPem,
      ca: [...material.rootPems],
      minVersion: MIN_TLS_VERSION,
    };
    this.clientContext = createSecureContext(options);
    this.serverOptions = options;
  }

  /** Whether `other` is the same material (then no new generation is needed). */
  sameAs(other: SnapshotTls): boolean {
    const m = this.material;
    return (
      m.certPem === other.certPem &&
      m.keyPem === other.keyPem &&
      m.rootPems.length === other.rootPems.length &&
      m.rootPems.every((p, i) => p === other.rootPems[i])
    );
  }
}
