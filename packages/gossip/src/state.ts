/**
 * The member table and its merge rules: memberlist's aliveNode / suspectNode / deadNode /
 * refute / mergeState, with the probe order (memberlist's m.nodes) and the suspicion
 * timers. Pure: time comes in as `now`, randomness through the config's `rand`, and every
 * consequence goes out through the host (broadcasts, subscriber events, logs).
 *
 * Precedence (per member, by incarnation number):
 *   alive(i)   is accepted when i > known incarnation (or the member is new, or reclaims a
 *              left / long-dead name from a new address); about ourselves it is refuted
 *              unless it matches us exactly.
 *   suspect(i) is accepted when i ≥ known and the member is alive; if already suspect it
 *              counts as a confirmation (Lifeguard); about ourselves it is refuted.
 *   dead(i)    is accepted when i ≥ known and the member is not already dead/left;
 *              from = node means a graceful leave ("left"), otherwise "dead" (failed);
 *              about ourselves it is refuted unless we are leaving.
 *
 * Beyond memberlist, for faster detection with the same Lifeguard formula:
 *   - a suspicion learnt from someone else is checked at once (StateHost.
 *     expediteConfirmation): a failed probe is our independent confirmation, so the
 *     timeout reaches its minimum within about one probe interval instead of waiting for
 *     round-robin probes to happen upon the suspect;
 *   - a failure, declared or learnt, is gossiped at once (StateHost.disseminateNow).
 *
 * Beyond memberlist (so that a slow-but-alive member is never declared dead; see the
 * comments on each):
 *   - a suspicion does not turn into a death on its timer alone: the host runs a final
 *     check (a direct + indirect probe) during the last check window before the deadline,
 *     and only a failed check lets the deadline declare the member dead; an answered check
 *     ends the suspicion (finalCheckPassed);
 *   - a suspect/dead message older than what we know about an alive member (ourselves
 *     included) is answered to its sender with the member's current alive message
 *     (StateHost.staleNews), so that a member that missed a refutation learns it at once;
 *   - a push-pull "dead" about a member we believe alive is not taken on trust: the host
 *     probes it first (StateHost.verifyAccusation) and only a failed probe suspects it.
 */
import type { Awareness } from './awareness.js';
import type { BroadcastQueue } from './broadcast.js';
import { encodeMessage } from './codec.js';
import type { GossipConfig } from './config.js';
import { ErrorCode, GossipError } from './errors.js';
import {
  MessageType,
  NodeState,
  NODE_STATE_NAMES,
  PROTOCOL_VERSION_MAX,
  PROTOCOL_VERSION_MIN,
  type AliveMsg,
  type DeadMsg,
  type Message,
  type PushNodeState,
  type SuspectMsg,
  type Tags,
  type Vsn,
} from './messages.js';
import type { Member, MemberEventKind, MemberStatus, Output } from './output.js';
import { suspicionTimeout } from './scale.js';
import { Suspicion } from './suspicion.js';

export interface NodeRecord {
  readonly name: string;
  addr: string;
  tags: Tags;
  vsn: Vsn;
  incarnation: number;
  state: NodeState;
  stateChange: number;
}

/** What the member table needs from its owner. */
export interface StateHost {
  readonly config: GossipConfig;
  readonly queue: BroadcastQueue;
  readonly awareness: Awareness;
  emit(o: Output): void;
  /**
   * Starts the final check of a suspicion whose check window opened. Returns false when
   * no check can run (we are leaving): the suspicion then expires on its timer alone.
   */
  startFinalCheck(node: NodeRecord, suspicion: Suspicion): boolean;
  /** `to` sent us news about `node` older than what we know: tell it the current alive. */
  staleNews(to: string, node: string): void;
  /** A push-pull peer says `node` (alive to us) is dead at `incarnation`: verify it. */
  verifyAccusation(node: string, incarnation: number): void;
  /**
   * Someone else's accusation started `suspicion` of `node`: probe it now, out of the
   * round-robin order, and confirm the suspicion (our own suspect message) if that fails.
   */
  expediteConfirmation(node: NodeRecord, suspicion: Suspicion): void;
  /** A member was just marked failed: gossip the queued news now, not at the next tick. */
  disseminateNow(): void;
}

export const SELF_VSN: Vsn = {
  min: PROTOCOL_VERSION_MIN,
  max: PROTOCOL_VERSION_MAX,
  cur: PROTOCOL_VERSION_MAX,
};

export function compatible(v: Vsn): boolean {
  return v.max >= PROTOCOL_VERSION_MIN && v.min <= PROTOCOL_VERSION_MAX;
}

export function tagsEqual(a: Tags, b: Tags): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (!Object.hasOwn(b, k) || a[k] !== b[k]) return false;
  return true;
}

export function toMember(n: NodeRecord): Member {
  return {
    name: n.name,
    addr: n.addr,
    tags: { ...n.tags },
    incarnation: n.incarnation,
    status: NODE_STATE_NAMES[n.state] as MemberStatus,
    vsn: n.vsn,
    statusChangedAt: n.stateChange,
  };
}

/**
 * Members expected to probe a suspect at once (an expedited confirmation) per
 * confirmation Lifeguard expects (k = SuspicionMult − 2): enough that k failed probes
 * reach the accuser well within the first probe intervals of the suspicion despite loss
 * and the broadcast queue keeping only the newest news about a member; few enough that a
 * suspicion in a large cluster does not bring every member's probe (and k relayed pings
 * each) down on the suspect at once: a slow member resuming would face N − 2 of them.
 * LAN (k = 2): 8 members, so every member of a cluster of ten.
 */
export const EXPEDITED_CONFIRMERS_PER_K = 4;

function deadOrLeft(n: NodeRecord): boolean {
  return n.state === NodeState.Dead || n.state === NodeState.Left;
}

export class Membership {
  readonly #host: StateHost;
  readonly #map = new Map<string, NodeRecord>();
  /** Probe order (memberlist's m.nodes): new members land at a random offset. */
  #order: NodeRecord[] = [];
  #probeIndex = 0;
  readonly #timers = new Map<string, Suspicion>();
  #incarnation = 0;
  #left = false;
  /** Called when our own leave broadcast leaves the queue. */
  onLeaveBroadcastDone: (() => void) | undefined;

  constructor(host: StateHost) {
    this.#host = host;
  }

  get selfName(): string {
    return this.#host.config.name;
  }

  get hasLeft(): boolean {
    return this.#left;
  }

  get incarnation(): number {
    return this.#incarnation;
  }

  /** memberlist's estNumNodes: every member in the table, ourselves and the dead included. */
  numNodes(): number {
    return this.#order.length;
  }

  get(name: string): NodeRecord | undefined {
    return this.#map.get(name);
  }

  self(): NodeRecord {
    const me = this.#map.get(this.selfName);
    if (me === undefined) throw new GossipError(ErrorCode.NotStarted, 'start() was not called');
    return me;
  }

  all(): readonly NodeRecord[] {
    return this.#order;
  }

  suspicion(name: string): Suspicion | undefined {
    return this.#timers.get(name);
  }

  nextIncarnation(): number {
    return ++this.#incarnation;
  }

  /** memberlist's skipIncarnation: jumps ahead by `offset`. */
  skipIncarnation(offset: number): number {
    this.#incarnation += offset;
    return this.#incarnation;
  }

  markLeft(): void {
    this.#left = true;
  }

  // -------------------------------------------------------------------------------------
  // Broadcast helpers

  #broadcast(node: string, msg: Message, finished?: () => void): void {
    const bytes = encodeMessage(msg);
    this.#host.queue.queue(
      finished === undefined ? { name: node, msg: bytes } : { name: node, msg: bytes, finished },
    );
  }

  #event(kind: MemberEventKind, n: NodeRecord): void {
    this.#host.emit({ type: 'member', kind, member: toMember(n) });
  }

  #log(level: 'debug' | 'info' | 'warn', message: string): void {
    this.#host.emit({ type: 'log', level, message });
  }

  /** Our own alive message at our current incarnation. */
  selfAlive(): AliveMsg {
    const me = this.self();
    return {
      type: MessageType.Alive,
      incarnation: me.incarnation,
      node: me.name,
      addr: me.addr,
      tags: me.tags,
      vsn: me.vsn,
    };
  }

  // -------------------------------------------------------------------------------------
  // Merge rules

  /**
   * memberlist's aliveNode. `bootstrap` is true for our own announcements (start, tags
   * update), which must not trigger a refutation.
   */
  aliveNode(a: AliveMsg, now: number, bootstrap: boolean): void {
    const cfg = this.#host.config;
    const isLocal = a.node === cfg.name;
    // A queued alive about ourselves must not re-join us after leave().
    if (this.#left && isLocal) return;
    if (!compatible(a.vsn)) {
      this.#host.emit({
        type: 'dropped',
        from: a.node,
        error: new GossipError(
          ErrorCode.UnsupportedVersion,
          `${a.node} speaks ${a.vsn.min}–${a.vsn.max}, we speak ${PROTOCOL_VERSION_MIN}–${PROTOCOL_VERSION_MAX}`,
        ),
      });
      return;
    }
    let state = this.#map.get(a.node);
    let isNew = false;
    let updatesNode = false;
    if (state === undefined) {
      // New members start "dead" so that becoming alive notifies a join (as memberlist).
      state = {
        name: a.node,
        addr: a.addr,
        tags: a.tags,
        vsn: a.vsn,
        incarnation: 0,
        state: NodeState.Dead,
        stateChange: now,
      };
      this.#map.set(a.node, state);
      // Insert at a random offset so that failure detection is evenly spread.
      const n = this.#order.length;
      const offset = n > 0 ? cfg.rand(n) : 0;
      this.#order.push(state);
      const displaced = this.#order[offset]!;
      this.#order[offset] = state;
      this.#order[n] = displaced;
      isNew = true;
    } else if (state.addr !== a.addr) {
      const canReclaim =
        cfg.deadNodeReclaimTime > 0 && now - state.stateChange > cfg.deadNodeReclaimTime;
      if (state.state === NodeState.Left || (state.state === NodeState.Dead && canReclaim)) {
        this.#log('info', `updating address for left or failed node ${a.node} to ${a.addr}`);
        updatesNode = true;
      } else {
        this.#log(
          'warn',
          `conflicting address for ${a.node}: mine ${state.addr}, theirs ${a.addr}, state ${NODE_STATE_NAMES[state.state]}`,
        );
        this.#host.emit({ type: 'conflict', existing: toMember(state), otherAddr: a.addr });
        return;
      }
    }

    // Bail if the incarnation is not newer (not about us), or older (about us).
    if (!isNew && a.incarnation <= state.incarnation && !isLocal && !updatesNode) return;
    if (!isNew && a.incarnation < state.incarnation && isLocal) return;

    // Any suspicion is over.
    this.#timers.delete(a.node);

    const oldState = state.state;
    const oldTags = state.tags;

    if (!bootstrap && isLocal && !isNew) {
      // Someone gossips about us: ignore our own news, refute anything else.
      if (
        a.incarnation === state.incarnation &&
        tagsEqual(a.tags, state.tags) &&
        a.addr === state.addr
      ) {
        return;
      }
      this.refute(state, a.incarnation);
      this.#log('warn', `refuting an alive message for ${a.node} (incarnation ${a.incarnation})`);
      return;
    }
    this.#broadcast(a.node, a);
    state.incarnation = a.incarnation;
    state.tags = a.tags;
    state.addr = a.addr;
    state.vsn = a.vsn;
    if (state.state !== NodeState.Alive) {
      state.state = NodeState.Alive;
      state.stateChange = now;
    }
    if (oldState === NodeState.Dead || oldState === NodeState.Left) this.#event('join', state);
    else if (!tagsEqual(oldTags, state.tags)) this.#event('update', state);
  }

  /**
   * memberlist's suspectNode (with Lifeguard confirmations). `replyTo`: where the message
   * came from (a packet's source), told the current alive when the accusation is stale.
   */
  suspectNode(s: SuspectMsg, now: number, replyTo?: string): void {
    const cfg = this.#host.config;
    const state = this.#map.get(s.node);
    if (state === undefined) return;
    if (s.incarnation < state.incarnation) {
      this.#stale(state, replyTo);
      return;
    }
    const timer = this.#timers.get(s.node);
    if (timer !== undefined) {
      // An independent confirmation shortens the timeout; re-gossip so others count it.
      if (timer.confirm(s.from)) this.#broadcast(s.node, s);
      return;
    }
    if (state.state !== NodeState.Alive) return;
    if (state.name === cfg.name) {
      this.refute(state, s.incarnation);
      this.#log('warn', `refuting a suspect message (from: ${s.from})`);
      return;
    }
    this.#broadcast(s.node, s);
    state.incarnation = s.incarnation;
    state.state = NodeState.Suspect;
    state.stateChange = now;

    // k confirmations expected, so that the nominal timeout is reached two probe intervals
    // short of SuspicionMult; none expected when too few other members could confirm.
    const n = this.numNodes();
    let k = cfg.suspicionMult - 2;
    if (n - 2 < k) k = 0;
    const min = suspicionTimeout(cfg.suspicionMult, n, cfg.probeInterval);
    const max = cfg.suspicionMaxTimeoutMult * min;
    const suspicion = new Suspicion(s.from, k, min, max, now);
    this.#timers.set(s.node, suspicion);
    // Someone else's accusation (not our own failed probe, nor a push-pull's suspicion,
    // merged as ours): our own probe of the suspect is an independent confirmation, worth
    // having now rather than when our round-robin reaches it (on average half a pass of
    // N − 1 probe intervals away). Once per suspicion: a new one needs a new accusation.
    // Not every member: EXPEDITED_CONFIRMERS_PER_K × k of the N − 2 others, on average.
    if (s.from !== cfg.name && k > 0) {
      const others = n - 2;
      const wanted = EXPEDITED_CONFIRMERS_PER_K * k;
      if (others <= wanted || cfg.rand(others) < wanted) {
        this.#host.expediteConfirmation(state, suspicion);
      }
    }
  }

  /** memberlist's deadNode: from = node marks a graceful leave. `replyTo`: see suspectNode. */
  deadNode(d: DeadMsg, now: number, replyTo?: string): void {
    const cfg = this.#host.config;
    const state = this.#map.get(d.node);
    if (state === undefined) return;
    if (d.incarnation < state.incarnation) {
      this.#stale(state, replyTo);
      return;
    }
    this.#timers.delete(d.node);
    if (deadOrLeft(state)) {
      // A leave intent for a member already failed (serf's force-leave, sent on its behalf by
      // an operator, or a late copy of its own): it left. Spread it so every member agrees.
      if (state.state === NodeState.Dead && d.node === d.from && state.name !== cfg.name) {
        this.#broadcast(d.node, d);
        state.incarnation = d.incarnation;
        state.state = NodeState.Left;
        state.stateChange = now;
        this.#event('leave', state);
      }
      return;
    }
    if (state.name === cfg.name) {
      if (!this.#left) {
        this.refute(state, d.incarnation);
        this.#log('warn', `refuting a dead message (from: ${d.from})`);
        return;
      }
      // Our leave intent: tell the driver when it has been gossiped enough.
      this.#broadcast(d.node, d, () => this.onLeaveBroadcastDone?.());
    } else {
      this.#broadcast(d.node, d);
    }
    state.incarnation = d.incarnation;
    state.state = d.node === d.from ? NodeState.Left : NodeState.Dead;
    state.stateChange = now;
    this.#event(state.state === NodeState.Left ? 'leave' : 'fail', state);
    // A failure is news everyone is waiting for: each member spends one extra gossip
    // round on it the moment it learns it, so it spreads at network speed (a few hops of
    // gossipNodes fan-out) rather than one gossip interval per hop. Once per member and
    // failure: a member already dead here returns above.
    if (state.state === NodeState.Dead) this.#host.disseminateNow();
  }

  /**
   * An accusation (suspect / dead) older than the incarnation we know. memberlist ignores
   * it; but its sender missed the newer alive (broadcasts are retransmit-limited, ~1.6 %
   * of them miss somebody at 50 members) and, left alone, would declare the member dead
   * at the old incarnation when its own timer runs out, or keep gossiping the stale news
   * until a push-pull (up to a minute) corrects it. So we tell the sender directly, but
   * only about a member we know alive (ourselves included): the alive message is the
   * newer truth, and an older accusation can never win against it.
   */
  #stale(state: NodeRecord, replyTo: string | undefined): void {
    if (replyTo === undefined || state.state !== NodeState.Alive) return;
    if (state.name === this.selfName && this.#left) return;
    this.#host.staleNews(replyTo, state.name);
  }

  /** The alive message for a member we know (its current incarnation, address, tags). */
  aliveOf(name: string): AliveMsg | undefined {
    if (name === this.selfName) return this.selfAlive();
    const n = this.#map.get(name);
    if (n === undefined) return undefined;
    return {
      type: MessageType.Alive,
      incarnation: n.incarnation,
      node: n.name,
      addr: n.addr,
      tags: n.tags,
      vsn: n.vsn,
    };
  }

  /** memberlist's refute: beat the accusation's incarnation, lose health, announce alive. */
  refute(me: NodeRecord, accusedInc: number): void {
    let inc = this.nextIncarnation();
    if (accusedInc >= inc) inc = this.skipIncarnation(accusedInc - inc + 1);
    me.incarnation = inc;
    // Being asked to refute is a sign that we, not our peers, may be the slow one.
    this.#host.awareness.applyDelta(1);
    this.#broadcast(me.name, this.selfAlive());
  }

  /** memberlist's mergeState: a remote full state, one member at a time. */
  mergeState(remote: readonly PushNodeState[], now: number): void {
    const self = this.selfName;
    for (const r of remote) {
      switch (r.state) {
        case NodeState.Alive:
          this.aliveNode(
            {
              type: MessageType.Alive,
              incarnation: r.incarnation,
              node: r.name,
              addr: r.addr,
              tags: r.tags,
              vsn: r.vsn,
            },
            now,
            false,
          );
          break;
        case NodeState.Left:
          this.deadNode(
            { type: MessageType.Dead, incarnation: r.incarnation, node: r.name, from: r.name },
            now,
          );
          break;
        case NodeState.Dead: {
          // A remote "dead" about a member we believe alive is not even a suspicion yet:
          // the peer may hold a stale death (declared while it was cut off, or at an
          // incarnation whose refutation it missed) and the accused, which never heard
          // it, could not refute. We probe the member first (directly and indirectly, the
          // probe telling it of the accusation) and suspect it only if that fails. A
          // member already suspect (or about ourselves: refuted) goes the usual way.
          const known = this.#map.get(r.name);
          if (
            r.name !== self &&
            known !== undefined &&
            known.state === NodeState.Alive &&
            r.incarnation >= known.incarnation
          ) {
            this.#host.verifyAccusation(r.name, r.incarnation);
            break;
          }
          this.suspectNode(
            { type: MessageType.Suspect, incarnation: r.incarnation, node: r.name, from: self },
            now,
          );
          break;
        }
        // A remote suspicion is ours too; the final check guards its expiry.
        case NodeState.Suspect:
          this.suspectNode(
            { type: MessageType.Suspect, incarnation: r.incarnation, node: r.name, from: self },
            now,
          );
          break;
      }
    }
  }

  /** Our full state for a push-pull (every member in the table). */
  localState(): PushNodeState[] {
    return this.#order.map((n) => ({
      name: n.name,
      addr: n.addr,
      tags: n.tags,
      incarnation: n.incarnation,
      state: n.state,
      vsn: n.vsn,
    }));
  }

  // -------------------------------------------------------------------------------------
  // Suspicion timers

  /**
   * When a suspicion timer next needs attention, given the final check's `window`: the
   * check's start (deadline − window) while it has not started, the deadline (or now, if
   * the check failed after it) once it failed, nothing while it runs (the check's own
   * deadlines drive it).
   */
  nextSuspicionDeadline(window: number): number | undefined {
    let next: number | undefined;
    for (const t of this.#timers.values()) {
      const d = suspicionDue(t, window);
      if (d === undefined) continue;
      if (next === undefined || d < next) next = d;
    }
    return next;
  }

  /**
   * Starts the final check of every suspicion whose check window opened (deadline −
   * window ≤ now), and declares dead every suspect whose check failed and whose deadline
   * is ≤ now (earliest first).
   */
  expireSuspicions(now: number, window: number): void {
    const due = [...this.#timers.entries()]
      .map(([name, t]) => ({ name, t, at: suspicionDue(t, window) }))
      .filter((e): e is { name: string; t: Suspicion; at: number } => e.at !== undefined)
      .filter((e) => e.at <= now)
      .sort((a, b) => a.at - b.at || (a.name < b.name ? -1 : 1));
    for (const { name, t } of due) {
      if (this.#timers.get(name) !== t) continue;
      const state = this.#map.get(name);
      if (state === undefined || state.state !== NodeState.Suspect) {
        this.#timers.delete(name);
        continue;
      }
      if (t.check === 'none') {
        t.check = 'running';
        if (this.#host.startFinalCheck(state, t)) continue;
        t.check = 'failed';
        t.checkFailedAt = now;
        if (t.deadline() > now) continue;
      }
      this.#timers.delete(name);
      this.#log(
        'info',
        `marking ${name} as failed, suspect timeout reached (${t.confirmations} peer confirmations)`,
      );
      this.deadNode(
        { type: MessageType.Dead, incarnation: state.incarnation, node: name, from: this.selfName },
        Math.max(t.deadline(), t.checkFailedAt),
      );
    }
  }

  /** The final check of `t` got no answer: the deadline may now declare the member dead. */
  finalCheckFailed(name: string, t: Suspicion, now: number): void {
    if (this.#timers.get(name) !== t || t.check !== 'running') return;
    t.check = 'failed';
    t.checkFailedAt = now;
  }

  /**
   * The final check of `t` was answered (an ack, direct, relayed or over TCP): the member
   * is alive now, so the suspicion ends. Locally only, and at the same incarnation: the
   * ack does not carry one, and the check told the accused of the accusation, so it
   * refutes with a higher incarnation that reaches everyone (its refutation rides on the
   * ack itself). A member that still holds the suspicion runs its own final check.
   */
  finalCheckPassed(name: string, t: Suspicion, now: number): void {
    if (this.#timers.get(name) !== t) return;
    this.#timers.delete(name);
    const state = this.#map.get(name);
    if (state === undefined || state.state !== NodeState.Suspect) return;
    state.state = NodeState.Alive;
    state.stateChange = now;
    this.#log('info', `suspicion of ${name} cleared: it answered the final check`);
  }

  // -------------------------------------------------------------------------------------
  // Probe order and random selection

  /**
   * memberlist's probe target selection: the next member in round-robin order that is
   * neither us nor dead/left; at the end of the list, reap members dead for longer than
   * GossipToTheDeadTime and reshuffle.
   */
  nextProbeTarget(now: number): NodeRecord | undefined {
    let numCheck = 0;
    for (;;) {
      if (numCheck >= this.#order.length) return undefined;
      if (this.#probeIndex >= this.#order.length) {
        this.resetNodes(now);
        this.#probeIndex = 0;
        numCheck++;
        continue;
      }
      const node = this.#order[this.#probeIndex]!;
      this.#probeIndex++;
      if (node.name === this.selfName || deadOrLeft(node)) {
        numCheck++;
        continue;
      }
      return node;
    }
  }

  /** memberlist's resetNodes: reap long-dead members, then shuffle the probe order. */
  resetNodes(now: number): void {
    const cfg = this.#host.config;
    const keep: NodeRecord[] = [];
    for (const n of this.#order) {
      if (
        n.name !== this.selfName &&
        deadOrLeft(n) &&
        now - n.stateChange > cfg.gossipToTheDeadTime
      ) {
        this.#map.delete(n.name);
        this.#timers.delete(n.name);
      } else {
        keep.push(n);
      }
    }
    this.#order = keep;
    shuffle(this.#order, cfg.rand);
  }

  /** Up to k distinct members chosen uniformly among those `eligible` accepts. */
  kRandomNodes(k: number, eligible: (n: NodeRecord) => boolean): NodeRecord[] {
    const pool = this.#order.filter(eligible);
    const out: NodeRecord[] = [];
    const rand = this.#host.config.rand;
    for (let i = 0; i < pool.length && out.length < k; i++) {
      const j = i + rand(pool.length - i);
      const tmp = pool[i]!;
      pool[i] = pool[j]!;
      pool[j] = tmp;
      out.push(pool[i]!);
    }
    return out;
  }

  /** Whether any other member is alive (a leave then waits for its broadcast). */
  anyOtherAlive(): boolean {
    return this.#order.some((n) => n.name !== this.selfName && !deadOrLeft(n));
  }
}

/** When a suspicion timer is next due (see Membership.nextSuspicionDeadline). */
function suspicionDue(t: Suspicion, window: number): number | undefined {
  switch (t.check) {
    case 'none':
      return Math.max(t.start, t.deadline() - window);
    case 'running':
      return undefined;
    case 'failed':
      return Math.max(t.deadline(), t.checkFailedAt);
  }
}

/** Fisher–Yates with the injected randomness. */
export function shuffle<T>(items: T[], rand: (n: number) => number): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rand(i + 1);
    const tmp = items[i]!;
    items[i] = items[j]!;
    items[j] = tmp;
  }
}
