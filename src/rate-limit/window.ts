/**
 * Where slow start ends and the window grows by about one every two round trips: every
 * request started between a bucket running dry and the first 429 coming back is refused, so
 * a window doubled up to half a large burst would waste as many requests at once.
 */
export const SLOW_START_THRESHOLD = 4;

/**
 * How many requests may be in flight while the server's limits are unknown, as TCP opens
 * its congestion window: one request alone until an answer comes; with no rate-limit headers
 * in answers, slow start (one more per success, so the window doubles each round trip: 1, 2,
 * 4) up to {@link SLOW_START_THRESHOLD}, then additive increase (about one more every two
 * round trips); each 429 episode sets the threshold to a quarter of the window and starts
 * again from one. Slower than TCP's halving: here an overshoot costs refused requests, each
 * a 429 the user sees, not merely a queue at a router.
 */
export class ConcurrencyWindow {
  /** Undefined when not limited: limits are configured or read from headers. */
  private size: number | undefined;
  private threshold = SLOW_START_THRESHOLD;
  /** Requests started before this instant were in flight at the last decrease: their 429s are the same episode. */
  private decreasedAt = -Infinity;

  constructor(open: boolean) {
    this.size = open ? undefined : 1;
  }

  get limit(): number | undefined {
    return this.size === undefined ? undefined : Math.floor(this.size);
  }

  /** Whether a request may start with `inFlight` already started. */
  allows(inFlight: number): boolean {
    return this.size === undefined || inFlight < Math.floor(this.size);
  }

  /** Answers carry rate-limit headers: the budgets pace from now on. */
  open(): void {
    this.size = undefined;
  }

  /** A success without rate-limit headers, for a request started at `sentAt`. */
  grow(sentAt: number): void {
    // Answers to requests started before the last decrease tell nothing of the room since.
    if (this.size === undefined || sentAt <= this.decreasedAt) return;
    this.size += this.size < this.threshold ? 1 : 0.5 / this.size;
  }

  /**
   * A 429 without rate-limit headers, for a request started at `sentAt`. Returns whether it
   * opened a new episode (and shrank the window), rather than being one more of the last.
   */
  shrink(sentAt: number, now: number, inFlight: number): boolean {
    // Started at the very instant of the decrease: before its 429 was known, so the same episode.
    if (sentAt <= this.decreasedAt) return false;
    const current = this.size ?? Math.max(1, inFlight);
    // Every request waits out the 429's pause anyway: start again from one, as TCP does
    // after a timeout, so the requests in flight when the refill is spent are few.
    this.threshold = Math.max(1, current / 4);
    this.size = 1;
    this.decreasedAt = now;
    return true;
  }
}

/**
 * Share of the measured rate added per success while pacing without headers: +20% after
 * 40 successes, so an underestimate is soon outgrown and the next 429 comes late.
 */
const RATE_INCREASE_PER_SUCCESS = 0.005;

/**
 * The rate at which requests start when no header tells it. Between two 429 episodes the
 * server's bucket went from empty to empty, so what it accepted in between is what it
 * refilled: that measured rate is paced on after each episode (the decrease), and raised a
 * little with each success (the increase) to find room the measure missed.
 */
export class AdaptiveRate {
  private perMs: number | undefined;
  private episodes = 0;
  private measured = 0;
  private episodeAt: number;
  private acceptedSince = 0;
  private nextStart = 0;

  constructor(now: number) {
    this.episodeAt = now;
  }

  /** Requests per minute it paces at, if it paces yet. */
  get perMinute(): number | undefined {
    return this.perMs === undefined ? undefined : this.perMs * 60_000;
  }

  waitFor(now: number): number {
    return this.perMs === undefined ? 0 : Math.max(0, Math.ceil(this.nextStart - now));
  }

  take(now: number): void {
    // No credit for idle time: starting again after a pause is not a burst.
    if (this.perMs !== undefined) this.nextStart = Math.max(this.nextStart, now) + 1 / this.perMs;
  }

  accepted(): void {
    this.acceptedSince++;
    if (this.perMs !== undefined) this.perMs += this.measured * RATE_INCREASE_PER_SUCCESS;
  }

  /**
   * A new 429 episode: pace at what the server accepted since the last one. Not at the first:
   * before it the server also spent its initial burst, so the count says nothing of the rate.
   * Returns whether it paces on a measure now.
   */
  refused(now: number): boolean {
    const span = now - this.episodeAt;
    const measuring = this.episodes++ > 0 && span > 0 && this.acceptedSince > 0;
    if (measuring) {
      this.measured = this.acceptedSince / span;
      this.perMs = this.measured;
    }
    this.episodeAt = now;
    this.acceptedSince = 0;
    return measuring;
  }
}
