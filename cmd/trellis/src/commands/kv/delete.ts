/** `trellis kv delete`: removes a key, a prefix (-recurse), or a key at an index (-cas). */
import type { Command, Io } from '../../command.js';
import { parseFlags, type FlagSpec } from '../../flags.js';
import {
  CLIENT_FLAGS,
  SERVER_FLAGS,
  bool,
  clientFromFlags,
  int,
  usage,
} from '../shared/http-flags.js';
import { AGENT_NOUN, fail, out } from '../shared/output.js';
import { kvPath, stripLeadingSlash } from './pair.js';
import { parseBool } from './put.js';

const flags: FlagSpec[] = [
  {
    name: 'cas',
    kind: 'bool',
    usage:
      'Perform a Check-And-Set operation. Specifying this value also requires the ' +
      '-modify-index flag to be set. The default value is false.',
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
    name: 'recurse',
    kind: 'bool',
    usage: 'Recursively delete all keys with the path. The default value is false.',
  },
];

const HTTP = [...CLIENT_FLAGS, ...SERVER_FLAGS];

export const kvDeleteCommand: Command = {
  name: 'delete',
  synopsis: 'Removes data from the KV store',
  help: () =>
    usage(
      `Usage: trellis kv delete [options] KEY_OR_PREFIX

  Removes the value from the key-value store at the given path. If no key exists
  at the path, no action is taken.

      $ trellis kv delete foo

  To delete all keys which start with "foo", specify the -recurse option:

      $ trellis kv delete -recurse foo

  This will delete the keys named "foo", "food", and "foo/bar/zip" if they
  existed.`,
      HTTP,
      flags,
    ),
  async run(args: readonly string[], io: Io): Promise<number> {
    const { values, args: rest } = parseFlags([...HTTP, ...flags], args);
    if (rest.length > 1) return fail(io, `Too many arguments (expected 1, got ${rest.length})`);
    const key = stripLeadingSlash(rest[0] ?? '');
    const recurse = bool(values, 'recurse');
    const cas = bool(values, 'cas');
    const modifyIndex = int(values, 'modify-index') ?? 0;
    if (key === '' && !recurse) return fail(io, 'Error! Missing KEY argument');
    if (cas && modifyIndex === 0) {
      return fail(
        io,
        'Cannot delete a key that does not exist. Provide a -modify-index greater than than 0.',
      );
    }
    if (modifyIndex !== 0 && !cas) return fail(io, 'Cannot specify -modify-index without -cas!');
    if (recurse && cas) return fail(io, 'Cannot specify both -cas and -recurse!');
    let client;
    try {
      client = clientFromFlags(values);
    } catch (e) {
      return fail(io, `Error connecting to ${AGENT_NOUN}: ${(e as Error).message}`);
    }
    if (recurse) {
      try {
        await client.request('DELETE', kvPath(key), { query: { recurse: '' } });
      } catch (e) {
        return fail(io, `Error! Did not delete prefix ${key}: ${(e as Error).message}`);
      }
      out(io, `Success! Deleted keys with prefix: ${key}`);
      return 0;
    }
    if (cas) {
      let ok: boolean;
      try {
        const res = await client.request('DELETE', kvPath(key), { query: { cas: modifyIndex } });
        ok = parseBool(res.body);
      } catch (e) {
        return fail(io, `Error! Did not delete key ${key}: ${(e as Error).message}`);
      }
      if (!ok) return fail(io, `Error! Did not delete key ${key}: CAS failed`);
      out(io, `Success! Deleted key: ${key}`);
      return 0;
    }
    try {
      await client.request('DELETE', kvPath(key));
    } catch (e) {
      return fail(io, `Error deleting key ${key}: ${(e as Error).message}`);
    }
    out(io, `Success! Deleted key: ${key}`);
    return 0;
  },
};
