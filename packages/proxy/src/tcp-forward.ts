/**
 * L4 forwarding of one downstream connection to a cluster (an upstream listener's tcp/grpc
 * connections, an ingress gateway's tcp listeners): one endpoint per connection, over mutual
 * TLS, a failed connect tried on the next endpoint (up to MAX_CONNECT_ATTEMPTS); no endpoint
 * left (or no leaf yet) closes the connection. Bytes are piped both ways, half-close passed
 * through.
 */
import type { Socket } from 'node:net';
import type { Cluster, Endpoint } from './cluster.js';
import { MAX_CONNECT_ATTEMPTS } from './config.js';
import type { AccessLogger } from './log.js';
import type { ProxyMetrics } from './metrics.js';

export interface TcpForwardDeps {
  readonly metrics: ProxyMetrics;
  readonly accessLog: AccessLogger | undefined;
}

/** Forwards `socket` to an endpoint of `cluster`; `listener` labels the access log. */
export function forwardTcp(
  socket: Socket,
  cluster: Cluster,
  deps: TcpForwardDeps,
  listener: string,
  service?: string,
): void {
  const started = performance.now();
  const tried = new Set<Endpoint>();
  let reason: string | undefined;
  let endpoint: string | undefined;
  socket.once('close', () => {
    deps.accessLog?.({
      kind: 'tcp',
      listener,
      ...(service !== undefined ? { service } : {}),
      ...(endpoint !== undefined ? { upstream: endpoint } : {}),
      bytesIn: socket.bytesRead,
      bytesOut: socket.bytesWritten,
      durationMs: performance.now() - started,
      ...(reason !== undefined ? { reason } : {}),
    });
  });
  const attempt = (n: number): void => {
    if (socket.destroyed) return;
    const ep = n < MAX_CONNECT_ATTEMPTS ? cluster.pick(tried, false) : undefined;
    if (ep === undefined || cluster.generation === null) {
      if (n === 0) {
        deps.metrics.noHealthyUpstream.inc({ upstream: cluster.id });
        reason = cluster.generation === null ? 'no leaf certificate yet' : 'no healthy upstream';
      } else {
        reason ??= 'upstream connect failed';
      }
      socket.destroy();
      return;
    }
    ep.active++;
    const t0 = performance.now();
    const up = cluster.connect(ep);
    let connected = false;
    const timer = setTimeout(() => {
      up.destroy(
        Object.assign(new Error(`connect timed out after ${cluster.connectTimeoutMs} ms`), {
          code: 'ETIMEDOUT',
        }),
      );
    }, cluster.connectTimeoutMs);
    const onSocketClose = (): void => {
      up.destroy();
    };
    socket.once('close', onSocketClose);
    up.once('secureConnect', () => {
      clearTimeout(timer);
      connected = true;
      endpoint = ep.key;
      cluster.succeeded(ep, performance.now() - t0);
      up.setNoDelay(true);
      socket.pipe(up);
      up.pipe(socket);
    });
    up.on('error', (err: Error) => {
      clearTimeout(timer);
      if (connected) {
        reason ??= `upstream: ${err.message}`;
        return;
      }
      tried.add(ep);
      cluster.failed(ep, err);
      reason = `upstream connect: ${err.message}`;
    });
    up.once('close', () => {
      clearTimeout(timer);
      ep.active--;
      if (connected) {
        socket.destroy();
        return;
      }
      socket.off('close', onSocketClose);
      attempt(n + 1);
    });
  };
  attempt(0);
}
