/**
 * TCP checks (Consul's CheckTCP): passing when a connection to TCP ("host:port", "[v6]:port")
 * opens within Timeout (`TCP connect <addr>: Success`); with TCPUseTLS the TLS handshake must
 * complete too (`TCP+TLS connect <addr>: Success`), verified unless TLSSkipVerify, against
 * TLSServerName when set. Anything else is critical with the reason. The connection is closed
 * at once; nothing is sent on it.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { CheckDefinition } from '../local/types.js';
import { formatGoDuration } from './output.js';
import type { Probe, ProbeResult } from './scheduler.js';
import type { CheckTlsOptions } from './types.js';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Go's net.SplitHostPort for dial addresses: "host:port" or "[ipv6]:port". */
export function splitHostPort(addr: string): HostPort | string {
  let host: string;
  let portText: string;
  if (addr.startsWith('[')) {
    const close = addr.indexOf(']');
    if (close < 0) return `address ${addr}: missing ']' in address`;
    host = addr.slice(1, close);
    if (addr[close + 1] !== ':') return `address ${addr}: missing port in address`;
    portText = addr.slice(close + 2);
  } else {
    const colon = addr.lastIndexOf(':');
    if (colon < 0) return `address ${addr}: missing port in address`;
    host = addr.slice(0, colon);
    if (host.includes(':')) return `address ${addr}: too many colons in address`;
    portText = addr.slice(colon + 1);
  }
  const port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 0 && port <= 65535)) return `address ${addr}: invalid port`;
  return { host, port };
}

export interface TcpProbeOptions {
  readonly timeout: number;
  readonly tls?: CheckTlsOptions | undefined;
}

export function tcpProbe(def: CheckDefinition, o: TcpProbeOptions): Probe {
  const addr = def.TCP;
  const kind = def.TCPUseTLS ? 'TCP+TLS' : 'TCP';
  const timeout = formatGoDuration(o.timeout);

  return (signal) =>
    new Promise<ProbeResult>((resolve) => {
      const target = splitHostPort(addr);
      if (typeof target === 'string') {
        resolve({ status: 'critical', output: `dial tcp ${addr}: ${target}` });
        return;
      }
      let connected = false;
      let settled = false;
      let socket: net.Socket | undefined;
      const finish = (r: ProbeResult): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        socket?.destroy();
        resolve(r);
      };
      const fail = (output: string): void => finish({ status: 'critical', output });
      const onAbort = (): void =>
        connected
          ? fail(`${kind} connect ${addr}: TLS handshake timed out after ${timeout}`)
          : fail(`dial tcp ${addr}: i/o timeout (no connection within ${timeout})`);
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });

      const success = (): void =>
        finish({ status: 'passing', output: `${kind} connect ${addr}: Success` });
      try {
        if (def.TCPUseTLS) {
          const s = tls.connect({
            host: target.host,
            port: target.port,
            rejectUnauthorized: !def.TLSSkipVerify,
            // No SNI for an IP address; verification then checks the IP.
            ...(def.TLSServerName !== ''
              ? { servername: def.TLSServerName }
              : net.isIP(target.host) === 0
                ? { servername: target.host }
                : {}),
            ...(o.tls?.ca !== undefined ? { ca: o.tls.ca } : {}),
            ...(o.tls?.cert !== undefined ? { cert: o.tls.cert } : {}),
            ...(o.tls?.key !== undefined ? { key: o.tls.key } : {}),
          });
          socket = s;
          s.once('connect', () => (connected = true));
          s.once('secureConnect', success);
        } else {
          const s = net.connect({ host: target.host, port: target.port });
          socket = s;
          s.once('connect', success);
        }
      } catch (err) {
        fail(`dial tcp ${addr}: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
      socket.once('error', (err) =>
        connected
          ? fail(`${kind} connect ${addr}: ${err.message}`)
          : fail(`dial tcp ${addr}: ${err.message}`),
      );
      // A peer that closes during the handshake ends without an error on some paths.
      socket.once('close', () => fail(`${kind} connect ${addr}: connection closed`));
    });
}
