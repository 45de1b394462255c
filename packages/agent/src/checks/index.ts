/**
 * The agent's health-check runners, with Consul's behaviour (agent/checks in hashicorp/consul):
 * http, tcp, grpc and script checks run on an interval behind a status handler; ttl checks wait
 * for updates; alias checks mirror another node's or service's checks.
 */
export { createRunner } from './runner.js';
export { isTtlRunner } from './types.js';
export type {
  AliasCheck,
  AliasSnapshot,
  AliasSource,
  CheckLogger,
  CheckNotify,
  CheckRunner,
  CheckTlsOptions,
  RunnerDeps,
  TtlRunner,
} from './types.js';
export {
  createStatusHandler,
  type StatusHandler,
  type StatusHandlerOptions,
  type StatusThresholds,
} from './status-handler.js';
export { aliasOutcome, type AliasOutcome, type AliasTarget } from './alias.js';
export { DEFAULT_OUTPUT_MAX, truncateOutput, formatGoDuration } from './output.js';
export { CheckRunnerError, isCheckRunnerError, type CheckRunnerErrorCode } from './errors.js';
