/**
 * What the KV benchmark needs from a system under test, implemented the same way for etcd
 * (./etcd.ts) and Trellis (./trellis.ts): three member processes on loopback, a
 * linearizable put and get over HTTP keep-alive, the leader, SIGKILL and restart of a
 * member on its data dir, and a bounded wait until all members are healthy again.
 */
export interface KvSystem {
  readonly name: 'etcd' | 'trellis';
  /** Member count (3). */
  readonly size: number;
  /** Starts every member and waits for a leader. */
  start(): Promise<void>;
  /** Index of the member that leads, among running ones; throws after `timeoutMs`. */
  leader(timeoutMs: number): Promise<number>;
  /** Acknowledged put through `member`; throws (HttpError or Error) otherwise. */
  put(member: number, key: string, value: Buffer, timeoutMs: number): Promise<void>;
  /** Linearizable read through `member`: the value, or null if the key is absent. */
  get(member: number, key: string, timeoutMs: number): Promise<Buffer | null>;
  running(member: number): boolean;
  pid(member: number): number | undefined;
  /** SIGKILL by PID: when it was sent and when the process was reaped. */
  kill(member: number): { at: number; exited: Promise<unknown> };
  /** Starts a stopped member again on the same data dir and ports. */
  restart(member: number): Promise<void>;
  /**
   * Waits until every member runs, agrees on a leader and has applied what the leader has
   * (so the next fault does not hit a member still catching up).
   */
  waitHealthy(timeoutMs: number): Promise<void>;
  /** Log tails of every member, for failure messages. */
  describe(): string;
  close(): Promise<void>;
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** Polls `f` until it returns a value other than undefined; throws after `timeoutMs`. */
export async function poll<T>(
  f: () => Promise<T | undefined>,
  timeoutMs: number,
  what: string,
  everyMs = 20,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (let i = 0; i < 1_000_000; i++) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (performance.now() >= deadline) break;
    await sleep(Math.min(everyMs, deadline - performance.now()));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
