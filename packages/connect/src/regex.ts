/**
 * Regular expressions in intentions (PathRegex, Header[].Regex).
 *
 * Consul hands these to Envoy, which compiles them with RE2 (linear time, no backtracking) and
 * matches the whole string. We compile them with JavaScript's RegExp (a backtracking engine,
 * Annex B syntax, no flags) anchored as `^(?:re)$`, so the same text matches the same way for
 * the common subset. Features RE2 lacks are refused where that is cheap to see (backreferences,
 * named backreferences, lookahead and lookbehind); a pattern using RE2-only syntax such as
 * `(?i)` or `(?P<name>…)` fails to compile here and is refused too.
 *
 * Because the engine backtracks, a hostile pattern can be slow on a hostile input; the length
 * bound ({@link MAX_REGEX_LENGTH}) limits but does not remove that risk.
 */

/** Longest PathRegex or header Regex accepted (1 KiB). */
export const MAX_REGEX_LENGTH = 1024;

const RE2 = '(Consul uses RE2)';

/** Why `src` is not an acceptable intention regex, or null when it is. */
export function regexProblem(src: string): string | null {
  if (src.length > MAX_REGEX_LENGTH) return `longer than ${MAX_REGEX_LENGTH} characters`;
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === '\\') {
      const n = src[i + 1];
      if (n !== undefined && n >= '1' && n <= '9') {
        return `backreferences are not supported ${RE2}`;
      }
      if (!inClass && n === 'k' && src[i + 2] === '<') {
        return `backreferences are not supported ${RE2}`;
      }
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') {
      inClass = true;
      continue;
    }
    if (c === '(' && src[i + 1] === '?') {
      const a = src[i + 2];
      const b = src[i + 3];
      if (a === '=' || a === '!' || (a === '<' && (b === '=' || b === '!'))) {
        return `lookaround assertions are not supported ${RE2}`;
      }
    }
  }
  try {
    new RegExp(src);
  } catch (e) {
    return `invalid regular expression: ${e instanceof Error ? e.message : String(e)}`;
  }
  return null;
}

/**
 * The whole-string matcher for an intention regex, or null when it does not compile (only
 * possible for input that skipped validation; such a regex never matches).
 */
export function compileFullMatch(src: string): RegExp | null {
  try {
    return new RegExp(`^(?:${src})$`);
  } catch {
    return null;
  }
}
