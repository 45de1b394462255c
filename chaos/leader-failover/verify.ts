/**
 * Acknowledged writes against the state found afterwards. After the drill every key is
 * read once more (a consistent get, recorded at the end of the history). For each key, the
 * value found was written by some operation (a put or successful cas with that value, of
 * known or unknown outcome; for "absent", a delete or the initial state). An acknowledged
 * write w is:
 *
 * - found: the final value is w's own (for a delete: the key is absent);
 * - overwritten: some operation that could have come after w (it had not completed when w
 *   was invoked) wrote the final value;
 * - lost: every operation that could have produced the final value completed before w was
 *   invoked, so w must have been applied after them and then vanished;
 * - and a final value nobody ever wrote is a phantom.
 *
 * This is a direct, explainable subset of what the linearizability check decides.
 */
import { type HistoryEvent, type HistoryOp, formatOp, parseHistory } from '@trellis/testkit';

export interface WriteVerdicts {
  acknowledged: number;
  found: number;
  overwritten: number;
  lost: number;
  phantom: number;
  /** Up to 20 readable problems. */
  problems: string[];
}

function writes(op: HistoryOp): { value: string | null } | undefined {
  const o = op.op;
  if (o.f === 'put') return { value: o.value };
  if (o.f === 'delete') return { value: null };
  if (o.f === 'cas' && (op.outcome === 'info' || op.result === true)) return { value: o.value };
  return undefined;
}

export function verifyWrites(
  events: readonly HistoryEvent[],
  finalValues: ReadonlyMap<string, string | null>,
): WriteVerdicts {
  const ops = parseHistory(events).filter((o) => o.outcome !== 'fail');
  const v: WriteVerdicts = {
    acknowledged: 0,
    found: 0,
    overwritten: 0,
    lost: 0,
    phantom: 0,
    problems: [],
  };
  const problem = (s: string) => {
    if (v.problems.length < 20) v.problems.push(s);
  };
  for (const [key, final] of finalValues) {
    const onKey = ops.filter((o) => o.op.key === key && writes(o) !== undefined);
    const producers = onKey.filter((o) => writes(o)!.value === final);
    // The initial state (absent) precedes everything.
    const latestProducerEnd =
      producers.length === 0
        ? final === null
          ? -1
          : undefined
        : Math.max(...producers.map((p) => p.completeIndex), final === null ? -1 : -Infinity);
    if (latestProducerEnd === undefined) {
      v.phantom++;
      problem(`${key}: found ${JSON.stringify(final)}, which no operation wrote`);
    }
    for (const w of onKey) {
      if (w.outcome !== 'ok') continue;
      v.acknowledged++;
      if (writes(w)!.value === final) v.found++;
      else if (latestProducerEnd !== undefined && latestProducerEnd < w.invokeIndex) {
        v.lost++;
        problem(
          `${key}: ${formatOp(w)} was acknowledged, but the value found afterwards ` +
            `(${JSON.stringify(final)}) was written only by operations that completed before it began`,
        );
      } else v.overwritten++;
    }
  }
  return v;
}
