/**
 * Defaults of the check runners, each with its source. Durations are milliseconds, sizes bytes.
 */

/** Bytes of check output kept (Consul's checks.DefaultBufSize, 4 KiB). */
export const DEFAULT_OUTPUT_MAX = 4096;

/** How long an http, tcp or grpc run may take when the definition says nothing (Consul: 10 s). */
export const DEFAULT_NETWORK_TIMEOUT_MS = 10_000;

/** How long a script run may take when the definition says nothing (Consul: 30 s). */
export const DEFAULT_SCRIPT_TIMEOUT_MS = 30_000;

/** User-Agent of HTTP checks unless the definition sets one (Consul's checks.UserAgent). */
export const HTTP_USER_AGENT = 'Consul Health Check';

/** Accept of HTTP checks unless the definition sets one (Consul's CheckHTTP.check). */
export const HTTP_ACCEPT = 'text/plain, text/*, */*';

/** Redirects an HTTP check follows before it gives up (Go's http.Client default policy). */
export const HTTP_MAX_REDIRECTS = 10;

/** The method an HTTP check uses when the definition names none (Consul: GET). */
export const HTTP_DEFAULT_METHOD = 'GET';

/**
 * After a script exits, how long to wait for its stdout/stderr to close before giving up on
 * them: a grandchild that escaped the process group can hold the pipes open forever.
 */
export const SCRIPT_PIPE_GRACE_MS = 250;

/**
 * After SIGKILL of a timed-out script's process group, how long to wait for it to exit before
 * the runner moves on (Consul waits unbounded so two instances never overlap; a process the
 * kernel cannot kill within this long is stuck in uninterruptible sleep and waiting longer
 * would only stop the check from ever reporting again).
 */
export const SCRIPT_KILL_WAIT_MS = 5_000;

/**
 * Largest gRPC message a health check accepts. HealthCheckResponse is a few bytes; the limit
 * keeps a hostile or confused server from making the agent buffer megabytes.
 */
export const GRPC_MAX_RESPONSE_BYTES = 64 * 1024;

/** The method path of the standard gRPC health check (grpc/grpc-proto health/v1). */
export const GRPC_HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check';
