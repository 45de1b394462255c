/**
 * `-sidecar-supervise` (config `connect.sidecar_supervise`): the agent runs a built-in proxy
 * (@trellis/proxy) for every `connect-proxy` service registered on it, so a newcomer needs no
 * extra process. Each supervised proxy is an ordinary stream client of this agent's port
 * 8502 (the same path an external `trellis connect proxy` takes), started when its service
 * appears in the local state and closed when it goes. A proxy that cannot apply a version
 * NACKs it and keeps its last good one, as a separate process would; if it stops on its own
 * it is started again after a back-off.
 */
import { Proxy } from '@trellis/proxy';
import type { LocalAgent } from '../local/agent.js';
import type { AgentLogger } from '../log.js';

const RESTART_MIN_MS = 1_000;
const RESTART_MAX_MS = 30_000;

interface Supervised {
  proxy: Proxy | null;
  starting: boolean;
  failures: number;
  timer: NodeJS.Timeout | null;
}

export class SidecarSupervisor {
  readonly #local: LocalAgent;
  readonly #agentAddr: string;
  readonly #log: AgentLogger;
  readonly #running = new Map<string, Supervised>();
  readonly #unsubscribe: () => void;
  #closed = false;

  constructor(o: { local: LocalAgent; agentAddr: string; logger: AgentLogger }) {
    this.#local = o.local;
    this.#agentAddr = o.agentAddr;
    this.#log = o.logger;
    this.#unsubscribe = o.local.state.onChange(() => this.#reconcile());
    this.#reconcile();
  }

  /** The proxy service IDs supervised now. */
  ids(): string[] {
    return [...this.#running.keys()].sort();
  }

  proxy(id: string): Proxy | null {
    return this.#running.get(id)?.proxy ?? null;
  }

  #reconcile(): void {
    if (this.#closed) return;
    const want = new Set(
      this.#local
        .services()
        .filter((s) => s.Kind === 'connect-proxy')
        .map((s) => s.ID),
    );
    for (const [id, s] of this.#running) {
      if (!want.has(id)) {
        this.#running.delete(id);
        this.#stop(id, s);
      }
    }
    for (const id of want) {
      if (this.#running.has(id)) continue;
      const s: Supervised = { proxy: null, starting: false, failures: 0, timer: null };
      this.#running.set(id, s);
      void this.#start(id, s);
    }
  }

  async #start(id: string, s: Supervised): Promise<void> {
    if (this.#closed || this.#running.get(id) !== s || s.starting) return;
    s.starting = true;
    try {
      const proxy = await Proxy.start({
        agentAddr: this.#agentAddr,
        proxyId: id,
        logger: this.#log.child({ proxy: id }),
      });
      if (this.#closed || this.#running.get(id) !== s) {
        await proxy.close();
        return;
      }
      s.proxy = proxy;
      s.failures = 0;
      this.#log.info({ proxy: id }, 'connect: supervising a built-in sidecar proxy');
      void proxy.closed.then(() => {
        if (this.#closed || this.#running.get(id) !== s || s.proxy !== proxy) return;
        s.proxy = null;
        this.#restart(id, s, 'it stopped');
      });
    } catch (e) {
      this.#restart(id, s, e instanceof Error ? e.message : String(e));
    } finally {
      s.starting = false;
    }
  }

  #restart(id: string, s: Supervised, why: string): void {
    s.failures++;
    const delay = Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** Math.min(s.failures - 1, 8));
    this.#log.warn(
      { proxy: id, why, restartInMs: delay },
      'connect: restarting a supervised sidecar',
    );
    s.timer = setTimeout(() => {
      s.timer = null;
      void this.#start(id, s);
    }, delay);
  }

  #stop(id: string, s: Supervised): void {
    if (s.timer !== null) clearTimeout(s.timer);
    const p = s.proxy;
    s.proxy = null;
    if (p !== null) {
      this.#log.info({ proxy: id }, 'connect: stopping a supervised sidecar proxy');
      void p.close();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe();
    const all = [...this.#running.values()];
    this.#running.clear();
    for (const s of all) if (s.timer !== null) clearTimeout(s.timer);
    await Promise.all(all.flatMap((s) => (s.proxy === null ? [] : [s.proxy.close()])));
  }
}
