/** Shared helpers for the gossip core tests. */
import { Prng } from '@trellis/testkit';
import {
  GossipCore,
  MessageType,
  PROTOCOL_VERSION_MAX,
  PROTOCOL_VERSION_MIN,
  encodeCompound,
  encodeMessage,
  type AliveMsg,
  type GossipConfigInput,
  type Message,
  type Output,
  type Tags,
} from '../src/index.js';

export const VSN = {
  min: PROTOCOL_VERSION_MIN,
  max: PROTOCOL_VERSION_MAX,
  cur: PROTOCOL_VERSION_MAX,
};

export type Overrides = Partial<Omit<GossipConfigInput, 'name' | 'addr' | 'rand'>>;

/** A started core named `name` at address `name`, seeded randomness. */
export function mkCore(
  name: string,
  overrides: Overrides = {},
  seed: number | string = 1,
): GossipCore {
  const prng = Prng.derive(seed, name);
  const core = new GossipCore({ name, addr: name, rand: (n) => prng.int(n), ...overrides });
  core.start(0);
  return core;
}

export function alive(node: string, incarnation = 1, tags: Tags = {}, addr = node): AliveMsg {
  return { type: MessageType.Alive, incarnation, node, addr, tags, vsn: VSN };
}

export function pkt(...msgs: Message[]): Uint8Array {
  return encodeCompound(msgs.map((m) => encodeMessage(m)));
}

/** A core that already knows `others` as alive at incarnation 1. */
export function withPeers(
  name: string,
  others: string[],
  overrides: Overrides = {},
  seed = 1,
): GossipCore {
  const core = mkCore(name, overrides, seed);
  for (const o of others) core.handlePacket(o, pkt(alive(o)), 0);
  return core;
}

export type Udp = Extract<Output, { type: 'udp' }>;

export function udps(outs: readonly Output[]): Udp[] {
  return outs.filter((o): o is Udp => o.type === 'udp');
}

/** All messages of a given type sent in these outputs, with their destination. */
export function sent<T extends Message['type']>(
  outs: readonly Output[],
  type: T,
): { to: string; msg: Extract<Message, { type: T }> }[] {
  const res: { to: string; msg: Extract<Message, { type: T }> }[] = [];
  for (const u of udps(outs)) {
    for (const m of u.messages) {
      if (m.type === type) res.push({ to: u.to, msg: m as Extract<Message, { type: T }> });
    }
  }
  return res;
}

export function memberEvents(outs: readonly Output[]): string[] {
  return outs
    .filter((o): o is Extract<Output, { type: 'member' }> => o.type === 'member')
    .map((o) => `${o.kind} ${o.member.name}`);
}

/**
 * Ticks the core deadline by deadline until `pred` holds for the outputs of one tick;
 * returns the time and those outputs. Throws after `limitMs` of core time.
 */
export function tickUntil(
  core: GossipCore,
  pred: (outs: Output[], at: number) => boolean,
  limitMs = 60_000,
  from = 0,
): { at: number; outs: Output[] } {
  for (;;) {
    const at = core.nextDeadline();
    if (at === undefined || at > from + limitMs)
      throw new Error(`condition not met by ${from + limitMs}`);
    const outs = core.tick(at);
    if (pred(outs, at)) return { at, outs };
  }
}

/** Advances the core to `t` (running everything due), returning all outputs. */
export function tickTo(core: GossipCore, t: number): Output[] {
  const all: Output[] = [];
  for (;;) {
    const at = core.nextDeadline();
    if (at === undefined || at > t) break;
    all.push(...core.tick(at));
  }
  all.push(...core.tick(t));
  return all;
}

/**
 * Advances to `t`, answering every ping the core sends (all peers healthy), except pings
 * to the members in `silent` (crashed: they never answer).
 */
export function tickAcking(core: GossipCore, t: number, silent: readonly string[] = []): Output[] {
  const all: Output[] = [];
  for (;;) {
    const at = core.nextDeadline();
    if (at === undefined || at > t) break;
    const outs = core.tick(at);
    all.push(...outs);
    for (const p of sent(outs, MessageType.Ping)) {
      if (silent.includes(p.to)) continue;
      all.push(
        ...core.handlePacket(
          p.to,
          pkt({ type: MessageType.Ack, seq: p.msg.seq, payload: new Uint8Array(0) }),
          at,
        ),
      );
    }
  }
  all.push(...core.tick(t));
  return all;
}
