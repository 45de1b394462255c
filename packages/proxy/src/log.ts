/**
 * Logging: the proxy takes the same small interface as @trellis/rpc (the subset of pino it
 * uses), so the agent's pino logger or a child of it can be passed in directly.
 */
import type { Logger } from '@trellis/rpc';

export type { Logger } from '@trellis/rpc';

const noop = (): void => undefined;

export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };

/** One access-log record (off unless ProxyOptions.accessLog is given). */
export type AccessLogEntry =
  | {
      readonly kind: 'http';
      /** `public`, `upstream:<id>` or `ingress:<port>`. */
      readonly listener: string;
      /** The caller's service (public listener) or undefined (upstream listener). */
      readonly source?: string;
      /** The mesh service an ingress gateway routed the request to. */
      readonly service?: string;
      readonly method: string;
      readonly path: string;
      readonly status: number;
      /** `address:port` of the endpoint or local app that answered, when one did. */
      readonly upstream?: string;
      readonly durationMs: number;
    }
  | {
      readonly kind: 'tcp';
      readonly listener: string;
      readonly source?: string;
      /** The mesh service of an ingress gateway's tcp listener. */
      readonly service?: string;
      readonly upstream?: string;
      readonly bytesIn: number;
      readonly bytesOut: number;
      readonly durationMs: number;
      /** Why it ended, when not by a normal close ("denied", "no healthy upstream", …). */
      readonly reason?: string;
    };

export type AccessLogger = (entry: AccessLogEntry) => void;
