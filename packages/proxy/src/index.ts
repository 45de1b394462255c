/**
 * @trellis/proxy — the data plane: a sidecar proxy or ingress gateway configured by the
 * agent's proxy stream, mutual TLS between sidecars, intentions enforced per connection (L4)
 * and per request (L7), connection limits, load balancing and outlier detection over an
 * upstream's healthy endpoints, Host routing at ingress, WebSocket pass-through, Prometheus
 * metrics.
 */
export { Proxy, type ProxyOptions, type ProxyStatus } from './proxy.js';
export {
  DEFAULT_OUTLIER,
  DEFAULT_REQUEST_TIMEOUT_MS,
  HANDSHAKE_TIMEOUT_MS,
  MAX_CONNECT_ATTEMPTS,
  MAX_LISTENER_CONNECTIONS,
  ProxyConfigError,
  checkSnapshot,
  type OutlierOptions,
} from './config.js';
export type { EndpointStatus } from './cluster.js';
export {
  compileGatewayRoutes,
  routeHost,
  type GatewayRoutes,
  type GatewayServiceStatus,
} from './gateway-listener.js';
export { ENVOY_TEXT } from './forward.js';
export {
  certHash,
  parseServiceSpiffeId,
  serviceIdentityOf,
  uriSans,
  xfcc,
  type ServiceIdentity,
} from './identity.js';
export { silentLogger, type AccessLogEntry, type AccessLogger, type Logger } from './log.js';
export { ProxyMetrics } from './metrics.js';
export {
  STREAM_BACKOFF_BASE_MS,
  STREAM_BACKOFF_MAX_MS,
  type StreamState,
  type StreamStatus,
} from './stream-client.js';
