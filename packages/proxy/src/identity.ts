/**
 * Peer identity from certificates: the SPIFFE ID is the certificate's URI SAN
 * (`spiffe://<trust domain>/ns/<ns>/dc/<dc>/svc/<service>`). Parsed here from Node's
 * `subjectaltname` text, once per connection, without a dependency on @trellis/ca.
 */
import { createHash } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';

export interface ServiceIdentity {
  /** The whole URI. */
  readonly uri: string;
  readonly trustDomain: string;
  readonly namespace: string;
  readonly datacenter: string;
  readonly service: string;
}

const URI_SAN = /(?:^|, )URI:("(?:[^"\\]|\\.)*"|[^,]*)/g;
const SERVICE_ID = /^spiffe:\/\/([^/]+)\/(?:ap\/[^/]+\/)?ns\/([^/]+)\/dc\/([^/]+)\/svc\/([^/?#]+)$/;

/** Every URI SAN in Node's `subjectaltname` text (`DNS:a, URI:spiffe://…, IP Address:…`). */
export function uriSans(subjectAltName: string | undefined): string[] {
  if (subjectAltName === undefined || subjectAltName === '') return [];
  const out: string[] = [];
  for (const m of subjectAltName.matchAll(URI_SAN)) {
    const raw = m[1] ?? '';
    // Node quotes a value holding a delimiter as a JSON string.
    if (raw.startsWith('"')) {
      try {
        out.push(JSON.parse(raw) as string);
      } catch {
        // not a JSON string: ignore the entry
      }
    } else {
      out.push(raw);
    }
  }
  return out;
}

/** A SPIFFE service ID, or undefined for anything else (an agent ID, a plain URL). */
export function parseServiceSpiffeId(uri: string): ServiceIdentity | undefined {
  const m = SERVICE_ID.exec(uri);
  if (m === null) return undefined;
  let service: string;
  try {
    service = decodeURIComponent(m[4] ?? '');
  } catch {
    return undefined;
  }
  return {
    uri,
    trustDomain: (m[1] ?? '').toLowerCase(),
    namespace: m[2] ?? '',
    datacenter: m[3] ?? '',
    service,
  };
}

/** The first SPIFFE service ID among a certificate's URI SANs. */
export function serviceIdentityOf(cert: Pick<PeerCertificate, 'subjectaltname'> | undefined) {
  for (const uri of uriSans(cert?.subjectaltname)) {
    const id = parseServiceSpiffeId(uri);
    if (id !== undefined) return id;
  }
  return undefined;
}

/** The error `checkServerIdentity` returns: Node destroys the socket with it. */
export class UpstreamIdentityError extends Error {
  readonly code = 'ERR_PROXY_UPSTREAM_IDENTITY';
  constructor(message: string) {
    super(message);
    this.name = 'UpstreamIdentityError';
  }
}

/**
 * A `checkServerIdentity` that ignores host names and accepts a server certificate only
 * when one of its URI SANs is one of `expected()` (read at each handshake, so a new snapshot
 * takes effect for new connections at once). The chain itself is verified by TLS against
 * the roots before this is called.
 */
export function spiffeServerIdentityCheck(
  expected: () => ReadonlySet<string>,
): (host: string, cert: PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    const want = expected();
    const uris = uriSans(cert.subjectaltname);
    for (const u of uris) if (want.has(u)) return undefined;
    return new UpstreamIdentityError(
      `upstream certificate has URI SAN ${uris.length > 0 ? uris.join(', ') : '(none)'}, ` +
        `expected one of ${[...want].join(', ') || '(none)'}`,
    );
  };
}

/** Hex SHA-256 of a certificate's DER (Envoy's XFCC `Hash`). */
export function certHash(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex');
}

/** Quotes an XFCC value holding `,`, `;`, `=` or `"` as Envoy does. */
function xfccValue(v: string): string {
  return /[,;="]/.test(v) ? `"${v.replace(/"/g, '\\"')}"` : v;
}

/**
 * The `x-forwarded-client-cert` value the public listener sets (Envoy's format, the
 * by/hash/URI elements): `By=<own SPIFFE ID>;Hash=<sha256 hex>;URI=<peer SPIFFE ID>`.
 */
export function xfcc(own: string, hash: string, peerUri: string): string {
  return `By=${xfccValue(own)};Hash=${hash};URI=${xfccValue(peerUri)}`;
}
