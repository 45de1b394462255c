export { main, commands } from './main.js';
export type { Command, Io } from './command.js';
export {
  parseFlags,
  formatFlags,
  FlagError,
  type FlagSpec,
  type FlagKind,
  type ParsedFlags,
} from './flags.js';
export { VERSION } from './version-info.js';
