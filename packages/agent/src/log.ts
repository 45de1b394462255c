/**
 * The agent's logger: pino, printed in Consul's human format by default
 * (`2026-11-23T12:00:00.000Z [INFO]  agent.server: leadership gained: term=3`) or as pino's
 * JSON lines with `json: true` (Consul's -log-json). Formatting runs synchronously in the
 * destination's write, so no worker thread is involved and nothing is lost on exit.
 */
import { pino, type Logger as PinoLogger } from 'pino';
import type { LogLevel } from './config/schema.js';

export type AgentLogger = PinoLogger;

export interface LoggerOptions {
  level: LogLevel;
  json?: boolean;
  /** Where lines go (default: stdout, as Consul). */
  write?: (line: string) => void;
}

const LEVEL_NAMES: Readonly<Record<number, string>> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'ERROR',
};

/** Keys pino adds that the human format shows in its own places. */
const OWN_KEYS = new Set(['level', 'time', 'msg', 'name', 'pid', 'hostname']);

function formatValue(v: unknown): string {
  if (typeof v === 'string') return /[\s"=]/.test(v) || v === '' ? JSON.stringify(v) : v;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (v instanceof Error) return JSON.stringify(v.message);
  return JSON.stringify(v);
}

/** One pino JSON record as a Consul-style line. */
export function formatRecord(rec: Record<string, unknown>): string {
  const time = new Date(typeof rec.time === 'number' ? rec.time : Date.now()).toISOString();
  const level = LEVEL_NAMES[typeof rec.level === 'number' ? rec.level : 30] ?? 'INFO';
  const name = typeof rec.name === 'string' ? `${rec.name}: ` : '';
  const fields = Object.entries(rec)
    .filter(([k]) => !OWN_KEYS.has(k))
    .map(([k, v]) => {
      if (k === 'err' && v !== null && typeof v === 'object' && 'message' in v) {
        return `error=${formatValue(v.message)}`;
      }
      return `${k}=${formatValue(v)}`;
    });
  const msg = typeof rec.msg === 'string' ? rec.msg : '';
  const tail = fields.length > 0 ? `: ${fields.join(' ')}` : '';
  return `${time} [${level}] ${' '.repeat(5 - level.length)}${name}${msg}${tail}\n`;
}

export function createLogger(o: LoggerOptions): AgentLogger {
  const write = o.write ?? ((line: string) => process.stdout.write(line));
  const destination = {
    write(chunk: string): void {
      if (o.json === true) {
        write(chunk);
        return;
      }
      for (const line of chunk.split('\n')) {
        if (line === '') continue;
        try {
          write(formatRecord(JSON.parse(line) as Record<string, unknown>));
        } catch {
          write(`${line}\n`);
        }
      }
    },
  };
  return pino(
    { level: o.level, base: null, timestamp: pino.stdTimeFunctions.epochTime },
    destination,
  );
}
