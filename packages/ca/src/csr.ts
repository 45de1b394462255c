/**
 * The requesting side: a fresh key and a PKCS#10 request for a SPIFFE ID, what a client
 * agent makes before asking a server to sign (Consul's connect.CreateCSR). Built with
 * @peculiar/x509 over WebCrypto, independently of the DER code that parses CSRs on the
 * server, so each side checks the other.
 */
import { KeyObject } from 'node:crypto';
import { parseIp } from './cert.js';
import { CaError } from './errors.js';
import { checkKeyParams, privateKeyToPem, type KeyType } from './keys.js';
import { parseSpiffeId } from './spiffe.js';
import { webcrypto, x509 } from './x509.js';

export interface LeafKeyAndCsrOptions {
  /** The SPIFFE ID to request (service or agent). */
  uri: string;
  /** DNS SANs; a `:port` suffix is dropped and duplicates removed, as Consul does. */
  dnsNames?: string[];
  /** IP address SANs. */
  ipAddresses?: string[];
  /** Default `ec`. */
  keyType?: KeyType;
  /** Default 256 (EC) or 2048 (RSA); EC 256|384, RSA 2048|4096. */
  keyBits?: number;
}

export interface LeafKeyAndCsr {
  /** `EC PRIVATE KEY` or `RSA PRIVATE KEY` PEM. */
  keyPem: string;
  csrPem: string;
}

/** Consul's CreateCSR: keep what precedes a ':' of each name, drop empty ones and repeats. */
export function normalizeDnsSans(names: readonly string[]): string[] {
  const out: string[] = [];
  for (const name of names) {
    const host = name.split(':')[0] ?? '';
    if (host !== '' && !out.includes(host)) out.push(host);
  }
  return out;
}

export async function createLeafKeyAndCsr(opts: LeafKeyAndCsrOptions): Promise<LeafKeyAndCsr> {
  const id = parseSpiffeId(opts.uri);
  const type = opts.keyType ?? 'ec';
  const info = checkKeyParams(type, opts.keyBits ?? (type === 'rsa' ? 2048 : 256));
  const dns = normalizeDnsSans(opts.dnsNames ?? []);
  for (const d of dns) {
    if (!/^[\x21-\x7e]+$/.test(d))
      throw new CaError('bad-config', `invalid DNS name ${JSON.stringify(d)}`);
  }
  const ips = (opts.ipAddresses ?? []).map((ip) => {
    if (!parseIp(ip)) throw new CaError('bad-config', `invalid IP address ${JSON.stringify(ip)}`);
    return ip;
  });

  const algorithm =
    info.type === 'rsa'
      ? {
          name: 'RSASSA-PKCS1-v1_5',
          modulusLength: info.bits,
          publicExponent: new Uint8Array([1, 0, 1]),
          hash: 'SHA-256',
        }
      : {
          name: 'ECDSA',
          namedCurve: info.bits === 384 ? 'P-384' : 'P-256',
          hash: info.bits === 384 ? 'SHA-384' : 'SHA-256',
        };
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.SubjectAlternativeNameExtension([
        ...dns.map((value) => ({ type: 'dns' as const, value })),
        ...ips.map((value) => ({ type: 'ip' as const, value })),
        { type: 'url' as const, value: id.uri },
      ]),
    ],
  });
  return {
    keyPem: privateKeyToPem(KeyObject.from(keys.privateKey)),
    csrPem: csr.toString('pem') + '\n',
  };
}
