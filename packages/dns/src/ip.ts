/**
 * IP address text ⇄ bytes with Go's `net` semantics, which Consul's DNS answers follow:
 * an address is 16 bytes; an IPv4 address is stored IPv4-mapped (::ffff:a.b.c.d) and
 * `to4` recovers it; `formatIp` prints like Go's `IP.String()`. Leading zeros in IPv4
 * octets and IPv6 zones are rejected, as `net.ParseIP` does.
 */

const V4_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] as const;

function parseIPv4Bytes(s: string): number[] | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out.push(n);
  }
  return out;
}

function parseIPv6Bytes(s: string): number[] | null {
  if (s.length === 0 || s.length > 45 || s.includes('%')) return null;
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const groups = (part: string): number[] | null => {
    if (part === '') return [];
    const words: number[] = [];
    const fields = part.split(':');
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      if (i === fields.length - 1 && f.includes('.')) {
        const v4 = parseIPv4Bytes(f);
        if (v4 === null) return null;
        words.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(f)) return null;
      words.push(parseInt(f, 16));
    }
    return words;
  };
  const head = groups(halves[0]!);
  if (head === null) return null;
  let words: number[];
  if (halves.length === 2) {
    const tail = groups(halves[1]!);
    if (tail === null) return null;
    // "::" stands for at least one zero group.
    if (head.length + tail.length > 7) return null;
    words = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    if (head.length !== 8) return null;
    words = head;
  }
  const out: number[] = [];
  for (const w of words) out.push(w >> 8, w & 0xff);
  return out;
}

/** 16 bytes for an IPv4 or IPv6 literal, null for anything else (hostnames included). */
export function parseIp(s: string): Uint8Array | null {
  if (s.includes(':')) {
    const b = parseIPv6Bytes(s);
    return b === null ? null : Uint8Array.from(b);
  }
  const v4 = parseIPv4Bytes(s);
  return v4 === null ? null : Uint8Array.from([...V4_PREFIX, ...v4]);
}

/** The 4-byte form of an IPv4-mapped address (Go's `To4`), else null. */
export function to4(ip: Uint8Array): Uint8Array | null {
  if (ip.length === 4) return ip;
  if (ip.length !== 16) return null;
  for (let i = 0; i < 12; i++) if (ip[i] !== V4_PREFIX[i]) return null;
  return ip.subarray(12, 16);
}

export function formatIpv4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** RFC 5952 text of 16 bytes (longest run of ≥ 2 zero groups as "::", first on a tie). */
export function formatIpv6(b: Uint8Array): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((b[i]! << 8) | b[i + 1]!);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(':');
  if (bestLen < 2) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLen))}`;
}

/** Go's `IP.String()`: dotted quad for IPv4(-mapped), RFC 5952 otherwise. */
export function formatIp(ip: Uint8Array): string {
  const v4 = to4(ip);
  return v4 !== null ? formatIpv4(v4) : formatIpv6(ip);
}

/**
 * miekg/dns `ReverseAddr`: the in-addr.arpa / ip6.arpa name of an address (lower case,
 * fully qualified), or null when `addr` is not an IP literal.
 */
export function reverseAddr(addr: string): string | null {
  const ip = parseIp(addr);
  if (ip === null) return null;
  const v4 = to4(ip);
  if (v4 !== null) return `${v4[3]}.${v4[2]}.${v4[1]}.${v4[0]}.in-addr.arpa.`;
  const nibbles: string[] = [];
  for (let i = 15; i >= 0; i--) {
    nibbles.push((ip[i]! & 0xf).toString(16), (ip[i]! >> 4).toString(16));
  }
  return `${nibbles.join('.')}.ip6.arpa.`;
}

/**
 * Consul's dnsutil.IPFromARPA over the labels of a lower-cased name: 6 labels ending in
 * in-addr.arpa or 34 ending in ip6.arpa, read back into an address; else null.
 */
export function ipFromArpa(labels: readonly string[]): Uint8Array | null {
  if (labels.length !== 6 && labels.length !== 34) return null;
  if (labels[labels.length - 1] !== 'arpa') return null;
  const parts = labels.slice(0, labels.length - 2).reverse();
  switch (labels[labels.length - 2]) {
    case 'in-addr':
      return parseIp(parts.join('.'));
    case 'ip6': {
      let text = parts.slice(0, 4).join('');
      for (let i = 4; i <= parts.length - 4; i += 4) text += ':' + parts.slice(i, i + 4).join('');
      return parseIp(text);
    }
    default:
      return null;
  }
}

/** Lower-case hex of an address as Consul's `<hex>.addr` names use: 8 digits for IPv4. */
export function ipHex(ip: Uint8Array): string {
  const bytes = to4(ip) ?? ip;
  return Buffer.from(bytes).toString('hex');
}
