/** `trellis kv get`: one value, a prefix's entries (-recurse) or its keys (-keys). */
import type { Command, Io } from '../../command.js';
import { parseFlags, type FlagSpec } from '../../flags.js';
import {
  CLIENT_FLAGS,
  SERVER_FLAGS,
  bool,
  clientFromFlags,
  staleQuery,
  str,
  usage,
} from '../shared/http-flags.js';
import { AGENT_NOUN, fail, out, writeBytes } from '../shared/output.js';
import { detailedPair, kvPath, parsePairs, stripLeadingSlash } from './pair.js';

const flags: FlagSpec[] = [
  { name: 'base64', kind: 'bool', usage: 'Base64 encode the value. The default value is false.' },
  {
    name: 'detailed',
    kind: 'bool',
    usage:
      'Provide additional metadata about the key in addition to the value such as the ' +
      'ModifyIndex and any flags that may have been set on the key. The default value is false.',
  },
  {
    name: 'keys',
    kind: 'bool',
    usage:
      'List keys which start with the given prefix, but not their values. This option is ' +
      'commonly combined with the -separator option. The default value is false.',
  },
  {
    name: 'recurse',
    kind: 'bool',
    usage: 'Recursively look at all keys prefixed with the given path. The default value is false.',
  },
  {
    name: 'separator',
    kind: 'string',
    usage:
      'String to use as a separator between keys. The default value is "/", but this option ' +
      'is only taken into account when paired with the -keys flag.',
    default: '/',
  },
];

const HTTP = [...CLIENT_FLAGS, ...SERVER_FLAGS];

export const kvGetCommand: Command = {
  name: 'get',
  synopsis: 'Retrieves or lists data from the KV store',
  help: () =>
    usage(
      `Usage: trellis kv get [options] [KEY_OR_PREFIX]

  Retrieves the value from the key-value store at the given key name. If no key
  exists with that name, an error is returned. If a key exists with that name but
  has no data, nothing is returned. If the name or prefix is omitted, it defaults
  to "" which is the root of the key-value store.

      $ trellis kv get foo
      $ trellis kv get -detailed foo
      $ trellis kv get -recurse foo
      $ trellis kv get -keys foo`,
      HTTP,
      flags,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values, args: rest } = parseFlags([...HTTP, ...flags], args);
    if (rest.length > 1) return fail(io, `Too many arguments (expected 1, got ${rest.length})`);
    const key = stripLeadingSlash(rest[0] ?? '');
    const recurse = bool(values, 'recurse');
    const keys = bool(values, 'keys');
    const detailed = bool(values, 'detailed');
    const base64 = bool(values, 'base64');
    if (key === '' && !(recurse || keys)) return fail(io, 'Error! Missing KEY argument');
    let client;
    try {
      client = clientFromFlags(values);
    } catch (e) {
      return fail(io, `Error connecting to ${AGENT_NOUN}: ${(e as Error).message}`);
    }
    const stale = staleQuery(values);
    const queryError = (e: unknown): number =>
      fail(io, `Error querying ${AGENT_NOUN}: ${(e as Error).message}`);

    if (keys && recurse) {
      let pairs;
      try {
        const res = await client.json<unknown>('GET', kvPath(key), {
          query: { recurse: '', ...stale },
          allowStatus: [404],
        });
        pairs = parsePairs(res.value ?? []);
      } catch (e) {
        return queryError(e);
      }
      pairs.forEach((pair, i) => {
        if (detailed) {
          writeBytes(io.stdout, detailedPair(pair, false, true));
          io.stdout.write('\n');
          if (i < pairs.length - 1) io.stdout.write('\n');
        } else {
          out(io, pair.Key);
        }
      });
      return 0;
    }

    if (keys) {
      const separator = str(values, 'separator') ?? '/';
      let list: unknown;
      try {
        const res = await client.json<unknown>('GET', kvPath(key), {
          query: { keys: '', ...(separator !== '' ? { separator } : {}), ...stale },
          allowStatus: [404],
        });
        list = res.value ?? [];
        if (!Array.isArray(list) || !list.every((k) => typeof k === 'string')) {
          throw new Error('unexpected response: not a list of keys');
        }
      } catch (e) {
        return queryError(e);
      }
      for (const k of list) out(io, k);
      return 0;
    }

    if (recurse) {
      let pairs;
      try {
        const res = await client.json<unknown>('GET', kvPath(key), {
          query: { recurse: '', ...stale },
          allowStatus: [404],
        });
        pairs = parsePairs(res.value ?? []);
      } catch (e) {
        return queryError(e);
      }
      pairs.forEach((pair, i) => {
        if (detailed) {
          writeBytes(io.stdout, detailedPair(pair, base64));
          io.stdout.write('\n');
          if (i < pairs.length - 1) io.stdout.write('\n');
        } else {
          io.stdout.write(`${pair.Key}:`);
          writeBytes(io.stdout, base64 ? Buffer.from(pair.Value.toString('base64')) : pair.Value);
          io.stdout.write('\n');
        }
      });
      return 0;
    }

    let pair;
    try {
      const res = await client.json<unknown>('GET', kvPath(key), {
        query: { ...stale },
        allowStatus: [404],
      });
      pair = res.value === undefined ? undefined : parsePairs(res.value)[0];
    } catch (e) {
      return queryError(e);
    }
    if (pair === undefined) return fail(io, `Error! No key exists at: ${key}`);
    if (detailed) {
      writeBytes(io.stdout, detailedPair(pair, base64));
    } else {
      writeBytes(io.stdout, base64 ? Buffer.from(pair.Value.toString('base64')) : pair.Value);
    }
    io.stdout.write('\n');
    return 0;
  },
};
