/**
 * Errors of the CLI's HTTP client. Messages follow the text Consul's Go client produces, so a
 * script that greps `consul kv get` failures sees the same words:
 * - transport: `Get "http://127.0.0.1:8500/v1/kv/a": dial tcp 127.0.0.1:8500: connect: connection refused`
 * - HTTP status: `Unexpected response code: 500 (No cluster leader)`
 */
export type ApiErrorCode =
  /** The address could not be parsed (bad scheme, port…). */
  | 'ERR_API_ADDRESS'
  /** No connection (refused, unknown host, reset…). */
  | 'ERR_API_CONNECT'
  /** The request did not finish within its deadline. */
  | 'ERR_API_TIMEOUT'
  /** The agent answered with a status other than 2xx (the body is in the message). */
  | 'ERR_API_STATUS'
  /** The response body was larger than the caller's limit. */
  | 'ERR_API_TOO_LARGE'
  /** The response body was not the JSON the endpoint promises. */
  | 'ERR_API_BAD_RESPONSE';

export interface ApiErrorMeta {
  /** HTTP status, for ERR_API_STATUS. */
  readonly status?: number;
  /** The server's plain-text body (trimmed), for ERR_API_STATUS. */
  readonly body?: string;
  /** The underlying system error code (ECONNREFUSED…), for ERR_API_CONNECT. */
  readonly syscallCode?: string;
}

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly meta: ApiErrorMeta = {},
  ) {
    super(message);
  }
}

export function isApiError(e: unknown, code?: ApiErrorCode): e is ApiError {
  return e instanceof ApiError && (code === undefined || e.code === code);
}
