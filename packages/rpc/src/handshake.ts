/**
 * Version negotiation in the WebSocket upgrade: the dialer offers `trellis-rpc.<v>` for
 * every version it speaks (Sec-WebSocket-Protocol); the acceptor picks the highest one it
 * also speaks, or answers HTTP 426 naming the versions it has. No frame is exchanged
 * before both sides agree.
 */
import { PROTOCOL_VERSIONS, SUBPROTOCOL_PREFIX } from './constants.js';

export function offeredProtocols(versions: readonly number[] = PROTOCOL_VERSIONS): string[] {
  return versions.map((v) => `${SUBPROTOCOL_PREFIX}${v}`);
}

/** The highest version in both lists, or undefined. `header` is the raw request header. */
export function chooseVersion(
  header: string | undefined,
  supported: readonly number[] = PROTOCOL_VERSIONS,
): number | undefined {
  if (header === undefined) return undefined;
  let best: number | undefined;
  for (const raw of header.split(',')) {
    const p = raw.trim();
    if (!p.startsWith(SUBPROTOCOL_PREFIX)) continue;
    const text = p.slice(SUBPROTOCOL_PREFIX.length);
    if (!/^[0-9]{1,6}$/.test(text)) continue;
    const v = Number(text);
    if (supported.includes(v) && (best === undefined || v > best)) best = v;
  }
  return best;
}

/** Header carrying the dialer's node name (informational; identity comes from TLS). */
export const NODE_HEADER = 'x-trellis-node';
/** Longest node name accepted in the header. */
export const MAX_NODE_NAME = 128;
