/**
 * Configuration: three presets (`lan`, `wan`, `local`) mirroring memberlist's
 * DefaultLANConfig / DefaultWANConfig / DefaultLocalConfig, plus the serf-level knobs the
 * core also owns (user events, queue depth). All durations are milliseconds.
 */
import { ErrorCode, GossipError } from './errors.js';
import { MAX_EVENT_PAYLOAD, MAX_META_BYTES } from './codec.js';
import type { Tags } from './messages.js';

/** Injected randomness: an integer uniformly drawn from [0, n) (n ≥ 1). */
export type RandFn = (n: number) => number;

/** The tunables a preset fixes. */
export interface Timing {
  /** Time between probe rounds (one member probed per round). */
  readonly probeInterval: number;
  /** How long to wait for a direct ack before going indirect. */
  readonly probeTimeout: number;
  /** Members asked to probe indirectly (k in SWIM). */
  readonly indirectChecks: number;
  /** Do not ask the transport for a TCP fallback ping. */
  readonly disableTcpPings: boolean;
  /** Upper bound of the Local Health Awareness multiplier (score ranges 0 … max − 1). */
  readonly awarenessMaxMultiplier: number;
  /** Scales the minimum suspicion timeout (see scale.ts suspicionTimeout). */
  readonly suspicionMult: number;
  /** Maximum suspicion timeout = this × minimum. */
  readonly suspicionMaxTimeoutMult: number;
  /** Scales how many times a broadcast is retransmitted (see scale.ts retransmitLimit). */
  readonly retransmitMult: number;
  /** Time between gossip rounds (piggyback-free broadcast flushes). */
  readonly gossipInterval: number;
  /** Members gossiped to per gossip round. */
  readonly gossipNodes: number;
  /** How long dead/left members are still gossiped to (and kept before being reaped). */
  readonly gossipToTheDeadTime: number;
  /** Base full-state sync interval (scaled with N); 0 disables periodic push-pull. */
  readonly pushPullInterval: number;
  /** Budget of one UDP packet, headers of the core's own framing included. */
  readonly udpBufferSize: number;
  /** Bytes of every packet reserved for outer layers (encryption adds 29, label, …). */
  readonly reservedPacketBytes: number;
  /** A dead member's name may be taken by a new address after this long; 0 = never. */
  readonly deadNodeReclaimTime: number;
  /** Deadline the core puts on stream (TCP) operations it asks the driver for. */
  readonly tcpTimeout: number;
  /** Encoded tags limit (≤ MAX_META_BYTES). */
  readonly metaMaxSize: number;
  /** Encoded user event payload + name limit (≤ MAX_EVENT_PAYLOAD). */
  readonly userEventSizeLimit: number;
  /** Slots of the recent user events buffer (Lamport times remembered for dedup). */
  readonly eventBufferSize: number;
  /** Broadcasts kept queued at most; the most-transmitted are dropped beyond it. */
  readonly maxQueueDepth: number;
}

export type PresetName = 'lan' | 'wan' | 'local';

/**
 * memberlist DefaultLANConfig (and Consul's LAN pool): a LAN with low latency and little
 * loss. Suspicion for N ≤ 10: 4 s … 24 s; dead declared in ≈ 5–25 s.
 */
const lan: Timing = {
  // memberlist DefaultLANConfig: ProbeInterval = 1 s.
  probeInterval: 1_000,
  // memberlist DefaultLANConfig: ProbeTimeout = 500 ms, "reasonable for LAN RTTs" (99th pct).
  probeTimeout: 500,
  // memberlist DefaultLANConfig: IndirectChecks = 3 (k of SWIM).
  indirectChecks: 3,
  // memberlist default: TCP fallback pings enabled (DisableTcpPings = false).
  disableTcpPings: false,
  // memberlist DefaultLANConfig: AwarenessMaxMultiplier = 8 (probe interval up to 8 s).
  awarenessMaxMultiplier: 8,
  // memberlist DefaultLANConfig: SuspicionMult = 4.
  suspicionMult: 4,
  // memberlist DefaultLANConfig: SuspicionMaxTimeoutMult = 6 (Lifeguard's max = 6 × min).
  suspicionMaxTimeoutMult: 6,
  // memberlist DefaultLANConfig: RetransmitMult = 4.
  retransmitMult: 4,
  // memberlist DefaultLANConfig: GossipInterval = 200 ms.
  gossipInterval: 200,
  // memberlist DefaultLANConfig: GossipNodes = 3.
  gossipNodes: 3,
  // memberlist DefaultLANConfig: GossipToTheDeadTime = 30 s.
  gossipToTheDeadTime: 30_000,
  // memberlist DefaultLANConfig: PushPullInterval = 30 s (scaled above 32 nodes).
  pushPullInterval: 30_000,
  // memberlist DefaultLANConfig: UDPBufferSize = 1400, under a 1500-byte Ethernet MTU.
  udpBufferSize: 1_400,
  // No outer layer by default; the encrypting transport raises it (AES-GCM: 1+12+16 = 29).
  reservedPacketBytes: 0,
  // Consul's DefaultConfig sets 30 s on both pools (memberlist's own default, 0, never reclaims).
  deadNodeReclaimTime: 30_000,
  // memberlist DefaultLANConfig: TCPTimeout = 10 s.
  tcpTimeout: 10_000,
  // memberlist MetaMaxSize = 512 bytes.
  metaMaxSize: MAX_META_BYTES,
  // serf UserEventSizeLimit = 512 bytes.
  userEventSizeLimit: 512,
  // serf DefaultConfig: EventBuffer = 512.
  eventBufferSize: 512,
  // serf DefaultConfig: MaxQueueDepth = 4096.
  maxQueueDepth: 4_096,
};

/**
 * memberlist DefaultWANConfig: higher latency and loss, so slower probing and longer
 * suspicion; everything not listed is the LAN value (as memberlist derives WAN from LAN).
 */
const wan: Timing = {
  ...lan,
  // memberlist DefaultWANConfig: ProbeInterval = 5 s.
  probeInterval: 5_000,
  // memberlist DefaultWANConfig: ProbeTimeout = 3 s.
  probeTimeout: 3_000,
  // memberlist DefaultWANConfig: SuspicionMult = 6.
  suspicionMult: 6,
  // memberlist DefaultWANConfig: GossipInterval = 500 ms.
  gossipInterval: 500,
  // memberlist DefaultWANConfig: GossipNodes = 4.
  gossipNodes: 4,
  // memberlist DefaultWANConfig: GossipToTheDeadTime = 60 s.
  gossipToTheDeadTime: 60_000,
  // memberlist DefaultWANConfig: PushPullInterval = 60 s.
  pushPullInterval: 60_000,
  // memberlist DefaultWANConfig: TCPTimeout = 30 s.
  tcpTimeout: 30_000,
};

/**
 * memberlist DefaultLocalConfig: loopback / a single host, where messages are almost never
 * lost: fewer indirect checks and retransmits, faster everything.
 */
const local: Timing = {
  ...lan,
  // memberlist DefaultLocalConfig: IndirectChecks = 1.
  indirectChecks: 1,
  // memberlist DefaultLocalConfig: RetransmitMult = 2.
  retransmitMult: 2,
  // memberlist DefaultLocalConfig: SuspicionMult = 3.
  suspicionMult: 3,
  // memberlist DefaultLocalConfig: PushPullInterval = 15 s.
  pushPullInterval: 15_000,
  // memberlist DefaultLocalConfig: ProbeTimeout = 200 ms.
  probeTimeout: 200,
  // memberlist DefaultLocalConfig: ProbeInterval = 1 s.
  probeInterval: 1_000,
  // memberlist DefaultLocalConfig: GossipInterval = 100 ms.
  gossipInterval: 100,
  // memberlist DefaultLocalConfig: GossipToTheDeadTime = 15 s.
  gossipToTheDeadTime: 15_000,
  // memberlist DefaultLocalConfig: TCPTimeout = 1 s.
  tcpTimeout: 1_000,
};

export const PRESETS: Readonly<Record<PresetName, Timing>> = { lan, wan, local };

/** What the caller provides: identity, randomness, a preset and any overrides. */
export interface GossipConfigInput extends Partial<Timing> {
  /** This member's unique name (1–255 UTF-8 bytes). */
  readonly name: string;
  /** This member's advertised address, opaque to the core ("host:port"; ≤ 255 bytes). */
  readonly addr: string;
  /** Initial tags. */
  readonly tags?: Tags;
  /** Randomness: an integer in [0, n). Tests pass `(n) => prng.int(n)`. */
  readonly rand: RandFn;
  /** Defaults to 'lan'. */
  readonly preset?: PresetName;
}

export interface GossipConfig extends Timing {
  readonly name: string;
  readonly addr: string;
  readonly tags: Tags;
  readonly rand: RandFn;
}

const utf8Len = (s: string): number => new TextEncoder().encode(s).length;

/** Resolves a preset plus overrides, and validates. Throws GOSSIP_INVALID_CONFIG. */
export function resolveConfig(input: GossipConfigInput): GossipConfig {
  const base = PRESETS[input.preset ?? 'lan'];
  if (base === undefined) {
    throw new GossipError(ErrorCode.InvalidConfig, `unknown preset ${String(input.preset)}`);
  }
  const timing: Record<string, number | boolean> = { ...base };
  for (const key of Object.keys(base) as (keyof Timing)[]) {
    const v = input[key];
    if (v !== undefined) timing[key] = v;
  }
  const cfg = {
    ...(timing as unknown as Timing),
    name: input.name,
    addr: input.addr,
    tags: { ...(input.tags ?? {}) },
    rand: input.rand,
  } satisfies GossipConfig;
  validate(cfg);
  return cfg;
}

function validate(c: GossipConfig): void {
  const bad = (why: string): never => {
    throw new GossipError(ErrorCode.InvalidConfig, why);
  };
  if (typeof c.name !== 'string' || c.name === '' || utf8Len(c.name) > 255) {
    bad('name must be 1–255 UTF-8 bytes');
  }
  if (typeof c.addr !== 'string' || utf8Len(c.addr) > 255) bad('addr must be ≤ 255 UTF-8 bytes');
  if (typeof c.rand !== 'function') bad('rand must be a function (n) => integer in [0, n)');
  const positive: (keyof Timing)[] = [
    'probeInterval',
    'probeTimeout',
    'suspicionMult',
    'suspicionMaxTimeoutMult',
    'retransmitMult',
    'gossipInterval',
    'awarenessMaxMultiplier',
    'udpBufferSize',
    'tcpTimeout',
    'eventBufferSize',
    'maxQueueDepth',
  ];
  for (const k of positive) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) bad(`${k} must be > 0`);
  }
  const nonNegative: (keyof Timing)[] = [
    'indirectChecks',
    'gossipNodes',
    'gossipToTheDeadTime',
    'pushPullInterval',
    'reservedPacketBytes',
    'deadNodeReclaimTime',
    'metaMaxSize',
    'userEventSizeLimit',
  ];
  for (const k of nonNegative) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) bad(`${k} must be ≥ 0`);
  }
  if (c.probeTimeout > c.probeInterval) bad('probeTimeout must be ≤ probeInterval');
  if (c.metaMaxSize > MAX_META_BYTES) bad(`metaMaxSize must be ≤ ${MAX_META_BYTES}`);
  if (c.userEventSizeLimit > MAX_EVENT_PAYLOAD) {
    bad(`userEventSizeLimit must be ≤ ${MAX_EVENT_PAYLOAD}`);
  }
  if (c.udpBufferSize - c.reservedPacketBytes < 576 - 28) {
    bad('udpBufferSize − reservedPacketBytes must leave at least 548 bytes (IPv4 minimum MTU)');
  }
  if (!Number.isInteger(c.awarenessMaxMultiplier)) bad('awarenessMaxMultiplier must be an integer');
}
