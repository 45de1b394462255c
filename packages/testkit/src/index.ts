export { Prng, randomSeed, type Seed } from './prng.js';
export { VirtualClock, type Clock, type TimerHandle } from './clock.js';
export { Trace, type TraceOptions } from './trace.js';
export {
  runDataDriven,
  formatMismatches,
  parseArgs,
  arg,
  argValue,
  positional,
  DataDrivenSyntaxError,
  type CmdArg,
  type TestCase,
  type Mismatch,
  type DataDrivenResult,
  type DataDrivenOptions,
} from './datadriven.js';
export {
  runSeeds,
  seedRange,
  seedsFromEnv,
  parseSimArgs,
  SimulationFailure,
  type RunSeedsOptions,
  type SeedContext,
  type SeedFailure,
  type SimArgs,
} from './seeds.js';
// The checker's one door lists its exports explicitly (see linearizability.ts).
export * from './linearizability.js';
export {
  SimNetwork,
  NetworkError,
  DEFAULT_LINK,
  DROP_REASONS,
  sampleDelay,
  type SimNetworkOptions,
  type LinkConfig,
  type DelayDistribution,
  type DropReason,
  type NetworkStats,
  type FaultHandle,
  type NetworkErrorCode,
} from './network.js';
export {
  SimDisk,
  DiskError,
  type Disk,
  type DiskErrorCode,
  type SimDiskOptions,
  type CrashOptions,
  type CrashReport,
  type TornWrite,
  type Corruption,
  type DiskStats,
  type IoErrorRates,
} from './disk.js';
export {
  TrellisCluster,
  ManagedProcess,
  ClusterError,
  allocatePorts,
  httpGet,
  procStatusKiB,
  type ClusterOptions,
  type TrellisAgent,
  type AgentPorts,
  type LeaderInfo,
  type WaitForLeaderOptions,
  type ProcessSpec,
  type ExitInfo,
  type HttpAnswer,
} from './cluster.js';
export {
  startUnbound,
  unboundConfig,
  type RunningUnbound,
  type UnboundOptions,
} from './unbound.js';
