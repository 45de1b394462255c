/**
 * The agent's HTTP API (Consul's v1 API): build it over a {@link Backend} with
 * {@link buildHttpApi}, or build and listen with {@link startHttpApi}.
 */
export {
  buildHttpApi,
  startHttpApi,
  type HttpApiOptions,
  type HttpLimits,
  type StartOptions,
  type RunningHttpApi,
} from './server.js';
export {
  BackendError,
  isBackendError,
  type Backend,
  type BackendErrorCode,
  type ReadMode,
  type ReadMeta,
  type ApplyOutcome,
  type MemberInfo,
  type RaftServerInfo,
  type RaftConfigurationInfo,
  type AutopilotServerHealth,
  type AutopilotHealthInfo,
  type AgentSelfInfo,
  type UserEventInfo,
  type FireEventRequest,
} from './backend.js';
export { HttpError, toHttpError, NO_LEADER_TEXT, NO_DC_PATH_TEXT } from './errors.js';
export { parseGoDuration } from './duration.js';
export { field, parseJsonObject } from './wire.js';
export * from './constants.js';
