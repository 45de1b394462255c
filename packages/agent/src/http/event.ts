/**
 * /v1/event — Consul's event_endpoint.go and user_event.go: fire a user event through gossip,
 * list the events this agent has received.
 *
 * The list is not a state-store read: its X-Consul-Index is derived from the ID of the last
 * event listed (Consul's uuidToUint64: the UUID's two 64-bit halves XORed), so it is not
 * monotonic and a blocking list (`?index=`) waits only while the index *equals* the one given,
 * woken by each new event this agent receives ({@link Backend.waitEvent}). As in Consul the
 * list carries no other meta headers, takes no consistency mode, and a blocking wait without
 * `?wait=` lasts Consul's maximum (10 min), without jitter.
 */
import { isBackendError, type UserEventInfo } from './backend.js';
import { json, type Answer, type Ctx } from './context.js';
import { parseGoDuration } from './duration.js';
import type { Endpoint } from './endpoints.js';
import { HttpError, badRequest } from './errors.js';
import { ClientGone, checkDatacenter, parseWait, readBody } from './request.js';
import { qget } from './wire.js';
import { compileGoRegexp } from './filter/index.js';

/**
 * Largest event payload read (bytes). Consul reads the body whole and lets gossip refuse it
 * (serf's configured limit, 512 bytes for name and payload by default; 9 KiB at most): 64 KiB
 * is far past any payload gossip can carry, so nothing acceptable is refused here.
 */
export const EVENT_MAX_BODY_BYTES = 64 * 1024;

const FIRE_PREFIX = '/v1/event/fire/';

/** Consul's UserEvent JSON, in its field order (Payload base64, null when empty). */
export function userEventJson(e: UserEventInfo): Record<string, unknown> {
  return {
    ID: e.ID,
    Name: e.Name,
    Payload:
      e.Payload === null || e.Payload.length === 0
        ? null
        : Buffer.from(e.Payload.buffer, e.Payload.byteOffset, e.Payload.byteLength).toString(
            'base64',
          ),
    NodeFilter: e.NodeFilter,
    ServiceFilter: e.ServiceFilter,
    TagFilter: e.TagFilter,
    Version: e.Version,
    LTime: e.LTime,
  };
}

/**
 * Consul's uuidToUint64: the UUID's first 16 hex digits XOR its last 16, as an unsigned 64-bit
 * number. An ID that is not a UUID (never produced by Consul or us) maps to 1.
 */
export function uuidToUint64(uuid: string): bigint {
  if (!/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(uuid)) {
    return 1n;
  }
  const low = BigInt(`0x${uuid.slice(0, 8)}${uuid.slice(9, 13)}${uuid.slice(14, 18)}`);
  const high = BigInt(`0x${uuid.slice(19, 23)}${uuid.slice(24, 36)}`);
  return low ^ high;
}

/** Consul's validateUserEventParams: its texts, answered with 500 as EventFire does. */
function validateFilters(node: string, service: string, tag: string): void {
  if (tag !== '' && service === '') {
    throw new HttpError(500, 'Cannot provide tag filter without service filter');
  }
  const compile = (what: string, re: string): void => {
    if (re === '') return;
    try {
      compileGoRegexp(re);
    } catch (e) {
      // Go's RE2 syntax and error text, as Consul's regexp.Compile gives them.
      throw new HttpError(
        500,
        `Invalid ${what} filter: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  };
  compile('node', node);
  compile('service', service);
  compile('tag', tag);
}

async function eventFire(ctx: Ctx): Promise<Answer> {
  const name = ctx.path.slice(FIRE_PREFIX.length);
  if (name === '') throw badRequest('Missing name');
  const nodeFilter = qget(ctx.query, 'node');
  const serviceFilter = qget(ctx.query, 'service');
  const tagFilter = qget(ctx.query, 'tag');
  const payload = await readBody(ctx.request.raw, EVENT_MAX_BODY_BYTES);
  validateFilters(nodeFilter, serviceFilter, tagFilter);
  checkDatacenter(ctx.query, ctx.agent);
  let ev: UserEventInfo;
  try {
    ev = await ctx.agent.fireEvent({ name, payload, nodeFilter, serviceFilter, tagFilter });
  } catch (e) {
    // EventFire answers every failure to fire with 500 and its text (an oversized event
    // included), where other endpoints would map a refused argument to 400.
    if (isBackendError(e, 'BAD_REQUEST')) throw new HttpError(500, e.message);
    throw e;
  }
  return json(userEventJson(ev));
}

/** The events to list and the index they give. */
function listed(events: readonly UserEventInfo[], name: string): [UserEventInfo[], bigint] {
  const out = name === '' ? [...events] : events.filter((e) => e.Name === name);
  const last = out[out.length - 1];
  // A non-zero index when nothing matches keeps watchers from spinning.
  return [out, last === undefined ? 1n : uuidToUint64(last.ID)];
}

/**
 * How long a blocking list may wait (ms): `?wait=` capped at the maximum, and the maximum
 * when absent or zero (Consul's EventList, unlike blockingQuery, applies no default or jitter).
 */
function eventWaitMs(ctx: Ctx): number {
  const max = ctx.limits.maxQueryTimeMs;
  const wait = qget(ctx.query, 'wait');
  const ms = wait === '' ? 0 : (parseGoDuration(wait) ?? 0);
  return ms <= 0 || ms > max ? max : ms;
}

async function eventList(ctx: Ctx): Promise<Answer> {
  // Validates ?wait and ?index with Consul's texts; the index is then read exactly (uint64).
  parseWait(ctx.query, ctx.limits);
  const rawIndex = qget(ctx.query, 'index');
  const minIndex = rawIndex === '' ? 0n : BigInt(rawIndex);
  const name = qget(ctx.query, 'name');
  let [events, index] = listed(ctx.agent.events(), name);
  if (minIndex > 0n && index === minIndex) {
    const deadline = Date.now() + eventWaitMs(ctx);
    while (index === minIndex) {
      const woke = await waitForEvent(ctx, deadline - Date.now());
      [events, index] = listed(ctx.agent.events(), name);
      if (!woke) break;
    }
  }
  ctx.reply.header('X-Consul-Index', index.toString());
  return json(events.map(userEventJson));
}

/**
 * Waits for the agent's next user event: true when one arrived, false when `ms` passed.
 * Throws {@link ClientGone} when the client left. Holds one timer and one listener, both
 * released however the wait ends.
 */
async function waitForEvent(ctx: Ctx, ms: number): Promise<boolean> {
  if (ms <= 0) return false;
  if (ctx.signal.aborted) throw new ClientGone();
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), ms).unref();
  const onGone = (): void => stop.abort();
  ctx.signal.addEventListener('abort', onGone, { once: true });
  try {
    const fired = await ctx.agent.waitEvent(stop.signal);
    if (ctx.signal.aborted) throw new ClientGone();
    return fired;
  } finally {
    clearTimeout(timer);
    ctx.signal.removeEventListener('abort', onGone);
  }
}

/** Consul's agent/http_register.go entries for /v1/event. */
export const EVENT_ENDPOINTS: readonly Endpoint[] = [
  { path: FIRE_PREFIX, methods: ['PUT'], readsBody: true, prefix: true, handler: eventFire },
  { path: '/v1/event/list', methods: ['GET'], handler: eventList },
];
