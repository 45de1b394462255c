/**
 * The run loop of interval checks (http, tcp, grpc, script), as Consul's run(): the first run
 * after a random stagger within the interval (lib.RandomStagger), then one run every Interval
 * measured from the end of the previous run, so runs never overlap. Each run gets a signal that
 * aborts at Timeout or at stop(); probes must settle promptly once it aborts.
 *
 * Contract with probes: a probe never rejects on purpose (a rejection is reported critical);
 * it reports a timeout itself (it knows how to say what was cut short) when the signal aborts.
 * Outcomes of a run that was stopped are dropped.
 */
import type { CheckStatus } from '@trellis/state';
import type { StatusHandler } from './status-handler.js';
import type { CheckLogger, CheckNotify, CheckRunner } from './types.js';

export interface ProbeResult {
  readonly status: CheckStatus;
  readonly output: string;
  /**
   * Report straight through notify, not the status handler (Consul does so for a script that
   * cannot be started or that times out).
   */
  readonly direct?: boolean;
}

/** One run. `signal` aborts when the run's Timeout passes or the runner stops. */
export type Probe = (signal: AbortSignal) => Promise<ProbeResult>;

export interface IntervalRunnerOptions {
  readonly checkId: string;
  /** Milliseconds between the end of one run and the start of the next (> 0). */
  readonly interval: number;
  /** Milliseconds a run may take (> 0). */
  readonly timeout: number;
  readonly probe: Probe;
  readonly handler: StatusHandler;
  readonly notify: CheckNotify;
  readonly random: () => number;
  readonly logger?: CheckLogger | undefined;
}

/** The reason a run's signal carries when its Timeout passed. */
export class RunTimeout extends Error {
  override readonly name = 'RunTimeout';
  constructor(readonly timeoutMs: number) {
    super(`check run timed out after ${timeoutMs} ms`);
  }
}

/** The reason a run's signal carries when the runner stopped. */
export class RunStopped extends Error {
  override readonly name = 'RunStopped';
  constructor() {
    super('check runner stopped');
  }
}

/** Consul's lib.RandomStagger: a uniform delay in [0, interval). */
export function randomStagger(interval: number, random: () => number): number {
  if (!(interval > 0)) return 0;
  const r = random();
  const unit = Number.isFinite(r) && r >= 0 && r < 1 ? r : 0;
  return Math.floor(unit * interval);
}

export function createIntervalRunner(o: IntervalRunnerOptions): CheckRunner {
  /** Bumped by every start() and stop(): a run or timer of an older generation is void. */
  let generation = 0;
  let running = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: AbortController | undefined;

  const schedule = (gen: number, delay: number): void => {
    timer = setTimeout(() => {
      timer = undefined;
      void runOnce(gen);
    }, delay);
    timer.unref();
  };

  const runOnce = async (gen: number): Promise<void> => {
    const ac = new AbortController();
    inFlight = ac;
    const deadline = setTimeout(() => ac.abort(new RunTimeout(o.timeout)), o.timeout);
    deadline.unref();
    let result: ProbeResult;
    try {
      result = await o.probe(ac.signal);
    } catch (err) {
      o.logger?.warn({ check: o.checkId, err }, 'Check run failed unexpectedly');
      result = { status: 'critical', output: err instanceof Error ? err.message : String(err) };
    } finally {
      clearTimeout(deadline);
      if (inFlight === ac) inFlight = undefined;
    }
    if (gen !== generation) return;
    if (result.direct === true) o.notify(result.status, result.output);
    else o.handler.update(result.status, result.output);
    // notify may have stopped (or restarted) the runner.
    if (gen === generation) schedule(gen, o.interval);
  };

  return {
    start() {
      if (running) return;
      running = true;
      generation++;
      schedule(generation, randomStagger(o.interval, o.random));
    },
    stop() {
      if (!running) return;
      running = false;
      generation++;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      inFlight?.abort(new RunStopped());
      inFlight = undefined;
    },
  };
}
