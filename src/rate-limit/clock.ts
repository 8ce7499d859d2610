/** Time source and timers of a rate limiter, injectable so tests drive it on a fake clock. */
export interface RateLimitClock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** `Date.now` and the global timers (which vitest's fake timers replace). */
export const systemClock: RateLimitClock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};
