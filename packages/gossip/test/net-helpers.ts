/** Helpers for the real-socket tests: bounded polling and agent factories. */
import { setTimeout as sleep } from 'node:timers/promises';
import { GossipAgent, type AgentOptions, type Timing } from '../src/index.js';

/**
 * Polls `cond` every `everyMs` until it holds or `timeoutMs` passes. Returns the elapsed
 * milliseconds; throws with `what` on timeout. Bounded in time and count.
 */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
  everyMs = 20,
): Promise<number> {
  const start = performance.now();
  const rounds = Math.ceil(timeoutMs / everyMs) + 1;
  for (let i = 0; i < rounds; i++) {
    if (await cond()) return performance.now() - start;
    if (performance.now() - start > timeoutMs) break;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Fast loopback timings: the 'local' preset, sped up so tests take seconds. */
export const FAST: Partial<Timing> = {
  probeInterval: 200,
  probeTimeout: 100,
  gossipInterval: 50,
  pushPullInterval: 2_000,
  tcpTimeout: 500,
};

/**
 * Slower probing for tests that compare member tables before and after: a probe timeout
 * missed on a loaded machine would cause a suspicion and a refutation (an incarnation
 * bump), which is legitimate SWIM behaviour but not what those tests look at.
 */
export const CALM: Partial<Timing> = { probeInterval: 500, probeTimeout: 400 };

/** Starts an agent on 127.0.0.1:0 with FAST timings; `t.teardown` should close it. */
export function startAgent(
  name: string,
  opts: Omit<Partial<AgentOptions>, 'name'> = {},
): Promise<GossipAgent> {
  return GossipAgent.start({
    name,
    bindAddr: '127.0.0.1',
    port: 0,
    preset: 'local',
    ...opts,
    config: { ...FAST, ...opts.config },
  });
}

/** name → status as `agent` sees it. */
export function view(agent: GossipAgent): Record<string, string> {
  return Object.fromEntries(agent.members().map((m) => [m.name, m.status]));
}

/** Whether every agent sees every name in `names` with `status`. */
export function allSee(agents: readonly GossipAgent[], names: readonly string[], status: string) {
  return agents.every((a) => {
    const v = view(a);
    return names.every((n) => v[n] === status);
  });
}
