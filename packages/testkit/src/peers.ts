/**
 * Tests that need a Debian peer (python3-consul, dig, unbound, …): the test runs when the peer
 * is present; otherwise it is skipped with the reason printed, or, under
 * TRELLIS_REQUIRE_PEERS=1 (set by .ci/run, which installs the peers), fails.
 *
 * Imported as `@trellis/testkit/peers`, apart from the rest of the kit: it loads ava, which
 * only runs inside ava (benchmarks and drills import the kit too).
 */
import test, { type ImplementationFn } from 'ava';
import { spawnSync } from 'node:child_process';

/** null when `cmd args…` runs and exits 0, else why not. */
export function probe(cmd: string, args: readonly string[]): string | null {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000 });
  if (r.error) return `${cmd}: ${r.error.message}`;
  if (r.status !== 0) return `${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.trim()}`;
  return null;
}

export function peerTest(
  title: string,
  peer: { name: string; missing: string | null },
  fn: ImplementationFn<[]>,
): void {
  if (peer.missing === null) {
    test.serial(title, fn);
  } else if (process.env['TRELLIS_REQUIRE_PEERS'] === '1') {
    test.serial(title, (t) => {
      t.fail(`required peer ${peer.name} is missing: ${peer.missing ?? ''}`);
    });
  } else {
    console.log(`skipped (peer ${peer.name} missing: ${peer.missing}): ${title}`);
    test.skip(title, fn);
  }
}
