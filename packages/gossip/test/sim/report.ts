/**
 * The scale report: the table N → rounds to full dissemination, and the check that the
 * rounds grow logarithmically with N.
 */
import type { ScenarioResult } from './scenarios.js';

/** Rounds allowed at size N: 2 × ⌈log_{fanout+1} N⌉ + 2 (push gossip to `fanout` members per round). */
export function roundsBound(n: number, fanout: number): number {
  return 2 * Math.ceil(Math.log(n) / Math.log(fanout + 1)) + 2;
}

/** Extra rounds allowed from N1 to N2 > N1: 2 × ⌈log_{fanout+1}(N2 / N1)⌉ + 1. */
export function growthBound(n1: number, n2: number, fanout: number): number {
  return 2 * Math.ceil(Math.log(n2 / n1) / Math.log(fanout + 1)) + 1;
}

function worstBySize(results: readonly ScenarioResult[]): Map<number, ScenarioResult> {
  const by = new Map<number, ScenarioResult>();
  for (const r of results) {
    const prev = by.get(r.members);
    if (prev === undefined || Number(r.metrics['rounds']) > Number(prev.metrics['rounds'])) {
      by.set(r.members, r);
    }
  }
  return new Map([...by.entries()].sort((a, b) => a[0] - b[0]));
}

/** Violations of the logarithmic-growth checks (empty = fine). */
export function checkScaleGrowth(results: readonly ScenarioResult[], fanout: number): string[] {
  const problems: string[] = [];
  const by = worstBySize(results);
  for (const [n, r] of by) {
    const rounds = Number(r.metrics['rounds']);
    if (rounds > roundsBound(n, fanout)) {
      problems.push(
        `N=${n}: ${rounds} rounds > 2·⌈log${fanout + 1}(N)⌉ + 2 = ${roundsBound(n, fanout)} (seed ${r.seed})`,
      );
    }
  }
  const sizes = [...by.keys()];
  for (let i = 1; i < sizes.length; i++) {
    const n1 = sizes[i - 1]!;
    const n2 = sizes[i]!;
    const r1 = Number(by.get(n1)!.metrics['rounds']);
    const r2 = Number(by.get(n2)!.metrics['rounds']);
    const allowed = growthBound(n1, n2, fanout);
    if (r2 - r1 > allowed) {
      problems.push(`rounds(${n2}) = ${r2} > rounds(${n1}) + ${allowed} = ${r1 + allowed}`);
    }
  }
  return problems;
}

/** The table, worst seed per size. */
export function formatScaleTable(results: readonly ScenarioResult[]): string {
  const rows = [['N', 'view', 'seeds', 'rounds', '50%', '99%', 'ms', 'udp pkts', 'wall s']];
  const by = worstBySize(results);
  for (const [n, r] of by) {
    const m = r.metrics;
    rows.push([
      String(n),
      String(m['view']),
      String(results.filter((x) => x.members === n).length),
      String(m['rounds']),
      String(m['rounds50']),
      String(m['rounds99']),
      String(m['disseminationMs']),
      String(m['udpPackets']),
      (Number(m['totalWallMs']) / 1000).toFixed(1),
    ]);
  }
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padStart(w[i]!)).join('  ')).join('\n');
}
