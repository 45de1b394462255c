/**
 * Stable one-line renderings of entries, messages and Readys, for logs, traces and the
 * data-driven tests.
 */
import { decodeConfigEntry, describeConf, describeConfChange } from './membership.js';
import {
  EntryType,
  MessageType,
  type Entry,
  type HardState,
  type Message,
  type Ready,
} from './types.js';

const dec = new TextDecoder();

export function describeData(data: Uint8Array): string {
  return JSON.stringify(dec.decode(data));
}

export function describeEntry(e: Entry): string {
  if (e.type === EntryType.Config) {
    const p = decodeConfigEntry(e.data);
    const change = p.change === undefined ? 'bootstrap' : describeConfChange(p.change);
    return `${e.term}/${e.index} Config ${describeConf(p.conf)} (${change})`;
  }
  return `${e.term}/${e.index} Normal ${describeData(e.data)}`;
}

export function describeEntries(ents: readonly Entry[]): string {
  return ents.map(describeEntry).join(', ');
}

export function messageTypeName(t: MessageType): string {
  return MessageType[t] ?? `Unknown(${t})`;
}

export function describeMessage(m: Message): string {
  let s = `${m.from}->${m.to} ${messageTypeName(m.type)} Term:${m.term}`;
  switch (m.type) {
    case MessageType.App:
      s += ` Log:${m.logTerm}/${m.index} Commit:${m.commit}`;
      if (m.entries.length > 0) s += ` Entries:[${describeEntries(m.entries)}]`;
      break;
    case MessageType.AppResp:
      s += ` Index:${m.index}`;
      if (m.reject) s += ` Rejected (Hint: ${m.logTerm}/${m.rejectHint})`;
      break;
    case MessageType.Vote:
    case MessageType.PreVote:
      s += ` Log:${m.logTerm}/${m.index}`;
      if (m.transfer) s += ' Transfer';
      break;
    case MessageType.VoteResp:
    case MessageType.PreVoteResp:
      if (m.reject) s += ' Rejected';
      break;
    case MessageType.Heartbeat:
      s += ` Commit:${m.commit} Round:${m.round}`;
      break;
    case MessageType.HeartbeatResp:
      s += ` Round:${m.round}`;
      break;
    case MessageType.Snap:
      if (m.snapshot !== undefined && m.chunk !== undefined) {
        const c = m.chunk;
        s +=
          ` Snapshot:${m.snapshot.term}/${m.snapshot.index} ${describeConf(m.snapshot.confState)}` +
          ` Chunk:[${c.offset},${c.offset + c.data.length})/${c.totalSize}${c.done ? ' done' : ''}`;
      }
      break;
    case MessageType.SnapResp:
      if (m.snapshot !== undefined) s += ` Snapshot:${m.snapshot.term}/${m.snapshot.index}`;
      s += ` Next:${m.chunk?.offset ?? 0}`;
      if (m.reject) s += ' Rejected';
      break;
    case MessageType.ReadIndex:
      s += ` Context:${m.context}`;
      break;
    case MessageType.ReadIndexResp:
      s += ` Index:${m.index} Context:${m.context}`;
      break;
    case MessageType.TransferLeader:
      s += ` Transferee:${m.index}`;
      break;
    default:
      break;
  }
  return s;
}

export function describeHardState(hs: HardState): string {
  return `Term:${hs.term} Vote:${hs.vote} Commit:${hs.commit}`;
}

/** A multi-line rendering of a Ready (empty sections omitted). */
export function describeReady(rd: Ready): string {
  const out: string[] = [];
  if (rd.softState !== undefined) {
    out.push(`State:${rd.softState.state} Lead:${rd.softState.lead}`);
  }
  if (rd.hardState !== undefined) out.push(`HardState ${describeHardState(rd.hardState)}`);
  if (rd.snapshot !== undefined) {
    const m = rd.snapshot.metadata;
    out.push(
      `Snapshot ${m.term}/${m.index} ${describeConf(m.confState)} Data:${describeData(rd.snapshot.data)}`,
    );
  }
  if (rd.entries.length > 0) {
    out.push('Entries:');
    for (const e of rd.entries) out.push(`  ${describeEntry(e)}`);
  }
  if (rd.committedEntries.length > 0) {
    out.push('CommittedEntries:');
    for (const e of rd.committedEntries) out.push(`  ${describeEntry(e)}`);
  }
  if (rd.messages.length > 0) {
    out.push('Messages:');
    for (const m of rd.messages) out.push(`  ${describeMessage(m)}`);
  }
  if (rd.readStates.length > 0) {
    out.push('ReadStates:');
    for (const r of rd.readStates) out.push(`  Index:${r.index} Context:${r.context}`);
  }
  return out.join('\n');
}
