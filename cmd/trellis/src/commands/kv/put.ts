/** `trellis kv put`: writes a value, optionally check-and-set or under a session lock. */
import type { Command, Io } from '../../command.js';
import { parseFlags, type FlagSpec } from '../../flags.js';
import {
  CLIENT_FLAGS,
  SERVER_FLAGS,
  bool,
  clientFromFlags,
  int,
  str,
  usage,
} from '../shared/http-flags.js';
import { decodeBase64Strict, InputError, loadDataSource } from '../shared/input.js';
import { AGENT_NOUN, fail, out } from '../shared/output.js';
import { kvPath } from './pair.js';

const flags: FlagSpec[] = [
  {
    name: 'cas',
    kind: 'bool',
    usage:
      'Perform a Check-And-Set operation. Specifying this value also requires the ' +
      '-modify-index flag to be set. The default value is false.',
  },
  {
    name: 'flags',
    kind: 'int',
    min: 0,
    usage:
      'Unsigned integer value to assign to this key-value pair. This value is not read by ' +
      'the server, so clients can use it however makes sense for their use case. The ' +
      'default value is 0 (no flags).',
  },
  {
    name: 'base64',
    kind: 'bool',
    usage: 'Treat the data as base 64 encoded. The default value is false.',
  },
  {
    name: 'modify-index',
    kind: 'int',
    min: 0,
    usage:
      'Unsigned integer representing the ModifyIndex of the key. This is used in ' +
      'combination with the -cas flag.',
  },
  {
    name: 'session',
    kind: 'string',
    usage:
      'User-defined identifier for this session as a string. This is commonly used with the ' +
      '-acquire and -release operations to build robust locking, but it can be set on any ' +
      'key. The default value is empty (no session).',
  },
  {
    name: 'acquire',
    kind: 'bool',
    usage:
      'Obtain a lock on the key. If the key does not exist, this operation will create the ' +
      'key and obtain the lock. The session must already exist and be specified via the ' +
      '-session flag. The default value is false.',
  },
  {
    name: 'release',
    kind: 'bool',
    usage:
      'Forfeit the lock on the key at the given path. This requires the -session flag to be ' +
      'set. The key must be held by the session in order to be unlocked. The default value ' +
      'is false.',
  },
];

const HTTP = [...CLIENT_FLAGS, ...SERVER_FLAGS];

/** A write endpoint's answer: the JSON `true` or `false`. */
export function parseBool(body: Buffer): boolean {
  const t = body.toString('utf8').trim();
  if (t === 'true') return true;
  if (t === 'false') return false;
  throw new Error(`unexpected response: ${JSON.stringify(t.slice(0, 100))} is not true or false`);
}

export const kvPutCommand: Command = {
  name: 'put',
  synopsis: 'Sets or updates data in the KV store',
  help: () =>
    usage(
      `Usage: trellis kv put [options] KEY [DATA]

  Writes the data to the given path in the key-value store. The data can be of
  any type.

      $ trellis kv put config/redis/maxconns 5

  The data can also be consumed from a file on disk by prefixing with the "@"
  symbol, or read from stdin using the "-" symbol:

      $ trellis kv put config/program/license @license.lic
      $ echo "abcd1234" | trellis kv put config/program/license -

  The DATA argument itself is optional. If omitted, this will create an empty
  key-value pair at the specified path. If the -base64 flag is specified, the
  data will be treated as base 64 encoded.

  To perform a Check-And-Set operation, specify the -cas flag with the
  appropriate -modify-index flag corresponding to the key you want to perform
  the CAS operation on:

      $ trellis kv put -cas -modify-index=844 config/redis/maxconns 5`,
      HTTP,
      flags,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values, args: rest } = parseFlags([...HTTP, ...flags], args);
    if (rest.length === 0) return fail(io, 'Error! Missing KEY argument');
    if (rest.length > 2) {
      return fail(io, `Error! Too many arguments (expected 1 or 2, got ${rest.length})`);
    }
    const key = rest[0]!;
    let data: Buffer;
    try {
      data = await loadDataSource(rest[1] ?? '', io);
    } catch (e) {
      if (e instanceof InputError) return fail(io, `Error! ${e.message}`);
      throw e;
    }
    if (bool(values, 'base64')) {
      try {
        data = decodeBase64Strict(data.toString('utf8'));
      } catch (e) {
        // Consul prints this and carries on writing; writing nothing is the safer reading.
        return fail(io, `Error! Cannot base 64 decode data: ${(e as Error).message}`);
      }
    }
    const session = str(values, 'session') ?? '';
    const acquire = bool(values, 'acquire');
    const release = bool(values, 'release');
    const cas = bool(values, 'cas');
    const modifyIndex = int(values, 'modify-index') ?? 0;
    const kvFlags = int(values, 'flags') ?? 0;
    if ((acquire || release) && session === '') {
      return fail(io, 'Error! Missing -session (required with -acquire and -release)');
    }
    let client;
    try {
      client = clientFromFlags(values);
    } catch (e) {
      return fail(io, `Error connecting to ${AGENT_NOUN}: ${(e as Error).message}`);
    }
    const base = kvFlags !== 0 ? { flags: kvFlags } : {};
    const put = async (query: Record<string, string | number>): Promise<boolean> => {
      const res = await client.request('PUT', kvPath(key), {
        query: { ...base, ...query },
        body: data,
      });
      return parseBool(res.body);
    };

    if (cas) {
      let ok: boolean;
      try {
        ok = await put({ cas: modifyIndex });
      } catch (e) {
        return fail(io, `Error! Did not write to ${key}: ${(e as Error).message}`);
      }
      if (!ok && modifyIndex === 0) {
        return fail(
          io,
          `Error! Did not write to ${key}: CAS performed with index=0 and key already exists.`,
        );
      }
      if (!ok) return fail(io, `Error! Did not write to ${key}: CAS failed`);
      out(io, `Success! Data written to: ${key}`);
      return 0;
    }
    if (acquire) {
      let ok: boolean;
      try {
        ok = await put({ acquire: session });
      } catch (e) {
        return fail(io, `Error! Failed writing data: ${(e as Error).message}`);
      }
      if (!ok) return fail(io, 'Error! Did not acquire lock');
      out(io, `Success! Lock acquired on: ${key}`);
      return 0;
    }
    if (release) {
      let ok: boolean;
      try {
        ok = await put({ release: session });
      } catch (e) {
        return fail(io, `Error! Failed writing data: ${(e as Error).message}`);
      }
      if (!ok) return fail(io, 'Error! Did not release lock');
      out(io, `Success! Lock released on: ${key}`);
      return 0;
    }
    try {
      const ok = await put({});
      if (!ok) throw new Error('the agent refused the write');
    } catch (e) {
      return fail(io, `Error! Failed writing data: ${(e as Error).message}`);
    }
    out(io, `Success! Data written to: ${key}`);
    return 0;
  },
};
