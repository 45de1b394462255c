/**
 * Command-line flags as Consul parses them (Go's `flag` package): `-name=value`,
 * `-name value`, and the same with `--`; a boolean is set by `-name` alone or
 * `-name=true|false`; repeatable flags (`-retry-join`, `-config-file`) collect every value;
 * `--` ends the flags. Errors use Go's wording so scripts that grep Consul's output see the
 * same text: `flag provided but not defined: -x`, `invalid value "v" for flag -x: …`.
 */
// The agent's duration parser alone (its own entry point), not the whole agent package.
import { parseDuration } from '@trellis/agent/duration';

export type FlagKind = 'string' | 'int' | 'bool' | 'duration' | 'list';

export interface FlagSpec {
  readonly name: string;
  readonly kind: FlagKind;
  readonly usage: string;
  /** Shown in help; also the value when the flag is absent (lists default to []). */
  readonly default?: string | number | boolean;
  /** For `int`: inclusive bounds. */
  readonly min?: number;
  readonly max?: number;
}

export type FlagValue = string | number | boolean | string[];

export interface ParsedFlags {
  /** Flag name → value, for flags given on the command line only. */
  readonly values: ReadonlyMap<string, FlagValue>;
  /** Arguments after the flags. */
  readonly args: readonly string[];
}

export class FlagError extends Error {
  readonly code = 'ERR_FLAG';
  constructor(message: string) {
    super(message);
    this.name = 'FlagError';
  }
}

function convert(spec: FlagSpec, raw: string): FlagValue {
  const invalid = (why: string): never => {
    throw new FlagError(`invalid value "${raw}" for flag -${spec.name}: ${why}`);
  };
  switch (spec.kind) {
    case 'string':
    case 'list':
      return raw;
    case 'bool':
      if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(raw)) return true;
      if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(raw)) return false;
      return invalid('parse error');
    case 'int': {
      if (!/^[+-]?[0-9]+$/.test(raw)) return invalid('parse error');
      const n = Number(raw);
      if (!Number.isSafeInteger(n)) return invalid('value out of range');
      if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
        return invalid(`must be between ${spec.min ?? '-∞'} and ${spec.max ?? '∞'}`);
      }
      return n;
    }
    case 'duration':
      try {
        return parseDuration(raw);
      } catch (e) {
        return invalid((e as Error).message);
      }
  }
}

/** Parses `argv` against `specs`. Throws FlagError with Go's messages. */
export function parseFlags(specs: readonly FlagSpec[], argv: readonly string[]): ParsedFlags {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const values = new Map<string, FlagValue>();
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    const body = a.startsWith('--') ? a.slice(2) : a.slice(1);
    if (body === '' || body.startsWith('-') || body.startsWith('='))
      throw new FlagError(`bad flag syntax: ${a}`);
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const spec = byName.get(name);
    if (!spec) throw new FlagError(`flag provided but not defined: -${name}`);
    let raw: string;
    if (eq >= 0) raw = body.slice(eq + 1);
    else if (spec.kind === 'bool') raw = 'true';
    else {
      const next = argv[i + 1];
      if (next === undefined) throw new FlagError(`flag needs an argument: -${name}`);
      raw = next;
      i++;
    }
    const v = convert(spec, raw);
    if (spec.kind === 'list') {
      const cur = (values.get(name) as string[] | undefined) ?? [];
      values.set(name, [...cur, v as string]);
    } else {
      values.set(name, v);
    }
  }
  return { values, args: argv.slice(i) };
}

/** Help text for a flag set, in Consul's layout. */
export function formatFlags(specs: readonly FlagSpec[]): string {
  return specs
    .map((s) => {
      const arg =
        s.kind === 'bool'
          ? ''
          : s.kind === 'int'
            ? '=<int>'
            : s.kind === 'duration'
              ? '=<duration>'
              : '=<string>';
      const def =
        s.default === undefined || s.default === '' ? '' : ` Default: ${String(s.default)}.`;
      return `  -${s.name}${arg}\n     ${s.usage}${def}`;
    })
    .join('\n\n');
}
