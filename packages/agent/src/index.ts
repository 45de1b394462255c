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
export type { AutopilotConfig } from './config/schema.js';
export { Agent, AgentStartError, type AgentOptions } from './agent.js';
export { createLogger, formatRecord, type AgentLogger, type LoggerOptions } from './log.js';
export { Server, LEADER_WAIT_MS, type ServerOptions } from './server/server.js';
export { raftIdOf, loadOrCreateNodeId } from './server/ids.js';
export {
  readArchive,
  writeArchive,
  ArchiveError,
  MAX_ARCHIVE_BYTES,
  type ArchiveHeader,
} from './server/archive.js';
export * from './http/backend.js';
