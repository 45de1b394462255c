/** A benchmark's integer option, or exit 2 with the reason (shared by the bench commands). */
export function int(name: string, v: string | undefined, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    console.error(`--${name} must be an integer in [${min}, ${max}], got ${String(v)}`);
    process.exit(2);
  }
  return n;
}
