/** The CLI's client for an agent's HTTP API (Consul's /v1). */
export { ApiClient, escapePath } from './client.js';
export type {
  ClientOptions,
  Query,
  RequestOptions,
  ApiResponse,
  StreamResponse,
} from './client.js';
export { ApiError, isApiError, type ApiErrorCode, type ApiErrorMeta } from './errors.js';
export { resolveAgentUrl, type Env } from './address.js';
export * from './constants.js';
