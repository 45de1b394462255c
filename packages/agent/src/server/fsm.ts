/**
 * The state store as Raft's state machine. Empty entries (the no-op a new leader appends)
 * never reach it. A command this build cannot apply because it does not know its type stops
 * the server, as Consul's FSM panics: applying the rest of the log without it would diverge
 * from the other replicas. Other refusals (a bad command, a failed check-and-set inside a
 * transaction) are results, returned to the proposer.
 */
import type { Entry, SnapshotMetadata, StateMachine } from '@trellis/raft';
import { StateErrorCode, type ApplyResult, type StateStore } from '@trellis/state';

export class FatalApplyError extends Error {
  override readonly name = 'FatalApplyError';
}

export class StoreStateMachine implements StateMachine {
  constructor(readonly store: StateStore) {}

  apply(entry: Entry): ApplyResult {
    const r = this.store.apply(entry.index, entry.data);
    if (!r.ok && r.error.code === StateErrorCode.UNKNOWN_COMMAND) {
      throw new FatalApplyError(`entry ${entry.index}: ${r.error.message}`);
    }
    return r;
  }

  snapshot(): Uint8Array {
    return this.store.snapshot();
  }

  restore(data: Uint8Array, _metadata: SnapshotMetadata): void {
    this.store.restore(data);
  }
}
