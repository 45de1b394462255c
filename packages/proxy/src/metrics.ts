/**
 * Prometheus metrics (prom-client), in a registry of the proxy's own so that several proxies
 * in one process (tests, benchmarks) do not collide. Label values are bounded: `listener` is
 * `public` or `upstream:<id>` (one per snapshot listener), `code` an HTTP status.
 *
 * Byte counters are added when a connection closes (bytes of the downstream socket, as
 * Envoy's downstream_cx_rx/tx_bytes_total), so a long-lived connection shows up at its end.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export class ProxyMetrics {
  readonly registry = new Registry();
  readonly connections: Counter<'listener'>;
  readonly activeConnections: Gauge<'listener'>;
  readonly requests: Counter<'listener' | 'code'>;
  readonly bytesIn: Counter<'listener'>;
  readonly bytesOut: Counter<'listener'>;
  readonly tlsHandshakeErrors: Counter<'listener'>;
  readonly tlsResumed: Counter<'listener'>;
  readonly intentionDenials: Counter<'listener' | 'layer'>;
  readonly overflow: Counter<'listener'>;
  readonly upstreamConnectSeconds: Histogram<'upstream'>;
  readonly upstreamConnectFailures: Counter<'upstream'>;
  readonly upstreamEjections: Counter<'upstream'>;
  readonly noHealthyUpstream: Counter<'upstream'>;
  readonly configVersion: Gauge;
  readonly configUpdates: Counter<'result'>;

  constructor() {
    const registers = [this.registry];
    this.connections = new Counter({
      name: 'trellis_proxy_connections_total',
      help: 'Downstream connections accepted, by listener (public: after the TLS handshake).',
      labelNames: ['listener'],
      registers,
    });
    this.activeConnections = new Gauge({
      name: 'trellis_proxy_active_connections',
      help: 'Downstream connections open now, by listener.',
      labelNames: ['listener'],
      registers,
    });
    this.requests = new Counter({
      name: 'trellis_proxy_http_requests_total',
      help: 'HTTP requests answered, by listener and status code.',
      labelNames: ['listener', 'code'],
      registers,
    });
    this.bytesIn = new Counter({
      name: 'trellis_proxy_received_bytes_total',
      help: 'Bytes received from downstream, by listener (counted when a connection closes).',
      labelNames: ['listener'],
      registers,
    });
    this.bytesOut = new Counter({
      name: 'trellis_proxy_sent_bytes_total',
      help: 'Bytes sent to downstream, by listener (counted when a connection closes).',
      labelNames: ['listener'],
      registers,
    });
    this.tlsHandshakeErrors = new Counter({
      name: 'trellis_proxy_tls_handshake_errors_total',
      help: 'Downstream TLS handshakes that failed (plaintext, garbage, no or bad client certificate).',
      labelNames: ['listener'],
      registers,
    });
    this.tlsResumed = new Counter({
      name: 'trellis_proxy_tls_sessions_resumed_total',
      help: 'Downstream TLS handshakes that resumed a session (no full handshake).',
      labelNames: ['listener'],
      registers,
    });
    this.intentionDenials = new Counter({
      name: 'trellis_proxy_intention_denials_total',
      help: 'Connections (l4) and requests (l7) denied by intentions, and peers without a service identity (identity).',
      labelNames: ['listener', 'layer'],
      registers,
    });
    this.overflow = new Counter({
      name: 'trellis_proxy_connections_overflow_total',
      help: 'Connections over max_inbound_connections (closed, or answered 503 for HTTP).',
      labelNames: ['listener'],
      registers,
    });
    this.upstreamConnectSeconds = new Histogram({
      name: 'trellis_proxy_upstream_connect_seconds',
      help: 'Time to connect and complete the mTLS handshake with an upstream endpoint.',
      labelNames: ['upstream'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.upstreamConnectFailures = new Counter({
      name: 'trellis_proxy_upstream_connect_failures_total',
      help: 'Failed connects (refused, timed out, TLS or identity failure) to upstream endpoints.',
      labelNames: ['upstream'],
      registers,
    });
    this.upstreamEjections = new Counter({
      name: 'trellis_proxy_upstream_ejections_total',
      help: 'Endpoints ejected by outlier detection (consecutive connect failures).',
      labelNames: ['upstream'],
      registers,
    });
    this.noHealthyUpstream = new Counter({
      name: 'trellis_proxy_upstream_no_healthy_total',
      help: 'Connections or requests that found no endpoint to go to.',
      labelNames: ['upstream'],
      registers,
    });
    this.configVersion = new Gauge({
      name: 'trellis_proxy_config_version',
      help: 'The configuration version applied last (per stream; 0 before the first).',
      registers,
    });
    this.configUpdates = new Counter({
      name: 'trellis_proxy_config_updates_total',
      help: 'Configuration versions applied (ack) and refused (nack).',
      labelNames: ['result'],
      registers,
    });
  }

  /** The current value of one series (0 when it has none yet): for tests and status. */
  async value(name: string, labels: Readonly<Record<string, string>> = {}): Promise<number> {
    const metric = this.registry.getSingleMetric(name);
    if (metric === undefined) throw new Error(`no metric ${name}`);
    const data = await metric.get();
    let sum = 0;
    for (const v of data.values) {
      const l = v.labels as Record<string, unknown>;
      if (Object.entries(labels).every(([k, want]) => String(l[k]) === want)) {
        if ('metricName' in v && typeof v.metricName === 'string' && v.metricName !== name) {
          // a histogram's _bucket/_sum series: count only _count
          if (v.metricName !== `${name}_count`) continue;
        }
        sum += v.value;
      }
    }
    return sum;
  }

  /** Serves `GET /metrics` (Prometheus text) on host:port until closed. */
  async serve(host: string, port: number): Promise<MetricsServer> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0];
      if (req.method !== 'GET' || path !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (e: unknown) => res.writeHead(500).end(`${(e as Error).message}\n`),
      );
    });
    server.maxConnections = 64;
    server.requestTimeout = 10_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new MetricsServer(server);
  }
}

export class MetricsServer {
  constructor(private readonly server: Server) {}
  address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
