/**
 * A readable summary of a certificate, for tests and the HTTP API. Parsed with
 * @peculiar/x509, independently of the DER code that builds certificates.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { KeyUsageBit, type KeyUsageName } from './cert.js';
import { CaError, describe } from './errors.js';
import { colonHex, parsePemBlocks } from './pem.js';
import { x509 } from './x509.js';

export interface CertificateInfo {
  /** Colon hex, without leading zero bytes. */
  serialNumber: string;
  /** RFC 4514 form, e.g. `CN=pri-1a2b3c4d.consul.ca.11111111.consul`; empty for none. */
  subject: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  uris: string[];
  dnsNames: string[];
  ipAddresses: string[];
  isCa: boolean;
  /** Colon hex, or null when the extension is absent. */
  subjectKeyId: string | null;
  authorityKeyId: string | null;
  keyUsage: KeyUsageName[];
  /** `serverAuth`, `clientAuth`, or the OID of any other purpose. */
  extKeyUsage: string[];
  keyType: string;
  keyBits: number;
  /** SHA-1 of the DER certificate, colon hex (Consul's CARoot.ID for a root). */
  fingerprint: string;
}

const EKU_NAMES: Record<string, string> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
};

function hexToColon(hex: string): string {
  return colonHex(Buffer.from(hex, 'hex'));
}

/** Summarizes the first certificate in `pem`. Throws CaError('bad-pem') or ('bad-cert'). */
export function certificateInfo(pem: string): CertificateInfo {
  const block = parsePemBlocks(pem)[0];
  if (!block || block.label !== 'CERTIFICATE') {
    throw new CaError(
      'bad-cert',
      `expected a CERTIFICATE PEM block, found ${block?.label ?? 'none'}`,
    );
  }
  try {
    const cert = new x509.X509Certificate(block.der);
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    const names = san?.names.items ?? [];
    const bc = cert.getExtension(x509.BasicConstraintsExtension);
    const ku = cert.getExtension(x509.KeyUsagesExtension);
    const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
    const skid = cert.getExtension(x509.SubjectKeyIdentifierExtension);
    const akid = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
    const key = createPublicKey({
      key: Buffer.from(cert.publicKey.rawData),
      format: 'der',
      type: 'spki',
    });
    const details = key.asymmetricKeyDetails ?? {};
    const curveBits: Record<string, number> = { prime256v1: 256, secp384r1: 384, secp521r1: 521 };
    const serial = Buffer.from(cert.serialNumber, 'hex');
    let i = 0;
    while (i < serial.length - 1 && serial[i] === 0) i++;
    return {
      serialNumber: colonHex(serial.subarray(i)),
      subject: cert.subject,
      issuer: cert.issuer,
      notBefore: cert.notBefore.toISOString(),
      notAfter: cert.notAfter.toISOString(),
      uris: names.filter((n) => n.type === 'url').map((n) => n.value),
      dnsNames: names.filter((n) => n.type === 'dns').map((n) => n.value),
      ipAddresses: names.filter((n) => n.type === 'ip').map((n) => n.value),
      isCa: bc?.ca ?? false,
      subjectKeyId: skid ? hexToColon(skid.keyId) : null,
      authorityKeyId: akid?.keyId ? hexToColon(akid.keyId) : null,
      keyUsage: ku
        ? (Object.keys(KeyUsageBit) as KeyUsageName[]).filter(
            (name) => ku.usages & (1 << KeyUsageBit[name]),
          )
        : [],
      extKeyUsage: Array.from(eku?.usages ?? [], (u) => EKU_NAMES[String(u)] ?? String(u)),
      keyType: key.asymmetricKeyType ?? 'unknown',
      keyBits: details.modulusLength ?? curveBits[details.namedCurve ?? ''] ?? 0,
      fingerprint: colonHex(createHash('sha1').update(block.der).digest()),
    };
  } catch (e) {
    if (e instanceof CaError) throw e;
    throw new CaError('bad-cert', `certificate could not be parsed: ${describe(e)}`, { cause: e });
  }
}
