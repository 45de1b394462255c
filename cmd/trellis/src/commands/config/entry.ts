/**
 * Reading a config entry for `config write` and `config delete -filename`, as Consul's
 * helpers.LoadDataSourceNoRaw and helpers.ParseConfigEntry do — JSON only: the agent's own
 * configuration files are JSON too, and HCL is refused with a message saying so.
 */
import type { Io } from '../../command.js';
import { goField } from '../shared/go-decode.js';
import { InputError, readFileBounded, readStreamBounded, stdinOf } from '../shared/input.js';

/**
 * Every kind Consul's api.MakeConfigEntry knows. A kind outside this list is refused here,
 * with Consul's message, before the agent is asked; the agent answers for the kinds of the
 * list it does not implement ("… is not supported by Trellis").
 */
export const CONSUL_CONFIG_ENTRY_KINDS: readonly string[] = [
  'service-defaults',
  'proxy-defaults',
  'service-router',
  'service-splitter',
  'service-resolver',
  'ingress-gateway',
  'terminating-gateway',
  'service-intentions',
  'mesh',
  'exported-services',
  'sameness-group',
  'api-gateway',
  'bound-api-gateway',
  'inline-certificate',
  'file-system-certificate',
  'http-route',
  'tcp-route',
  'jwt-provider',
  'control-plane-request-limit',
];

/**
 * Largest config entry file read: well above the agent's own limit for an entry (512 KiB),
 * so an entry too large is refused by the agent with its message, not cut short here.
 */
export const MAX_CONFIG_ENTRY_INPUT_BYTES = 4 * 1024 * 1024;

/** A config entry read from a file or stdin: its kind and name, and the body to send. */
export interface ConfigEntryInput {
  readonly kind: string;
  readonly name: string;
  /** The entry as read; the agent decodes and validates it. */
  readonly body: Readonly<Record<string, unknown>>;
}

/**
 * Consul's LoadDataSourceNoRaw: `-` reads stdin, anything else is a file path. Throws
 * InputError ("Failed to read file: open x: no such file or directory").
 */
export async function loadEntrySource(
  arg: string,
  io: Io,
): Promise<{ text: string; source: string }> {
  if (arg === '') {
    throw new InputError("Failed to load data: must specify a file path or '-' for stdin");
  }
  if (arg === '-') {
    try {
      const data = await readStreamBounded(stdinOf(io), MAX_CONFIG_ENTRY_INPUT_BYTES);
      return { text: data.toString('utf8'), source: 'stdin' };
    } catch (e) {
      throw new InputError(`Failed to read stdin: ${(e as Error).message}`);
    }
  }
  try {
    const data = await readFileBounded(arg, MAX_CONFIG_ENTRY_INPUT_BYTES);
    return { text: data.toString('utf8'), source: arg };
  } catch (e) {
    throw new InputError(`Failed to read file: ${(e as Error).message}`);
  }
}

/**
 * Consul's ParseConfigEntry for JSON: the text must be one JSON object whose `Kind` (or
 * `kind`) is a string naming a Consul kind; `Name` is matched in any case. Throws Error with the reason (callers prefix Consul's
 * "Failed to decode config entry input: ").
 */
export function parseConfigEntry(text: string, source: string): ConfigEntryInput {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(
      `${source} is not valid JSON (${(e as Error).message}): Trellis reads config entries ` +
        'as JSON only, HCL is not supported',
    );
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new Error(`${source} must hold one JSON object, the config entry`);
  }
  const body = raw as Record<string, unknown>;
  const kind = Object.hasOwn(body, 'Kind') ? body['Kind'] : body['kind'];
  if (kind === undefined) {
    throw new Error('Payload does not contain a kind/Kind key at the top level');
  }
  if (typeof kind !== 'string') throw new Error('Kind value in payload is not a string');
  if (!CONSUL_CONFIG_ENTRY_KINDS.includes(kind)) {
    throw new Error(`invalid config entry kind: ${kind}`);
  }
  const name = goField(body, 'Name');
  return { kind, name: typeof name === 'string' ? name : '', body };
}
