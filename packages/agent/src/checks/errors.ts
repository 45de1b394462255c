/**
 * Definitions a runner cannot run. These are the caller's mistakes (local/definition.ts
 * validates definitions before they get here), so createRunner throws them rather than
 * reporting a status.
 */

export type CheckRunnerErrorCode =
  /** An http, tcp, grpc or script check without a positive Interval. */
  | 'BAD_INTERVAL'
  /** A ttl check without a positive TTL. */
  | 'BAD_TTL'
  /** An alias check, but RunnerDeps has no alias source. */
  | 'NO_ALIAS_SOURCE'
  /** A kind this package does not run. */
  | 'UNKNOWN_KIND';

export class CheckRunnerError extends Error {
  override readonly name = 'CheckRunnerError';
  constructor(
    readonly code: CheckRunnerErrorCode,
    readonly checkId: string,
    message: string,
  ) {
    super(message);
  }
}

export function isCheckRunnerError(err: unknown): err is CheckRunnerError {
  return err instanceof CheckRunnerError;
}
