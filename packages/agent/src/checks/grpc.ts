/**
 * gRPC checks (Consul's CheckGRPC / GrpcHealthProbe): one grpc.health.v1.Health/Check call per
 * run on a fresh channel. GRPC is "host:port" or "host:port/service" (the part after the first
 * '/' is the service asked about; none asks about the whole server).
 *
 * - SERVING → passing, `gRPC check <GRPC>: success`;
 * - any other serving status → critical, `gRPC <GRPC> serving status: NOT_SERVING`;
 * - a failed call → critical with Go's status error shape,
 *   `rpc error: code = Unavailable desc = …`;
 * - GRPCUseTLS: TLS, verified unless TLSSkipVerify, against TLSServerName when set.
 */
import * as grpc from '@grpc/grpc-js';
import type { CheckDefinition } from '../local/types.js';
import { GRPC_HEALTH_CHECK_PATH, GRPC_MAX_RESPONSE_BYTES } from './constants.js';
import {
  SERVING,
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  servingStatusName,
} from './grpc-health-codec.js';
import { formatGoDuration } from './output.js';
import type { Probe, ProbeResult } from './scheduler.js';
import type { CheckTlsOptions } from './types.js';

/** grpc-go's codes.Code String() names, by code. */
const GO_CODE_NAMES: readonly string[] = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
];

/** Splits Consul's GRPC field at the first '/': server address, then service name. */
export function parseGrpcTarget(target: string): { server: string; service: string } {
  const slash = target.indexOf('/');
  return slash < 0
    ? { server: target, service: '' }
    : { server: target.slice(0, slash), service: target.slice(slash + 1) };
}

/** A failed call as grpc-go's status error prints it. */
export function grpcErrorText(err: { code?: number; details?: string; message?: string }): string {
  const code = err.code ?? grpc.status.UNKNOWN;
  const name = GO_CODE_NAMES[code] ?? `Code(${code})`;
  return `rpc error: code = ${name} desc = ${err.details ?? err.message ?? ''}`;
}

const toBuffer = (v: string | Buffer | undefined): Buffer | null =>
  v === undefined ? null : Buffer.isBuffer(v) ? v : Buffer.from(v);

export interface GrpcProbeOptions {
  readonly timeout: number;
  readonly tls?: CheckTlsOptions | undefined;
}

export function grpcProbe(def: CheckDefinition, o: GrpcProbeOptions): Probe {
  const target = def.GRPC;
  const { server, service } = parseGrpcTarget(target);
  // A client certificate needs its key: present both or neither.
  const cert = o.tls?.key !== undefined ? toBuffer(o.tls.cert) : null;
  const key = cert !== null ? toBuffer(o.tls?.key) : null;
  const credentials = def.GRPCUseTLS
    ? grpc.credentials.createSsl(toBuffer(o.tls?.ca), key, cert, {
        rejectUnauthorized: !def.TLSSkipVerify,
      })
    : grpc.credentials.createInsecure();
  const channelOptions: grpc.ChannelOptions = {
    'grpc.max_receive_message_length': GRPC_MAX_RESPONSE_BYTES,
    // Own the connection: closing the client closes it (no shared pool keeping it open).
    'grpc.use_local_subchannel_pool': 1,
    'grpc.service_config_disable_resolution': 1,
    'grpc.enable_retries': 0,
    ...(def.GRPCUseTLS && def.TLSServerName !== ''
      ? { 'grpc.ssl_target_name_override': def.TLSServerName }
      : {}),
  };
  const request = { service };

  return (signal) =>
    new Promise<ProbeResult>((resolve) => {
      const deadlineExceeded = (): ProbeResult => ({
        status: 'critical',
        output: grpcErrorText({
          code: grpc.status.DEADLINE_EXCEEDED,
          details: `context deadline exceeded (${formatGoDuration(o.timeout)})`,
        }),
      });
      if (signal.aborted) {
        resolve(deadlineExceeded());
        return;
      }
      let client: grpc.Client;
      try {
        client = new grpc.Client(server, credentials, channelOptions);
      } catch (err) {
        resolve({
          status: 'critical',
          output: grpcErrorText({
            code: grpc.status.UNAVAILABLE,
            details: err instanceof Error ? err.message : String(err),
          }),
        });
        return;
      }
      let settled = false;
      const finish = (r: ProbeResult): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        client.close();
        resolve(r);
      };
      const call = client.makeUnaryRequest(
        GRPC_HEALTH_CHECK_PATH,
        encodeHealthCheckRequest,
        decodeHealthCheckResponse,
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + o.timeout },
        (err, response) => {
          // The call's deadline and the run's Timeout are the same instant: say it one way.
          if (signal.aborted || err?.code === grpc.status.DEADLINE_EXCEEDED) {
            finish(deadlineExceeded());
            return;
          }
          if (err !== null || response === undefined) {
            finish({ status: 'critical', output: grpcErrorText(err ?? {}) });
            return;
          }
          if (response.status !== SERVING) {
            finish({
              status: 'critical',
              output: `gRPC ${target} serving status: ${servingStatusName(response.status)}`,
            });
            return;
          }
          finish({ status: 'passing', output: `gRPC check ${target}: success` });
        },
      );
      const onAbort = (): void => {
        call.cancel();
        finish(deadlineExceeded());
      };
      signal.addEventListener('abort', onAbort, { once: true });
    });
}
