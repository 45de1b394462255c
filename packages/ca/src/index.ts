/**
 * @trellis/ca — the Connect certificate authority's crypto, as Consul's built-in CA provider
 * (agent/connect, agent/connect/ca/provider_consul.go): SPIFFE IDs, root generation and
 * loading, cross-signing for rotation, CSR validation and leaf signing, the CSR rate limiter,
 * and `consul tls` agent certificates.
 *
 * No I/O besides crypto, no state, no timers, no clock: every function that needs the time
 * takes `now`. Every failure caused by input is a {@link CaError} (HTTP 400).
 */
export { CaError, isCaError, type CaErrorCode } from './errors.js';
export {
  SPIFFE_ID_MAX_LENGTH,
  normalizeTrustDomain,
  parseSpiffeId,
  spiffeIdForAgent,
  spiffeIdForService,
  spiffeIdForSigning,
  trustDomainFor,
  type AgentIdInput,
  type ServiceIdInput,
  type SpiffeAgentId,
  type SpiffeId,
  type SpiffeServiceId,
  type SpiffeSigningId,
} from './spiffe.js';
export {
  CLOCK_SKEW_MS,
  DEFAULT_CROSS_SIGN_TTL_MS,
  DEFAULT_LEAF_TTL_MS,
  DEFAULT_ROOT_TTL_MS,
  MAX_CSR_BYTES,
  MAX_LEAF_TTL_MS,
  MIN_LEAF_TTL_MS,
  validateLeafTtl,
} from './config.js';
export {
  ROOT_NAME,
  crossSignRoot,
  generateRoot,
  loadRoot,
  rootCommonName,
  rootInfo,
  type CrossSignOptions,
  type GenerateRootOptions,
  type GeneratedRoot,
  type RootInfo,
} from './root.js';
export {
  createSigner,
  type SignLeafOptions,
  type SignedLeaf,
  type Signer,
  type SignerOptions,
} from './leaf.js';
export {
  createLeafKeyAndCsr,
  normalizeDnsSans,
  type LeafKeyAndCsr,
  type LeafKeyAndCsrOptions,
} from './csr.js';
export {
  CSR_LIMIT_WAIT_MS,
  DEFAULT_CSR_MAX_PER_SECOND,
  ERR_RATE_LIMITED,
  SigningLimiter,
  type LimiterMode,
  type SigningLimiterOptions,
} from './limiter.js';
export {
  createTlsCa,
  createTlsCert,
  nextTlsCertFileNames,
  tlsCaFileNames,
  tlsCertFileNames,
  type TlsCaOptions,
  type TlsCertKind,
  type TlsCertOptions,
  type TlsFileNames,
  type TlsFiles,
} from './tls-files.js';
export { certificateInfo, type CertificateInfo } from './info.js';
export { colonHex, derToPem, parsePemBlocks, pemToDer, type PemBlock } from './pem.js';
export type { KeyType } from './keys.js';
export type { KeyUsageName } from './cert.js';
