/**
 * The logging interface this package consumes: the subset of pino's it uses, so a pino child
 * logger (`logger.child({ component: 'dns' })`) can be passed in directly.
 */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

const noop = (): void => undefined;

/** Discards everything: the default when no logger is given. */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop };
