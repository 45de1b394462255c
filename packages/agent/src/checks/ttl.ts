/**
 * TTL checks (Consul's CheckTTL). The check's status is whatever the application last set
 * through pass/warn/fail/update ({@link TtlRunner.set}); without an update for TTL it turns
 * critical with `TTL expired`, or `TTL expired (last output before timeout follows): <output>`
 * when an update carried output. Expiry reports once; the next set() restarts the TTL.
 *
 * Both updates and expiry report straight through notify (Consul does not route TTL checks
 * through the status handler). The runner reports nothing when it starts: the check holds the
 * definition's initial Status until the first update or expiry.
 */
import type { CheckStatus } from '@trellis/state';
import type { CheckDefinition } from '../local/types.js';
import { truncateOutput } from './output.js';
import type { CheckLogger, CheckNotify, TtlRunner } from './types.js';

export interface TtlRunnerOptions {
  readonly notify: CheckNotify;
  readonly logger?: CheckLogger | undefined;
}

export function createTtlRunner(def: CheckDefinition, o: TtlRunnerOptions): TtlRunner {
  let running = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let lastOutput = '';
  const check = def.CheckID;

  const expire = (): void => {
    timer = undefined;
    o.logger?.warn({ check }, 'Check missed TTL, is now critical');
    const output =
      lastOutput === ''
        ? 'TTL expired'
        : `TTL expired (last output before timeout follows): ${lastOutput}`;
    o.notify('critical', output);
  };

  const arm = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(expire, def.TTL);
    timer.unref();
  };

  return {
    start() {
      if (running) return;
      running = true;
      stopped = false;
      arm();
    },
    stop() {
      running = false;
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
    set(status: CheckStatus, output: string): string {
      const out = truncateOutput(output, def.OutputMaxSize);
      if (stopped) return out;
      o.logger?.debug({ check, status }, 'Check status updated');
      lastOutput = out;
      if (running) arm();
      o.notify(status, out);
      return out;
    },
  };
}
