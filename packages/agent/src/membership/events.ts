/**
 * User events (`/v1/event/fire`, `/v1/event/list`), as every Consul agent keeps them: a
 * gossip user event named `consul:event:<name>` whose payload carries the event's fields;
 * each agent records the events meant for it (node, service and tag filters) in a buffer of
 * the last 256.
 */
import { randomUUID } from 'node:crypto';
import type { GossipAgent } from '@trellis/gossip';
import { BackendError, type FireEventRequest, type UserEventInfo } from '../http/backend.js';
import { compileGoRegexp } from '../http/filter/index.js';
import type { AgentLogger } from '../log.js';
import { Waiters } from '../waiters.js';

/** User events kept for /v1/event/list (Consul's userEventsBufferSize). */
export const EVENT_BUFFER = 256;
/** Gossip user-event name prefix Consul uses for /v1/event/fire. */
export const EVENT_PREFIX = 'consul:event:';

export interface EventLogOptions {
  readonly nodeName: string;
  readonly logger: AgentLogger;
  /** This agent's local services (for service and tag filters). */
  readonly localServices: () => readonly {
    readonly Service: string;
    readonly Tags: readonly string[];
  }[];
}

export class UserEventLog {
  readonly #o: EventLogOptions;
  readonly #events: UserEventInfo[] = [];
  readonly #waiters = new Waiters();

  constructor(o: EventLogOptions) {
    this.#o = o;
  }

  /** Fires an event through gossip (it comes back to this agent as to every other). */
  fire(gossip: GossipAgent, req: FireEventRequest): UserEventInfo {
    const ev: UserEventInfo = {
      ID: randomUUID(),
      Name: req.name,
      Payload: req.payload.length === 0 ? null : req.payload,
      NodeFilter: req.nodeFilter,
      ServiceFilter: req.serviceFilter,
      TagFilter: req.tagFilter,
      Version: 1,
      LTime: 0,
    };
    const body = Buffer.from(
      JSON.stringify({
        ID: ev.ID,
        NodeFilter: ev.NodeFilter,
        ServiceFilter: ev.ServiceFilter,
        TagFilter: ev.TagFilter,
        Payload: ev.Payload === null ? null : Buffer.from(ev.Payload).toString('base64'),
      }),
    );
    try {
      gossip.userEvent(`${EVENT_PREFIX}${req.name}`, body);
    } catch (e) {
      throw new BackendError('BAD_REQUEST', e instanceof Error ? e.message : String(e));
    }
    return ev;
  }

  /** A gossip user event arrived (any name; only Consul's prefix is ours). */
  receive(name: string, payload: Uint8Array, ltime: number): void {
    if (!name.startsWith(EVENT_PREFIX)) return;
    let raw: Record<string, unknown>;
    try {
      raw = JSON.parse(Buffer.from(payload).toString('utf8')) as Record<string, unknown>;
      if (raw === null || typeof raw !== 'object') throw new Error('not an object');
    } catch {
      this.#o.logger.warn({ event: name }, 'user event with a malformed body dropped');
      return;
    }
    const str = (v: unknown): string => (typeof v === 'string' ? v : '');
    const ev: UserEventInfo = {
      ID: str(raw.ID) || randomUUID(),
      Name: name.slice(EVENT_PREFIX.length),
      Payload: typeof raw.Payload === 'string' ? Buffer.from(raw.Payload, 'base64') : null,
      NodeFilter: str(raw.NodeFilter),
      ServiceFilter: str(raw.ServiceFilter),
      TagFilter: str(raw.TagFilter),
      Version: 1,
      LTime: ltime,
    };
    if (!this.#wants(ev)) {
      this.#o.logger.debug({ event: ev.Name, id: ev.ID }, 'user event filtered out for this node');
      return;
    }
    this.#events.push(ev);
    if (this.#events.length > EVENT_BUFFER) this.#events.shift();
    this.#waiters.wake();
  }

  /**
   * Consul's shouldProcessUserEvent: the node filter must match this node's name; a service
   * filter must match one of this agent's local services, and a tag filter one of that
   * service's tags. Filters are Go regular expressions (RE2), checked when fired.
   */
  #wants(ev: UserEventInfo): boolean {
    try {
      if (ev.NodeFilter !== '' && !compileGoRegexp(ev.NodeFilter).test(this.#o.nodeName)) {
        return false;
      }
      if (ev.ServiceFilter === '') return true;
      const service = compileGoRegexp(ev.ServiceFilter);
      const tag = ev.TagFilter === '' ? undefined : compileGoRegexp(ev.TagFilter);
      return this.#o
        .localServices()
        .some(
          (s) => service.test(s.Service) && (tag === undefined || s.Tags.some((t) => tag.test(t))),
        );
    } catch {
      return false;
    }
  }

  events(): readonly UserEventInfo[] {
    return this.#events;
  }

  wait(signal: AbortSignal): Promise<boolean> {
    return this.#waiters.wait(signal);
  }
}
