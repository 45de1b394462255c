/**
 * Node identity. Like Consul, a server keeps a random UUID in `<data-dir>/node-id` so that it
 * is the same node after a restart; the Raft ID (a number in our Raft core) is derived from
 * the UUID, so every server computes every other server's Raft ID from its gossip tags.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isNodeId(s: string): boolean {
  return UUID_RE.test(s);
}

/** Reads `<dataDir>/node-id`, creating it (atomically) on first start; random without a dir. */
export function loadOrCreateNodeId(dataDir: string): string {
  if (dataDir === '') return randomUUID();
  const path = join(dataDir, 'node-id');
  try {
    const id = readFileSync(path, 'utf8').trim().toLowerCase();
    if (!isNodeId(id)) throw new Error(`${path} does not hold a UUID: ${JSON.stringify(id)}`);
    return id;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  mkdirSync(dataDir, { recursive: true });
  const id = randomUUID();
  writeFileSync(`${path}.tmp`, id, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
  return id;
}

/** The Raft ID of a node: the UUID's first 48 bits (never 0, which Raft reserves for "none"). */
export function raftIdOf(nodeId: string): number {
  const n = parseInt(nodeId.replace(/-/g, '').slice(0, 12), 16);
  return Number.isSafeInteger(n) && n > 0 ? n : 1;
}
