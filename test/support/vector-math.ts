/** Vector arithmetic for assertions, written plainly and apart from src/vector.ts and src/decode.ts, which it checks. */

/** The L2 norm in doubles: Math.hypot neither overflows nor underflows on the way. */
export function norm(v: ArrayLike<number>): number {
  return Math.hypot(...Array.from(v));
}

/** The largest elementwise difference, infinite when the lengths differ: vectors are renormalised by the client, so allow float32 rounding. */
export function maxDifference(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Number.POSITIVE_INFINITY;
  let worst = 0;
  for (let i = 0; i < actual.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
  return worst;
}
