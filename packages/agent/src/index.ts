export {
  buildConfig,
  defaults,
  merge,
  validateFragment,
  readConfigFile,
  ConfigError,
  MAX_CONFIG_FILE_BYTES,
  type BuildInput,
  type Fragment,
} from './config/load.js';
export {
  AGENT_FLAGS,
  flagsToBuildInput,
  FlagValueError,
  type AgentFlagSpec,
} from './config/flags.js';
export { parseDuration } from './config/duration.js';
export type { RuntimeConfig, Ports, DnsConfig, LogLevel } from './config/schema.js';
