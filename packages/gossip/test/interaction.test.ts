/**
 * Data-driven interaction scripts (testdata/*.txt) against one core: what it sends, when,
 * and what it concludes. Regenerate expected outputs with TRELLIS_REWRITE=1.
 *
 * Commands:
 *   new name=a peers=(b, c) [key=value config overrides]   a started core knowing peers
 *   tick +ms | tick until=ping                             advance; print outputs
 *   recv from=b                                            deliver messages (input lines:
 *       ack seq=N | nack seq=N | ping seq=N target=X | suspect node=X inc=N from=Y |
 *       alive node=X inc=N [addr=A] | dead node=X inc=N from=Y | event name=X ltime=N)
 *   tcp-reply seq=N ok|fail                                 the TCP fallback's outcome
 *   members | health | queue                                inspect
 */
import test from 'ava';
import { fileURLToPath } from 'node:url';
import {
  Prng,
  argValue,
  formatMismatches,
  parseArgs,
  positional,
  runDataDriven,
  type TestCase,
} from '@trellis/testkit';
import {
  GossipCore,
  MESSAGE_TYPE_NAMES,
  MessageType,
  encodeMessage,
  type Message,
  type Output,
} from '../src/index.js';
import { alive, pkt } from './helpers.js';

function fmtMsg(m: Message): string {
  const name = MESSAGE_TYPE_NAMES[m.type];
  switch (m.type) {
    case MessageType.Ping:
      return `${name}(seq=${m.seq} target=${m.target})`;
    case MessageType.IndirectPing:
      return `${name}(seq=${m.seq} target=${m.target}${m.nack ? ' nack' : ''})`;
    case MessageType.Ack:
    case MessageType.Nack:
      return `${name}(seq=${m.seq})`;
    case MessageType.Suspect:
    case MessageType.Dead:
      return `${name}(${m.node}#${m.incarnation} from=${m.from})`;
    case MessageType.Alive:
      return `${name}(${m.node}#${m.incarnation})`;
    case MessageType.UserEvent:
      return `${name}(${m.name}@${m.ltime})`;
    default:
      return name;
  }
}

function fmtOut(o: Output): string | undefined {
  switch (o.type) {
    case 'udp':
      return `udp → ${o.to}: ${o.messages.map(fmtMsg).join(' + ')}`;
    case 'tcp-ping':
      return `tcp-ping → ${o.to} seq=${o.seq} deadline=+${o.deadline}`;
    case 'push-pull':
      return `push-pull → ${o.to}${o.join ? ' join' : ''}`;
    case 'member':
      return `member ${o.kind} ${o.member.name}`;
    case 'user-event':
      return `user-event ${o.name}@${o.ltime}`;
    case 'conflict':
      return `conflict ${o.existing.name} ${o.existing.addr} vs ${o.otherAddr}`;
    case 'dropped':
      return `dropped from ${o.from}: ${o.error.code}`;
    case 'log':
      return o.level === 'debug' ? undefined : `log ${o.level}: ${o.message}`;
    default:
      return o.type;
  }
}

class Script {
  core: GossipCore | undefined;
  /** Times are printed relative to the core's start (the driver's epoch). */
  now = 0;
  /** Answer every probe at once and hide probe traffic (for scripts about other things). */
  autoack = false;

  handle(tc: TestCase): string {
    switch (tc.cmd) {
      case 'new':
        return this.#new(tc);
      case 'tick':
        return this.#tick(tc);
      case 'recv':
        return this.#recv(tc);
      case 'tcp-reply': {
        const seq = Number(argValue(tc, 'seq'));
        const ok = positional(tc).includes('ok');
        const reply = ok
          ? encodeMessage({ type: MessageType.Ack, seq, payload: new Uint8Array(0) })
          : undefined;
        return this.#print(this.#core().handleTcpPingReply(seq, reply, this.now));
      }
      case 'members':
        return this.#core()
          .members()
          .map((m) => `${m.name} ${m.status} inc=${m.incarnation}`)
          .join('\n');
      case 'health':
        return `score=${this.#core().healthScore()}`;
      case 'queue':
        return (
          this.#core()
            .queueSnapshot()
            .map((q) => `${q.name ?? '(event)'} sent=${q.transmits} bytes=${q.size}`)
            .join('\n') || '(empty)'
        );
      default:
        throw new Error(`${tc.file}:${tc.line}: unknown command ${tc.cmd}`);
    }
  }

  #core(): GossipCore {
    if (this.core === undefined) throw new Error('no core: use "new" first');
    return this.core;
  }

  #new(tc: TestCase): string {
    const name = argValue(tc, 'name');
    const peers = tc.args.find((a) => a.key === 'peers')?.vals ?? [];
    const overrides: Record<string, number | boolean> = {};
    for (const a of tc.args) {
      if (a.key === 'name' || a.key === 'peers' || a.key === 'seed' || a.key === 'autoack')
        continue;
      const v = a.vals[0] ?? 'true';
      overrides[a.key] = v === 'true' ? true : v === 'false' ? false : Number(v);
    }
    const prng = new Prng(argValue(tc, 'seed', '1'));
    this.core = new GossipCore({ name, addr: name, rand: (n) => prng.int(n), ...overrides });
    this.now = 0;
    this.autoack = tc.args.some((a) => a.key === 'autoack');
    const outs = this.core.start(0);
    for (const p of peers) outs.push(...this.core.handlePacket(p, pkt(alive(p)), 0));
    return this.#print(outs);
  }

  /** core.tick, answering probes when autoack is on. */
  #step(at: number): Output[] {
    const core = this.#core();
    const outs = core.tick(at);
    if (!this.autoack) return outs;
    const acks: Output[] = [];
    for (const o of outs) {
      if (o.type !== 'udp') continue;
      const m = o.messages[0];
      if (m?.type !== MessageType.Ping) continue;
      const ack = pkt({ type: MessageType.Ack, seq: m.seq, payload: new Uint8Array(0) });
      acks.push(...core.handlePacket(o.to, ack, at));
    }
    return [...outs, ...acks];
  }

  #tick(tc: TestCase): string {
    const core = this.#core();
    const until = tc.args.find((a) => a.key === 'until')?.vals[0];
    const lines: string[] = [];
    if (until === 'ping') {
      for (;;) {
        const at = core.nextDeadline();
        if (at === undefined) return 'idle';
        this.now = at;
        const outs = this.#step(at);
        const text = this.#print(outs);
        if (text !== '') lines.push(text);
        if (outs.some((o) => o.type === 'udp' && o.messages[0]?.type === MessageType.Ping)) break;
      }
      return lines.join('\n');
    }
    const rel = positional(tc)[0];
    if (rel === undefined || !rel.startsWith('+'))
      throw new Error(`${tc.file}:${tc.line}: tick +ms`);
    const target = this.now + Number(rel.slice(1));
    for (;;) {
      const at = core.nextDeadline();
      if (at === undefined || at > target) break;
      this.now = at;
      const text = this.#print(this.#step(at));
      if (text !== '') lines.push(text);
    }
    this.now = target;
    const text = this.#print(this.#step(target));
    if (text !== '') lines.push(text);
    return lines.join('\n');
  }

  #recv(tc: TestCase): string {
    const from = argValue(tc, 'from');
    const msgs: Message[] = [];
    for (const line of tc.input.split('\n')) {
      if (line.trim() === '') continue;
      const [kind, ...rest] = line.trim().split(' ');
      const a = parseArgs(rest.join(' '), tc.file, tc.line);
      const get = (k: string): string => {
        const v = a.find((x) => x.key === k)?.vals[0];
        if (v === undefined) throw new Error(`${tc.file}:${tc.line}: ${kind} needs ${k}=`);
        return v;
      };
      switch (kind) {
        case 'ack':
          msgs.push({ type: MessageType.Ack, seq: Number(get('seq')), payload: new Uint8Array(0) });
          break;
        case 'nack':
          msgs.push({ type: MessageType.Nack, seq: Number(get('seq')) });
          break;
        case 'ping':
          msgs.push({
            type: MessageType.Ping,
            seq: Number(get('seq')),
            target: get('target'),
            sourceAddr: from,
            sourceNode: from,
          });
          break;
        case 'suspect':
          msgs.push({
            type: MessageType.Suspect,
            node: get('node'),
            incarnation: Number(get('inc')),
            from: get('from'),
          });
          break;
        case 'dead':
          msgs.push({
            type: MessageType.Dead,
            node: get('node'),
            incarnation: Number(get('inc')),
            from: get('from'),
          });
          break;
        case 'alive': {
          const addr = a.find((x) => x.key === 'addr')?.vals[0];
          msgs.push(alive(get('node'), Number(get('inc')), {}, addr ?? get('node')));
          break;
        }
        case 'event':
          msgs.push({
            type: MessageType.UserEvent,
            name: get('name'),
            ltime: Number(get('ltime')),
            payload: new Uint8Array(0),
          });
          break;
        default:
          throw new Error(`${tc.file}:${tc.line}: unknown message ${kind}`);
      }
    }
    return this.#print(this.#core().handlePacket(from, pkt(...msgs), this.now));
  }

  #print(outs: readonly Output[]): string {
    const shown = this.autoack
      ? outs.filter((o) => !(o.type === 'udp' && o.messages[0]?.type === MessageType.Ping))
      : outs;
    const lines = shown.map(fmtOut).filter((l): l is string => l !== undefined);
    return lines.map((l) => `t=${this.now} ${l}`).join('\n');
  }
}

for (const file of ['probe.txt', 'suspicion.txt', 'verification.txt', 'detection.txt']) {
  test(file, (t) => {
    const path = fileURLToPath(new URL(`../../testdata/${file}`, import.meta.url));
    const script = new Script();
    const res = runDataDriven(path, (tc) => script.handle(tc));
    t.true(res.cases > 0);
    t.deepEqual(res.mismatches, [], formatMismatches(res.mismatches));
  });
}
