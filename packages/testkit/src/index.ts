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
