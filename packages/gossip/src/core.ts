/**
 * The pure SWIM + Lifeguard core: messages and time in, messages and effects out.
 *
 * Call contract (the driver is the transport + timers around it):
 *
 *   const core = new GossipCore({ name, addr, rand, preset: 'lan' });
 *   dispatch(core.start(now));
 *   // whenever a UDP packet arrives:      dispatch(core.handlePacket(fromAddr, bytes, now))
 *   // whenever a stream request arrives:  const { reply, outputs } = core.handleStream(…)
 *   //                                     write reply (if any), dispatch(outputs)
 *   // timers: after every call, (re)arm one timer at core.nextDeadline(); when it fires,
 *   //                                     dispatch(core.tick(now))
 *   // 'tcp-ping' output:   connect, send request, read one message →
 *   //                      dispatch(core.handleTcpPingReply(seq, replyOrUndefined, now)),
 *   //                      or, when the connection is refused (ECONNREFUSED),
 *   //                      dispatch(core.tcpPingRefused(seq, now))
 *   // 'push-pull' output:  connect, send request, read reply →
 *   //                      dispatch(core.handlePushPullReply(to, reply, now))
 *   //                      or on error dispatch(core.pushPullFailed(to, join, now))
 *   // join:   dispatch(core.join(seedAddrs, now)) and count 'push-pull-merged' outputs
 *   //         with reply = join = true; retry the join later if none arrive (driver's policy).
 *   // leave:  dispatch(core.leave(now)), keep the driver running until a
 *   //         'leave-complete' output (or a timeout of the driver's choosing), then stop.
 *
 * `now` is monotonic milliseconds; it never needs to match the wall clock. Every call
 * taking `now` first runs the work that fell due up to `now` (so a late tick is harmless),
 * then handles its input. Randomness comes only from `config.rand`. The core never
 * throws on network input: bad input becomes a 'dropped' output. API misuse (bad tags,
 * oversize events, calls after leave) throws a GossipError.
 */
import { Awareness } from './awareness.js';
import { BroadcastQueue } from './broadcast.js';
import {
  COMPOUND_HEADER_OVERHEAD,
  COMPOUND_PART_OVERHEAD,
  MAX_COMPOUND_PARTS,
  decodePacket,
  decodeStream,
  encodeCompound,
  encodeMessage,
  encodeTags,
} from './codec.js';
import { resolveConfig, type GossipConfig, type GossipConfigInput } from './config.js';
import { ErrorCode, GossipError } from './errors.js';
import { UserEvents } from './events.js';
import {
  MESSAGE_SINCE,
  MessageType,
  NodeState,
  type Message,
  type PingMsg,
  type PushPullMsg,
  type Tags,
  type UserEventRecord,
} from './messages.js';
import type { Member, Output, StreamResult } from './output.js';
import { pushPullScale } from './scale.js';
import { Membership, SELF_VSN, toMember, type NodeRecord } from './state.js';
import type { Suspicion } from './suspicion.js';

interface ProbeState {
  readonly target: string;
  readonly addr: string;
  /** The target's incarnation when the probe started (the suspicion is about it). */
  readonly incarnation: number;
  readonly seq: number;
  readonly start: number;
  /** End of the direct phase: start + probeTimeout × (health + 1). */
  readonly directDeadline: number;
  /** End of the probe: start + probeInterval × (health + 1). */
  readonly deadline: number;
  phase: 'direct' | 'indirect';
  expectedNacks: number;
  nacks: number;
  tcp: 'none' | 'pending' | 'ok' | 'failed';
  /** When the TCP ping was refused (see tcpPingRefused): the probe ends then. */
  refusedAt: number | undefined;
}

/**
 * A verification probe, beyond memberlist's protocol: a direct ping (after a probe
 * timeout, indirect pings through k members and a TCP ping) sent outside the probe loop,
 * carrying the accusation so that the accused can refute. Three uses:
 *   'final'       a suspicion's final check, run during the last check window before its
 *                 deadline; only a failed check lets the suspicion become a death;
 *   'accusation'  a push-pull peer's "dead" about a member we believe alive; only a
 *                 failed check makes us suspect it;
 *   'confirm'     an expedited confirmation: someone else's suspicion reached us, and a
 *                 failed check is our own (independent) suspect message, which shortens
 *                 every holder's Lifeguard timeout; an answered one confirms nothing.
 * Checks do not touch the Lifeguard score: they are extra probes of one member, not a
 * sample of our own health (the probe loop keeps doing that).
 */
interface Check {
  readonly kind: 'final' | 'accusation' | 'confirm';
  readonly target: string;
  readonly addr: string;
  readonly incarnation: number;
  readonly seq: number;
  /** The suspicion a 'final' or 'confirm' check is about (its outcome applies to it only). */
  readonly suspicion: Suspicion | undefined;
  directDeadline: number;
  deadline: number;
  phase: 'direct' | 'indirect';
  tcp: 'none' | 'pending' | 'ok' | 'failed';
}

/**
 * The nacks of a failed probe still on their way. A relay nacks one probe timeout after
 * our indirect ping reached it, and we sent those one probe timeout into the probe, so
 * with LAN timings (timeout = interval / 2) its nack arrives a round trip *after* the
 * probe's deadline. memberlist counts the nacks at the deadline, so every correct
 * accusation costs the accuser indirectChecks points of Lifeguard health; here the count
 * waits for the nacks (until all arrive, or one probe timeout past the deadline).
 */
interface NackTally {
  readonly seq: number;
  readonly expected: number;
  received: number;
  readonly until: number;
}

/** A ping we send on someone else's behalf (we received their IndirectPing). */
interface Relay {
  readonly originSeq: number;
  readonly originAddr: string;
  readonly nack: boolean;
  readonly deadline: number;
}

const EMPTY = new Uint8Array(0);

/**
 * Indirect pings we relay at once, at most: each lives ProbeTimeout, so an honest cluster
 * stays far below (k requests per member per probe interval); a flood is dropped.
 */
const MAX_PENDING_RELAYS = 1024;

/** Verification checks running at once, at most (beyond it, a final check fails at once). */
const MAX_PENDING_CHECKS = 256;

/** Stale-news replies remembered for throttling (one per sender and member per interval). */
const MAX_STALE_REPLIES = 4096;

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export interface JoinOptions {
  /** Do not deliver user events that happened before we joined (serf's ignoreOld). */
  readonly ignoreOldEvents?: boolean;
}

export class GossipCore {
  readonly config: GossipConfig;
  readonly #awareness: Awareness;
  readonly #queue: BroadcastQueue;
  readonly #members: Membership;
  readonly #events: UserEvents;
  #out: Output[] = [];
  #started = false;
  #now = 0;
  #seq = 0;
  #probe: ProbeState | undefined;
  #nackTally: NackTally | undefined;
  readonly #relays = new Map<number, Relay>();
  /** Verification probes in flight, by sequence number. */
  readonly #checks = new Map<number, Check>();
  /** Last stale-news reply per `${to}\0${node}` (throttle). */
  readonly #staleReplies = new Map<string, number>();
  #nextProbeAt: number | undefined;
  #nextGossipAt: number | undefined;
  #nextPushPullAt: number | undefined;
  /** An extra gossip round due at once (a failure to disseminate), beside the ticker's. */
  #urgentGossipAt: number | undefined;
  #joinIgnoreOld = false;
  #leaveComplete = false;

  constructor(input: GossipConfigInput) {
    this.config = resolveConfig(input);
    const tagBytes = encodeTags(this.config.tags).length;
    if (tagBytes > this.config.metaMaxSize) {
      throw new GossipError(
        ErrorCode.MetaTooLarge,
        `tags encode to ${tagBytes} bytes (max ${this.config.metaMaxSize})`,
      );
    }
    this.#awareness = new Awareness(this.config.awarenessMaxMultiplier);
    this.#queue = new BroadcastQueue(
      this.config.retransmitMult,
      () => this.#members.numNodes(),
      this.config.maxQueueDepth,
    );
    this.#members = new Membership({
      config: this.config,
      queue: this.#queue,
      awareness: this.#awareness,
      emit: (o) => this.#out.push(o),
      startFinalCheck: (n, t) => this.#startFinalCheck(n, t),
      staleNews: (to, node) => this.#replyStale(to, node),
      verifyAccusation: (node, inc) => this.#verifyAccusation(node, inc),
      expediteConfirmation: (n, t) => this.#expediteConfirmation(n, t),
      disseminateNow: () => {
        this.#urgentGossipAt ??= this.#now;
      },
    });
    this.#members.onLeaveBroadcastDone = () => this.#completeLeave();
    this.#events = new UserEvents(this.config.eventBufferSize);
  }

  // =====================================================================================
  // Lifecycle

  /** Announces ourselves (incarnation 1) and arms the probe, gossip and push-pull loops. */
  start(now: number): Output[] {
    if (this.#started) return [];
    this.#started = true;
    this.#now = now;
    const cfg = this.config;
    this.#members.aliveNode(
      {
        type: MessageType.Alive,
        incarnation: this.#members.nextIncarnation(),
        node: cfg.name,
        addr: cfg.addr,
        tags: cfg.tags,
        vsn: SELF_VSN,
      },
      now,
      true,
    );
    // Staggered starts (memberlist: a random offset within one interval) so that members
    // started together do not probe and gossip in lockstep.
    this.#nextProbeAt = now + cfg.rand(Math.max(1, Math.floor(cfg.probeInterval)));
    this.#nextGossipAt = now + cfg.rand(Math.max(1, Math.floor(cfg.gossipInterval)));
    if (cfg.pushPullInterval > 0) {
      this.#nextPushPullAt = now + cfg.rand(Math.max(1, Math.floor(cfg.pushPullInterval)));
    }
    return this.#flush();
  }

  /**
   * Starts a join: one push-pull (join = true) per seed address. Each successful reply,
   * given to handlePushPullReply, yields a 'push-pull-merged' output with reply = join = true.
   */
  join(seeds: readonly string[], now: number, options: JoinOptions = {}): Output[] {
    now = this.#enter(now);
    if (this.#members.hasLeft) throw new GossipError(ErrorCode.Left, 'cannot join after leave');
    this.#joinIgnoreOld = options.ignoreOldEvents ?? false;
    const request = encodeMessage(this.#localPushPull(true));
    for (const to of seeds) {
      this.#out.push({
        type: 'push-pull',
        to,
        join: true,
        request,
        deadline: now + this.config.tcpTimeout,
      });
    }
    return this.#flush();
  }

  /**
   * Graceful leave: broadcasts a dead message about ourselves with from = ourselves (the
   * leave intent; peers mark us "left"), stops probing and push-pull, keeps gossiping.
   * A 'leave-complete' output follows once the intent has been retransmitted enough (at
   * once when nobody else is alive).
   */
  leave(now: number): Output[] {
    now = this.#enter(now);
    if (this.#members.hasLeft) return this.#flush();
    this.#members.markLeft();
    const me = this.#members.self();
    this.#members.deadNode(
      { type: MessageType.Dead, incarnation: me.incarnation, node: me.name, from: me.name },
      now,
    );
    this.#probe = undefined;
    this.#checks.clear();
    this.#nextProbeAt = undefined;
    this.#nextPushPullAt = undefined;
    if (!this.#members.anyOtherAlive()) this.#completeLeave();
    return this.#flush();
  }

  /**
   * serf's RemoveFailedNode (`force-leave`): a member that failed is marked "left" here and a
   * leave intent is gossiped on its behalf, so every member (and the leader's catalog) treats
   * it as gone for good. Returns false when `name` is unknown or not failed (an alive member
   * would refute the intent; a left one has nothing to do).
   */
  forceLeave(name: string, now: number): { readonly outputs: Output[]; readonly done: boolean } {
    now = this.#enter(now);
    const state = this.#members.get(name);
    if (state === undefined || state.state !== NodeState.Dead) {
      return { outputs: this.#flush(), done: false };
    }
    this.#members.deadNode(
      { type: MessageType.Dead, incarnation: state.incarnation, node: name, from: name },
      now,
    );
    return { outputs: this.#flush(), done: true };
  }

  /** Replaces our tags; announced with a higher incarnation (peers see an 'update'). */
  setTags(tags: Tags, now: number): Output[] {
    now = this.#enter(now);
    if (this.#members.hasLeft)
      throw new GossipError(ErrorCode.Left, 'cannot update tags after leave');
    const copy = { ...tags };
    let size: number;
    try {
      size = encodeTags(copy).length;
    } catch (e) {
      throw new GossipError(
        ErrorCode.MetaTooLarge,
        'a tag key or value exceeds 255 bytes',
        undefined,
        {
          cause: e,
        },
      );
    }
    if (size > this.config.metaMaxSize) {
      throw new GossipError(
        ErrorCode.MetaTooLarge,
        `tags encode to ${size} bytes (max ${this.config.metaMaxSize})`,
      );
    }
    const me = this.#members.self();
    this.#members.aliveNode(
      {
        type: MessageType.Alive,
        incarnation: this.#members.nextIncarnation(),
        node: me.name,
        addr: me.addr,
        tags: copy,
        vsn: me.vsn,
      },
      now,
      true,
    );
    return this.#flush();
  }

  /**
   * Fires a user event: stamped with our Lamport time, delivered locally (a 'user-event'
   * output) and queued for gossip.
   */
  userEvent(name: string, payload: Uint8Array, now: number): Output[] {
    this.#enter(now);
    if (this.#members.hasLeft)
      throw new GossipError(ErrorCode.Left, 'cannot send events after leave');
    if (name === '') throw new GossipError(ErrorCode.InvalidArgument, 'event name is empty');
    const msg: Message = {
      type: MessageType.UserEvent,
      ltime: this.#events.clock.time(),
      name,
      payload: payload.slice(),
    };
    let bytes: Uint8Array;
    try {
      bytes = encodeMessage(msg);
    } catch (e) {
      throw new GossipError(ErrorCode.EventTooLarge, 'event name or payload too long', undefined, {
        cause: e,
      });
    }
    if (bytes.length > this.config.userEventSizeLimit) {
      throw new GossipError(
        ErrorCode.EventTooLarge,
        `event encodes to ${bytes.length} bytes (limit ${this.config.userEventSizeLimit})`,
      );
    }
    this.#events.stamp();
    this.#deliverUserEvent(msg, bytes);
    return this.#flush();
  }

  // =====================================================================================
  // Time

  /** Runs everything due up to `now`. */
  tick(now: number): Output[] {
    this.#enter(now);
    return this.#flush();
  }

  /** The earliest time at which tick() has work to do, or undefined when idle. */
  nextDeadline(): number | undefined {
    const d = this.#nextDue();
    return d?.at;
  }

  // =====================================================================================
  // Input

  /** A UDP packet from `from` (the transport's source address). */
  handlePacket(from: string, bytes: Uint8Array, now: number): Output[] {
    now = this.#enter(now);
    let msgs: Message[];
    try {
      msgs = decodePacket(bytes);
    } catch (e) {
      this.#drop(from, e);
      return this.#flush();
    }
    for (const m of msgs) this.#handleMessage(from, m, now);
    return this.#flush();
  }

  /** A stream (TCP) request: a TCP ping, a push-pull or a user event. */
  handleStream(from: string, bytes: Uint8Array, now: number): StreamResult {
    now = this.#enter(now);
    let m: Message;
    try {
      m = decodeStream(bytes);
    } catch (e) {
      this.#drop(from, e);
      return { reply: undefined, outputs: this.#flush() };
    }
    let reply: Uint8Array | undefined;
    switch (m.type) {
      case MessageType.Ping:
        if (m.target === '' || m.target === this.config.name) {
          reply = encodeMessage({ type: MessageType.Ack, seq: m.seq, payload: EMPTY });
        } else {
          this.#log('debug', `stream ping for unexpected node ${m.target}`);
        }
        break;
      case MessageType.PushPull:
        // memberlist answers with its own state first, then merges the remote one.
        reply = encodeMessage(this.#localPushPull(m.join));
        this.#mergePushPull(from, m, false, false, now);
        break;
      case MessageType.UserEvent:
        this.#receiveUserEvent(m);
        break;
      default:
        this.#drop(
          from,
          new GossipError(ErrorCode.Malformed, `message type ${m.type} is not a stream request`),
        );
    }
    return { reply, outputs: this.#flush() };
  }

  /** The outcome of a 'tcp-ping' output: the reply bytes, or undefined on any failure. */
  handleTcpPingReply(seq: number, reply: Uint8Array | undefined, now: number): Output[] {
    this.#enter(now);
    const c = this.#checks.get(seq);
    if (c !== undefined && c.tcp === 'pending') {
      let ok = false;
      if (reply !== undefined) {
        try {
          const m = decodeStream(reply);
          ok = m.type === MessageType.Ack && m.seq === seq;
        } catch (e) {
          this.#drop(c.addr, e);
        }
      }
      c.tcp = ok ? 'ok' : 'failed';
      if (ok) this.#checkAnswered(c, this.#now);
      return this.#flush();
    }
    const p = this.#probe;
    if (p === undefined || p.seq !== seq || p.tcp !== 'pending') return this.#flush();
    if (reply === undefined) {
      p.tcp = 'failed';
      return this.#flush();
    }
    try {
      const m = decodeStream(reply);
      p.tcp = m.type === MessageType.Ack && m.seq === seq ? 'ok' : 'failed';
    } catch (e) {
      p.tcp = 'failed';
      this.#drop(p.addr, e);
    }
    return this.#flush();
  }

  /**
   * A 'tcp-ping' output's connection was refused (ECONNREFUSED): the target's host
   * answered, and nothing listens at the member's address. Every member listens on TCP
   * where it listens on UDP, so its process is gone (crashed, killed, exited). Beyond
   * memberlist, which waits out the probe: the probe (or check) fails at once instead of
   * at its deadline, so a crash is suspected up to half a probe interval sooner. A slow
   * or stopped process keeps its listening socket (its kernel accepts connections for
   * it), so this never hastens the accusation of a slow member; nor does it shorten any
   * suspicion timeout. Any other failure goes to handleTcpPingReply(seq, undefined).
   */
  tcpPingRefused(seq: number, now: number): Output[] {
    this.#enter(now);
    const c = this.#checks.get(seq);
    if (c !== undefined && c.tcp === 'pending') {
      c.tcp = 'failed';
      if (c.phase === 'indirect' && c.deadline > this.#now) c.deadline = this.#now;
      return this.#flush();
    }
    const p = this.#probe;
    if (p !== undefined && p.seq === seq && p.tcp === 'pending') {
      p.tcp = 'failed';
      p.refusedAt = this.#now;
      this.#log('debug', `TCP ping of ${p.target} refused: nothing listens at ${p.addr}`);
    }
    return this.#flush();
  }

  /** The reply to a 'push-pull' output. */
  handlePushPullReply(from: string, bytes: Uint8Array, now: number): Output[] {
    now = this.#enter(now);
    let m: Message;
    try {
      m = decodeStream(bytes);
    } catch (e) {
      this.#drop(from, e);
      return this.#flush();
    }
    if (m.type !== MessageType.PushPull) {
      this.#drop(
        from,
        new GossipError(ErrorCode.Malformed, `expected push-pull, got type ${m.type}`),
      );
      return this.#flush();
    }
    this.#mergePushPull(from, m, true, m.join && this.#joinIgnoreOld, now);
    return this.#flush();
  }

  /** A 'push-pull' output failed (connect, write, read or decode): informative only. */
  pushPullFailed(to: string, join: boolean, now: number): Output[] {
    this.#enter(now);
    this.#log(join ? 'warn' : 'debug', `push-pull with ${to} failed${join ? ' (join)' : ''}`);
    return this.#flush();
  }

  // =====================================================================================
  // Queries

  /** Every member in our table (ourselves, and the dead not yet reaped), by name. */
  members(): Member[] {
    return this.#members
      .all()
      .map(toMember)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  member(name: string): Member | undefined {
    const n = this.#members.get(name);
    return n === undefined ? undefined : toMember(n);
  }

  localMember(): Member {
    return toMember(this.#members.self());
  }

  /** Members believed alive or suspect (memberlist's NumMembers), ourselves included. */
  numAlive(): number {
    return this.#members
      .all()
      .filter((n) => n.state === NodeState.Alive || n.state === NodeState.Suspect).length;
  }

  /** Every member in the table (memberlist's estNumNodes: the N of all the formulas). */
  numNodes(): number {
    return this.#members.numNodes();
  }

  /** Lifeguard health score (0 = healthy; multiplier = score + 1). */
  healthScore(): number {
    return this.#awareness.score;
  }

  /** Our user-event Lamport clock. */
  eventTime(): number {
    return this.#events.clock.time();
  }

  /** Broadcasts waiting for (re)transmission. */
  pendingBroadcasts(): number {
    return this.#queue.length;
  }

  /** Queue contents in send order, for tests and debugging. */
  queueSnapshot(): { name: string | undefined; transmits: number; size: number }[] {
    return this.#queue.snapshot();
  }

  /** The suspicion deadline and confirmations for a suspect member, if any. */
  suspicionOf(name: string): { deadline: number; confirmations: number; k: number } | undefined {
    const s = this.#members.suspicion(name);
    return s === undefined
      ? undefined
      : { deadline: s.deadline(), confirmations: s.confirmations, k: s.k };
  }

  hasLeft(): boolean {
    return this.#members.hasLeft;
  }

  /** The local push-pull message, encoded (a driver may serve it to diagnostics). */
  localState(join = false): Uint8Array {
    return encodeMessage(this.#localPushPull(join));
  }

  // =====================================================================================
  // Internals: scheduling

  /** Runs due work up to `now`; returns the effective time (never earlier than before). */
  #enter(now: number): number {
    if (!this.#started) throw new GossipError(ErrorCode.NotStarted, 'call start(now) first');
    if (now > this.#now) this.#now = now;
    this.#runDue(this.#now);
    return this.#now;
  }

  /**
   * Ends a call: runs what its input made due at once (an urgent gossip round, a final
   * check whose window a confirmation opened), then hands over the outputs.
   */
  #flush(): Output[] {
    if (this.#started) this.#runDue(this.#now);
    const out = this.#out;
    this.#out = [];
    return out;
  }

  #nextDue(): { at: number; kind: number } | undefined {
    let best: { at: number; kind: number } | undefined;
    const consider = (at: number | undefined, kind: number): void => {
      if (at === undefined) return;
      if (best === undefined || at < best.at || (at === best.at && kind < best.kind)) {
        best = { at, kind };
      }
    };
    const p = this.#probe;
    if (p !== undefined) {
      consider(p.phase === 'direct' ? p.directDeadline : (p.refusedAt ?? p.deadline), 0);
    }
    for (const r of this.#relays.values()) consider(r.deadline, 1);
    for (const c of this.#checks.values()) {
      consider(this.#checkDue(c), 2);
    }
    consider(this.#members.nextSuspicionDeadline(this.#checkWindow()), 3);
    consider(this.#nextProbeAt, 4);
    consider(this.#nextGossipAt, 5);
    consider(this.#nextPushPullAt, 6);
    consider(this.#urgentGossipAt, 7);
    consider(this.#nackTally?.until, 8);
    return best;
  }

  #runDue(now: number): void {
    for (;;) {
      const due = this.#nextDue();
      if (due === undefined || due.at > now) return;
      const at = due.at;
      switch (due.kind) {
        case 0: {
          const p = this.#probe!;
          if (p.phase === 'direct') this.#goIndirect(p);
          else this.#concludeProbe(p, at);
          break;
        }
        case 1:
          this.#expireRelays(at);
          break;
        case 2:
          this.#runChecks(at, now);
          break;
        case 3:
          this.#members.expireSuspicions(at, this.#checkWindow());
          break;
        case 4:
          // Late (the host stalled past the probe tick): probe once, timed from now. A probe
          // dated at the missed tick would have its deadlines already past and accuse a
          // healthy target that never had a chance to answer (memberlist's ticker also
          // fires once, late, and its probe timeouts start then).
          this.#startProbe(now);
          break;
        case 5:
          this.#nextGossipAt = at + this.config.gossipInterval;
          this.#gossip(at);
          break;
        case 6:
          this.#startPushPull(at);
          break;
        case 7:
          // One extra round; the ticker's phase (and so its rate) is left as it was.
          this.#urgentGossipAt = undefined;
          this.#gossip(at);
          break;
        case 8:
          this.#settleNacks();
          break;
      }
    }
  }

  // =====================================================================================
  // Internals: probing (memberlist's probe / probeNode)

  #nextSeq(): number {
    this.#seq = (this.#seq + 1) >>> 0;
    return this.#seq;
  }

  #startProbe(now: number): void {
    const cfg = this.config;
    if (this.#members.hasLeft) {
      this.#nextProbeAt = undefined;
      return;
    }
    // Lifeguard: a node that suspects itself of being slow probes less often.
    const interval = this.#awareness.scaleTimeout(cfg.probeInterval);
    this.#nextProbeAt = now + interval;
    const target = this.#members.nextProbeTarget(now);
    if (target === undefined) return;
    const seq = this.#nextSeq();
    const timeout = this.#awareness.scaleTimeout(cfg.probeTimeout);
    this.#probe = {
      target: target.name,
      addr: target.addr,
      incarnation: target.incarnation,
      seq,
      start: now,
      directDeadline: now + timeout,
      deadline: now + interval,
      phase: 'direct',
      expectedNacks: 0,
      nacks: 0,
      tcp: 'none',
      refusedAt: undefined,
    };
    const msgs: Message[] = [this.#ping(seq, target.name)];
    // A suspect target hears the accusation with the ping, so that it can refute.
    if (target.state === NodeState.Suspect) {
      msgs.push({
        type: MessageType.Suspect,
        incarnation: target.incarnation,
        node: target.name,
        from: cfg.name,
      });
    }
    this.#send(target.addr, msgs);
  }

  #ping(seq: number, target: string): PingMsg {
    return {
      type: MessageType.Ping,
      seq,
      target,
      sourceAddr: this.config.addr,
      sourceNode: this.config.name,
    };
  }

  /** Direct probe timed out: ask k members to probe, and ask the transport for TCP. */
  #goIndirect(p: ProbeState): void {
    p.phase = 'indirect';
    p.expectedNacks += this.#sendIndirect(p);
    if (!this.config.disableTcpPings) p.tcp = 'pending';
  }

  /**
   * The indirect phase of a probe or check: indirect pings through k alive members, and a
   * TCP ping request unless disabled. Returns the number of nacks to expect.
   */
  #sendIndirect(p: {
    readonly target: string;
    readonly addr: string;
    readonly seq: number;
    readonly deadline: number;
  }): number {
    const cfg = this.config;
    let expectedNacks = 0;
    const peers = this.#members.kRandomNodes(
      cfg.indirectChecks,
      (n) => n.name !== cfg.name && n.name !== p.target && n.state === NodeState.Alive,
    );
    for (const peer of peers) {
      const nack = peer.vsn.max >= MESSAGE_SINCE[MessageType.Nack];
      if (nack) expectedNacks++;
      this.#send(peer.addr, [
        {
          type: MessageType.IndirectPing,
          seq: p.seq,
          target: p.target,
          targetAddr: p.addr,
          nack,
          sourceAddr: cfg.addr,
          sourceNode: cfg.name,
        },
      ]);
    }
    if (!cfg.disableTcpPings) {
      this.#out.push({
        type: 'tcp-ping',
        to: p.addr,
        node: p.target,
        seq: p.seq,
        request: encodeMessage(this.#ping(p.seq, p.target)),
        deadline: p.deadline,
      });
    }
    return expectedNacks;
  }

  /** Probe succeeded (any ack, direct or relayed). */
  #probeAcked(): void {
    this.#probe = undefined;
    this.#awareness.applyDelta(-1);
  }

  /** The probe's deadline passed without an ack. */
  #concludeProbe(p: ProbeState, at: number): void {
    this.#probe = undefined;
    if (p.tcp === 'ok') {
      this.#log(
        'warn',
        `was able to connect to ${p.target} over TCP but UDP probes failed, network may be misconfigured`,
      );
      this.#awareness.applyDelta(-1);
      return;
    }
    // Lifeguard: missing nacks mean *we* may be the one with the problem (counted once
    // the late ones had their chance: see NackTally).
    if (p.expectedNacks === 0) {
      this.#awareness.applyDelta(1);
    } else if (p.nacks < p.expectedNacks) {
      this.#settleNacks();
      this.#nackTally = {
        seq: p.seq,
        expected: p.expectedNacks,
        received: p.nacks,
        until: Math.max(at, p.deadline) + this.#awareness.scaleTimeout(this.config.probeTimeout),
      };
    }
    this.#log('info', `suspect ${p.target} has failed, no acks received`);
    this.#members.suspectNode(
      {
        type: MessageType.Suspect,
        incarnation: p.incarnation,
        node: p.target,
        from: this.config.name,
      },
      at,
    );
  }

  /** Applies the Lifeguard penalty of the pending nack tally, if any (see NackTally). */
  #settleNacks(): void {
    const t = this.#nackTally;
    if (t === undefined) return;
    this.#nackTally = undefined;
    if (t.received < t.expected) this.#awareness.applyDelta(t.expected - t.received);
  }

  // =====================================================================================
  // Internals: verification checks (beyond memberlist; see Check)

  /**
   * How long a check lasts (and so how early before a suspicion's deadline its final
   * check starts): one probe interval, scaled by our Lifeguard multiplier like the probe
   * loop's, so that a death is normally declared exactly at the suspicion deadline, as
   * memberlist does, and crash detection keeps its timing.
   */
  #checkWindow(): number {
    return this.#awareness.scaleTimeout(this.config.probeInterval);
  }

  /** Membership's hook: the suspicion `t` of `n` reached its check window. */
  #startFinalCheck(n: NodeRecord, t: Suspicion): boolean {
    return this.#startCheck('final', n, n.incarnation, t);
  }

  /**
   * Membership's hook: someone else's accusation started the suspicion `t` of `n`. Probe
   * it now (the check carries the accusation, so a live suspect refutes at once); a
   * failure confirms `t` (see 'confirm' in Check). Skipped when a check of `n` is already
   * running (its own outcome will speak) or none can run.
   */
  #expediteConfirmation(n: NodeRecord, t: Suspicion): void {
    for (const c of this.#checks.values()) if (c.target === n.name) return;
    this.#startCheck('confirm', n, n.incarnation, t);
  }

  /** Membership's hook: a push-pull peer holds `node` dead at `incarnation`. */
  #verifyAccusation(node: string, incarnation: number): void {
    for (const c of this.#checks.values()) if (c.target === node) return;
    const n = this.#members.get(node);
    if (n === undefined) return;
    if (this.#startCheck('accusation', n, incarnation, undefined)) return;
    // No check possible (leaving, or too many at once): memberlist's behaviour.
    this.#members.suspectNode(
      { type: MessageType.Suspect, incarnation, node, from: this.config.name },
      this.#now,
    );
  }

  /** The check packet: the accusation first, then the ping (see #startCheck). */
  #sendCheck(c: Check): void {
    this.#sendToAccused(c.addr, [
      {
        type: MessageType.Suspect,
        incarnation: c.incarnation,
        node: c.target,
        from: this.config.name,
      },
      this.#ping(c.seq, c.target),
    ]);
  }

  #startCheck(
    kind: Check['kind'],
    n: NodeRecord,
    incarnation: number,
    suspicion: Suspicion | undefined,
  ): boolean {
    if (this.#members.hasLeft || this.#checks.size >= MAX_PENDING_CHECKS) return false;
    const now = this.#now;
    const seq = this.#nextSeq();
    const c: Check = {
      kind,
      target: n.name,
      addr: n.addr,
      incarnation,
      seq,
      suspicion,
      directDeadline: now + this.#awareness.scaleTimeout(this.config.probeTimeout),
      deadline: now + this.#checkWindow(),
      phase: 'direct',
      tcp: 'none',
    };
    this.#checks.set(seq, c);
    this.#log('debug', `${kind} check of ${n.name} (incarnation ${incarnation})`);
    // The accusation goes first, so that the accused refutes before it answers the ping
    // and its refutation (a fresh broadcast, first in its queue) rides on the ack; a
    // stale accusation is answered with its current alive (Membership's staleNews).
    this.#sendCheck(c);
    return true;
  }

  /**
   * When check `c` is next due. A final check started before a confirmation pulled its
   * suspicion's deadline in ends at that deadline, so that it never delays a death the
   * formula has due (memberlist's timer fires at once when a confirmation makes the
   * remaining time negative), but not before the relays had their full probe timeout to
   * answer: a check is a whole probe, never a direct ping alone.
   */
  #checkDue(c: Check): number {
    if (c.phase === 'direct') return c.directDeadline;
    if (c.kind !== 'final' || c.suspicion === undefined) return c.deadline;
    const floor = c.directDeadline + this.config.probeTimeout;
    return Math.min(c.deadline, Math.max(c.suspicion.deadline(), floor));
  }

  /**
   * Check deadlines due at `at` (run at `now`): direct → indirect, indirect → failed. A
   * deadline found long past (we were stalled: SIGSTOP, a CPU-starved host) does not fail
   * the check: the answers may be waiting, unread, in our own input, and a death declared
   * now would be at the member's current incarnation, accepted by everyone. The check
   * starts over from now instead (same sequence number, so a late answer still counts).
   */
  #runChecks(at: number, now: number): void {
    const slack = this.#awareness.scaleTimeout(this.config.probeTimeout);
    for (const c of [...this.#checks.values()]) {
      const due = this.#checkDue(c);
      if (due > at) continue;
      if (now - due > slack) {
        c.phase = 'direct';
        c.directDeadline = now + slack;
        c.deadline = now + this.#checkWindow();
        this.#log('debug', `${c.kind} check of ${c.target} restarted after a stall`);
        this.#sendCheck(c);
        continue;
      }
      if (c.phase === 'direct') {
        c.phase = 'indirect';
        this.#sendIndirect(c);
        if (!this.config.disableTcpPings) c.tcp = 'pending';
        continue;
      }
      this.#checks.delete(c.seq);
      this.#log('info', `${c.kind} check of ${c.target} failed, no acks received`);
      if (c.kind === 'final') {
        if (c.suspicion !== undefined) this.#members.finalCheckFailed(c.target, c.suspicion, at);
      } else if (c.kind === 'confirm') {
        // Only the suspicion it was started for (not one refuted and renewed since).
        if (c.suspicion !== undefined && this.#members.suspicion(c.target) === c.suspicion) {
          this.#members.suspectNode(
            {
              type: MessageType.Suspect,
              incarnation: c.incarnation,
              node: c.target,
              from: this.config.name,
            },
            at,
          );
        }
      } else {
        this.#members.suspectNode(
          {
            type: MessageType.Suspect,
            incarnation: c.incarnation,
            node: c.target,
            from: this.config.name,
          },
          at,
        );
      }
    }
  }

  /** A check was answered: the target is alive right now. */
  #checkAnswered(c: Check, now: number): void {
    this.#checks.delete(c.seq);
    if (c.kind === 'final' && c.suspicion !== undefined) {
      this.#members.finalCheckPassed(c.target, c.suspicion, now);
    } else {
      // 'confirm': the suspicion stays (its final check decides), but is not confirmed by
      // us; the accused, told of the accusation, refutes.
      this.#log('info', `accusation of ${c.target} not confirmed: it answered`);
    }
  }

  /** Membership's hook: `to` sent news about `node` older than ours; tell it (throttled). */
  #replyStale(to: string, node: string): void {
    const key = `${to}\0${node}`;
    const last = this.#staleReplies.get(key);
    const now = this.#now;
    if (last !== undefined && now - last < this.config.probeInterval) return;
    const msg = this.#members.aliveOf(node);
    if (msg === undefined) return;
    // Only to a member's address: a forged source must not aim our replies at a stranger.
    if (!this.#members.all().some((n) => n.addr === to && n.name !== this.config.name)) return;
    if (this.#staleReplies.size >= MAX_STALE_REPLIES) {
      for (const [k, t] of this.#staleReplies) {
        if (now - t >= this.config.probeInterval) this.#staleReplies.delete(k);
      }
      if (this.#staleReplies.size >= MAX_STALE_REPLIES) return;
    }
    this.#staleReplies.set(key, now);
    this.#log('debug', `telling ${to} the current alive of ${node} (it sent older news)`);
    this.#send(to, [msg]);
  }

  #expireRelays(now: number): void {
    for (const [seq, r] of [...this.#relays.entries()]) {
      if (r.deadline > now) continue;
      this.#relays.delete(seq);
      if (r.nack) this.#send(r.originAddr, [{ type: MessageType.Nack, seq: r.originSeq }]);
    }
  }

  // =====================================================================================
  // Internals: dissemination

  /** Sends messages in one packet, filling the rest of the budget with broadcasts. */
  #send(to: string, msgs: readonly Message[]): void {
    const own = msgs.map((m) => encodeMessage(m));
    const budget = this.config.udpBufferSize - this.config.reservedPacketBytes;
    let used = COMPOUND_HEADER_OVERHEAD;
    for (const b of own) used += COMPOUND_PART_OVERHEAD + b.length;
    const extra = this.#queue
      .getBroadcasts(COMPOUND_PART_OVERHEAD, budget - used, MAX_COMPOUND_PARTS - own.length)
      // A reply carrying news we also have queued (a stale-news reply) says it once.
      .filter((b) => !own.some((o) => bytesEqual(o, b)));
    this.#emitPacket(to, [...own, ...extra]);
  }

  /**
   * Sends messages to a member outside the probe loop (a check, a relayed ping), without
   * piggybacked broadcasts. Such a member did not answer somebody's probe and is likely
   * gone: each broadcast piggybacked on a packet to it would spend one of its few
   * (retransmit-limited) transmissions on the void. memberlist piggybacks on every packet;
   * with one expedited check per member and suspicion, each with k relayed pings, that
   * starved news gossiped at the same time (a leave intent, in the simulation) of its
   * audience.
   */
  #sendToAccused(to: string, msgs: readonly Message[]): void {
    this.#emitPacket(
      to,
      msgs.map((m) => encodeMessage(m)),
    );
  }

  #emitPacket(to: string, parts: readonly Uint8Array[]): void {
    const packet = encodeCompound(parts);
    this.#out.push({ type: 'udp', to, packet, messages: decodePacket(packet) });
  }

  /** memberlist's gossip: flush broadcasts to GossipNodes random members. */
  #gossip(now: number): void {
    if (this.#queue.length === 0) return;
    const cfg = this.config;
    const targets = this.#members.kRandomNodes(cfg.gossipNodes, (n) => {
      if (n.name === cfg.name) return false;
      if (n.state === NodeState.Alive || n.state === NodeState.Suspect) return true;
      // Keep telling the recently dead, so that a falsely accused member learns it.
      if (n.state === NodeState.Dead) return now - n.stateChange <= cfg.gossipToTheDeadTime;
      return false;
    });
    const budget = cfg.udpBufferSize - cfg.reservedPacketBytes - COMPOUND_HEADER_OVERHEAD;
    for (const t of targets) {
      const msgs = this.#queue.getBroadcasts(COMPOUND_PART_OVERHEAD, budget, MAX_COMPOUND_PARTS);
      if (msgs.length === 0) return;
      this.#emitPacket(t.addr, msgs);
    }
  }

  #startPushPull(now: number): void {
    const cfg = this.config;
    if (this.#members.hasLeft || cfg.pushPullInterval <= 0) {
      this.#nextPushPullAt = undefined;
      return;
    }
    this.#nextPushPullAt = now + pushPullScale(cfg.pushPullInterval, this.#members.numNodes());
    const [peer] = this.#members.kRandomNodes(
      1,
      (n) => n.name !== cfg.name && n.state === NodeState.Alive,
    );
    if (peer === undefined) return;
    this.#out.push({
      type: 'push-pull',
      to: peer.addr,
      join: false,
      request: encodeMessage(this.#localPushPull(false)),
      deadline: now + cfg.tcpTimeout,
    });
  }

  #localPushPull(join: boolean): PushPullMsg {
    return {
      type: MessageType.PushPull,
      join,
      nodes: this.#members.localState(),
      eventLTime: this.#events.clock.time(),
      events: this.#events.recent(),
    };
  }

  #mergePushPull(
    from: string,
    m: PushPullMsg,
    reply: boolean,
    ignoreOldEvents: boolean,
    now: number,
  ): void {
    this.#members.mergeState(m.nodes, now);
    const fresh = this.#events.mergeRemote(m.eventLTime, m.events, ignoreOldEvents);
    for (const e of fresh) this.#emitUserEvent(e);
    this.#out.push({ type: 'push-pull-merged', from, join: m.join, reply, nodes: m.nodes.length });
  }

  // =====================================================================================
  // Internals: messages

  #handleMessage(from: string, m: Message, now: number): void {
    const cfg = this.config;
    switch (m.type) {
      case MessageType.Ping: {
        if (m.target !== '' && m.target !== cfg.name) {
          this.#log('debug', `got ping for unexpected node '${m.target}' from ${from}`);
          return;
        }
        this.#send(m.sourceAddr !== '' ? m.sourceAddr : from, [
          { type: MessageType.Ack, seq: m.seq, payload: EMPTY },
        ]);
        return;
      }
      case MessageType.IndirectPing: {
        if (this.#relays.size >= MAX_PENDING_RELAYS) {
          this.#drop(
            from,
            new GossipError(ErrorCode.Oversized, `${MAX_PENDING_RELAYS} indirect pings pending`),
          );
          return;
        }
        const seq = this.#nextSeq();
        this.#relays.set(seq, {
          originSeq: m.seq,
          originAddr: m.sourceAddr !== '' ? m.sourceAddr : from,
          nack: m.nack,
          deadline: now + cfg.probeTimeout,
        });
        this.#sendToAccused(m.targetAddr, [this.#ping(seq, m.target)]);
        return;
      }
      case MessageType.Ack: {
        const p = this.#probe;
        if (p !== undefined && p.seq === m.seq) {
          this.#probeAcked();
          return;
        }
        const c = this.#checks.get(m.seq);
        if (c !== undefined) {
          this.#checkAnswered(c, now);
          return;
        }
        const r = this.#relays.get(m.seq);
        if (r !== undefined) {
          this.#relays.delete(m.seq);
          this.#send(r.originAddr, [
            { type: MessageType.Ack, seq: r.originSeq, payload: m.payload },
          ]);
        }
        return;
      }
      case MessageType.Nack: {
        const p = this.#probe;
        if (p !== undefined && p.seq === m.seq && p.phase === 'indirect') p.nacks++;
        const t = this.#nackTally;
        if (t !== undefined && t.seq === m.seq && ++t.received >= t.expected) this.#settleNacks();
        return;
      }
      case MessageType.Suspect:
        this.#members.suspectNode(m, now, from);
        return;
      case MessageType.Alive:
        this.#members.aliveNode(m, now, false);
        return;
      case MessageType.Dead:
        this.#members.deadNode(m, now, from);
        return;
      case MessageType.UserEvent:
        this.#receiveUserEvent(m);
        return;
      case MessageType.PushPull:
      case MessageType.Compound:
        this.#drop(
          from,
          new GossipError(ErrorCode.Malformed, `message type ${m.type} is not allowed in a packet`),
        );
        return;
    }
  }

  #receiveUserEvent(m: UserEventRecord): void {
    if (!this.#events.handle(m)) return;
    const msg: Message = {
      type: MessageType.UserEvent,
      ltime: m.ltime,
      name: m.name,
      payload: m.payload,
    };
    this.#emitUserEvent(m);
    this.#queue.queue({ msg: encodeMessage(msg) });
  }

  /** A locally created event: record (dedup buffer), deliver, broadcast. */
  #deliverUserEvent(m: UserEventRecord, bytes: Uint8Array): void {
    if (!this.#events.handle(m)) return;
    this.#emitUserEvent(m);
    this.#queue.queue({ msg: bytes });
  }

  #emitUserEvent(e: UserEventRecord): void {
    this.#out.push({ type: 'user-event', ltime: e.ltime, name: e.name, payload: e.payload });
  }

  #completeLeave(): void {
    if (this.#leaveComplete) return;
    this.#leaveComplete = true;
    this.#out.push({ type: 'leave-complete' });
  }

  #drop(from: string, e: unknown): void {
    const error =
      e instanceof GossipError
        ? e
        : new GossipError(ErrorCode.Malformed, `unexpected failure: ${String(e)}`, undefined, {
            cause: e,
          });
    this.#out.push({ type: 'dropped', from, error });
  }

  #log(level: 'debug' | 'info' | 'warn', message: string): void {
    this.#out.push({ type: 'log', level, message });
  }
}
