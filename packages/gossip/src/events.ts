/**
 * User events, as serf layers them on memberlist: a name and a small payload, stamped with
 * a Lamport time, gossiped through the same broadcast queue as membership news, and
 * delivered once per node thanks to a bounded buffer of recent events keyed by Lamport
 * time (serf's eventBuffer): an event is a duplicate when an event with the same
 * (ltime, name, payload) was already seen; events older than the buffer window, or below
 * the minimum time set when joining with "ignore old events", are dropped.
 */
import type { UserEventRecord } from './messages.js';

/** serf's LamportClock. */
export class LamportClock {
  #counter = 0;

  /** The current time (the ltime the next local event will carry). */
  time(): number {
    return this.#counter;
  }

  /** Advances the clock and returns the new time. */
  increment(): number {
    return ++this.#counter;
  }

  /** Witnesses a time seen from another node: our clock becomes at least v + 1. */
  witness(v: number): void {
    if (v < this.#counter) return;
    this.#counter = v + 1;
  }
}

interface Slot {
  readonly ltime: number;
  readonly events: { readonly name: string; readonly payload: Uint8Array }[];
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class UserEvents {
  readonly clock = new LamportClock();
  readonly #buffer: (Slot | undefined)[];
  /** Events below this Lamport time are ignored (set by a join that ignores old events). */
  #minTime = 0;

  constructor(bufferSize: number) {
    this.#buffer = new Array<Slot | undefined>(bufferSize).fill(undefined);
  }

  get minTime(): number {
    return this.#minTime;
  }

  /** Stamps a new local event: serf takes the current time, then increments the clock. */
  stamp(): number {
    const ltime = this.clock.time();
    this.clock.increment();
    return ltime;
  }

  /**
   * serf's handleUserEvent: witnesses the event's time, drops it when too old or already
   * seen, otherwise records it. Returns true when the event is new (deliver + rebroadcast).
   */
  handle(e: UserEventRecord): boolean {
    this.clock.witness(e.ltime);
    if (e.ltime < this.#minTime) return false;
    const size = this.#buffer.length;
    const cur = this.clock.time();
    if (cur > size && e.ltime < cur - size) return false;
    const idx = e.ltime % size;
    let slot = this.#buffer[idx];
    if (slot !== undefined && slot.ltime === e.ltime) {
      for (const prev of slot.events) {
        if (prev.name === e.name && equalBytes(prev.payload, e.payload)) return false;
      }
    } else {
      slot = { ltime: e.ltime, events: [] };
      this.#buffer[idx] = slot;
    }
    slot.events.push({ name: e.name, payload: e.payload });
    return true;
  }

  /** The buffered recent events, oldest Lamport time first (for push-pull). */
  recent(): UserEventRecord[] {
    const slots = this.#buffer.filter((s): s is Slot => s !== undefined);
    slots.sort((a, b) => a.ltime - b.ltime);
    const out: UserEventRecord[] = [];
    for (const s of slots) {
      for (const e of s.events) out.push({ ltime: s.ltime, name: e.name, payload: e.payload });
    }
    return out;
  }

  /**
   * Merges a remote push-pull's event state (serf's MergeRemoteState): witnesses its
   * clock (minus one: no event with that time was sent yet), on a join that ignores old
   * events raises the minimum time, then replays its events. Returns the new ones.
   */
  mergeRemote(
    eventLTime: number,
    events: readonly UserEventRecord[],
    ignoreOld: boolean,
  ): UserEventRecord[] {
    if (eventLTime > 0) this.clock.witness(eventLTime - 1);
    if (ignoreOld && eventLTime > this.#minTime) this.#minTime = eventLTime;
    const fresh: UserEventRecord[] = [];
    for (const e of events) if (this.handle(e)) fresh.push(e);
    return fresh;
  }
}
