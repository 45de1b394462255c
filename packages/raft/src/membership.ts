/**
 * Membership configurations and single-server changes.
 *
 * Choice: SINGLE-SERVER CHANGES (Raft dissertation §4.1), as hashicorp/raft and Consul do,
 * not joint consensus (§4.3, etcd's ConfChangeV2). Reasons:
 * - Consul's operations (autopilot adding a server as a non-voter, promoting it once
 *   healthy, removing a dead server, graceful leave) are all one server at a time; joint
 *   consensus buys only arbitrary multi-server swaps, which Consul never needs.
 * - Any two configurations that differ by one voter have overlapping majorities, so no
 *   two-phase protocol (C_old,new) is needed, and the code that counts quorums deals with a
 *   single majority: less code on the path that must be correct.
 *
 * Rules (enforced by the leader, {@link validateConfChange} plus the leader's checks):
 * - A Config entry carries the FULL resulting configuration (like hashicorp/raft), so a
 *   node takes the latest Config entry in its log as its configuration, and bootstrap is one
 *   entry. It takes effect as soon as it is APPENDED to a log (§4.1), not when committed; a
 *   follower whose log suffix is truncated reverts to the previous configuration.
 * - At most one uncommitted Config entry at a time.
 * - A leader appends a Config entry only after it has committed an entry of its own term
 *   (the fix for the single-server-change bug Ongaro reported on raft-dev, 2015).
 * - A leader removed from (or demoted in) the configuration keeps leading until the entry
 *   commits, without counting itself, then steps down (§4.2.2).
 */
import { RaftError } from './errors.js';
import {
  ConfChangeType,
  EntryType,
  type ConfChange,
  type ConfState,
  type Entry,
  type NodeId,
} from './types.js';

export interface ConfigEntryPayload {
  readonly conf: ConfState;
  /** The change that produced `conf`, or undefined for a bootstrap configuration. */
  readonly change?: ConfChange;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * Encodes a Config entry's data. Stable format: UTF-8 JSON
 * `{"v":1,"voters":[…],"learners":[…],"change":{"type":n,"nodeId":n}}` ("change" optional).
 */
export function encodeConfigEntry(p: ConfigEntryPayload): Uint8Array {
  const o: Record<string, unknown> = {
    v: 1,
    voters: [...p.conf.voters],
    learners: [...p.conf.learners],
  };
  if (p.change !== undefined) o['change'] = { type: p.change.type, nodeId: p.change.nodeId };
  return enc.encode(JSON.stringify(o));
}

export function decodeConfigEntry(data: Uint8Array): ConfigEntryPayload {
  const o = JSON.parse(dec.decode(data)) as {
    v: number;
    voters: NodeId[];
    learners: NodeId[];
    change?: { type: ConfChangeType; nodeId: NodeId };
  };
  if (o.v !== 1) throw new RaftError('ERR_INVARIANT', `unknown config entry version ${o.v}`);
  const conf = normalizeConf({ voters: o.voters, learners: o.learners });
  return o.change === undefined ? { conf } : { conf, change: o.change };
}

/** Sorted, de-duplicated copy. */
export function normalizeConf(c: ConfState): ConfState {
  const voters = [...new Set(c.voters)].sort((a, b) => a - b);
  const learners = [...new Set(c.learners)]
    .filter((l) => !voters.includes(l))
    .sort((a, b) => a - b);
  return { voters, learners };
}

export function confEquals(a: ConfState, b: ConfState): boolean {
  const x = normalizeConf(a);
  const y = normalizeConf(b);
  return (
    x.voters.length === y.voters.length &&
    x.learners.length === y.learners.length &&
    x.voters.every((v, i) => v === y.voters[i]) &&
    x.learners.every((v, i) => v === y.learners[i])
  );
}

export function describeConf(c: ConfState): string {
  const v = `voters=(${c.voters.join(' ')})`;
  return c.learners.length > 0 ? `${v} learners=(${c.learners.join(' ')})` : v;
}

export function describeConfChange(cc: ConfChange): string {
  const name =
    cc.type === ConfChangeType.AddVoter
      ? 'add-voter'
      : cc.type === ConfChangeType.AddLearner
        ? 'add-learner'
        : 'remove';
  return `${name} ${cc.nodeId}`;
}

/**
 * The configuration that results from applying one single-server change, or throws
 * ERR_INVALID_CONF_CHANGE when the change is a no-op or would leave no voter.
 */
export function applyConfChange(c: ConfState, cc: ConfChange): ConfState {
  const invalid = (why: string): never => {
    throw new RaftError('ERR_INVALID_CONF_CHANGE', `${describeConfChange(cc)}: ${why}`);
  };
  if (!Number.isSafeInteger(cc.nodeId) || cc.nodeId <= 0) invalid('node id must be positive');
  const isVoter = c.voters.includes(cc.nodeId);
  const isLearner = c.learners.includes(cc.nodeId);
  const voters = c.voters.filter((v) => v !== cc.nodeId);
  const learners = c.learners.filter((v) => v !== cc.nodeId);
  switch (cc.type) {
    case ConfChangeType.AddVoter:
      if (isVoter) invalid('already a voter');
      voters.push(cc.nodeId);
      break;
    case ConfChangeType.AddLearner:
      if (isLearner) invalid('already a learner');
      learners.push(cc.nodeId);
      break;
    case ConfChangeType.RemoveNode:
      if (!isVoter && !isLearner) invalid('not a member');
      break;
    default:
      invalid('unknown change type');
  }
  if (voters.length === 0) invalid('would leave no voter');
  return normalizeConf({ voters, learners });
}

/** The bootstrap entry of a new cluster: index 1, term 1, the initial configuration. */
export function bootstrapEntry(conf: ConfState): Entry {
  return {
    index: 1,
    term: 1,
    type: EntryType.Config,
    data: encodeConfigEntry({ conf: normalizeConf(conf) }),
  };
}
