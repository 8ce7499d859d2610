import type { RateLimitBelief } from './types.js';
import type { BudgetHeaders } from './headers.js';

const MINUTE_MS = 60_000;
/** Share an estimated rate rises by when an answer finds the bucket full while it held requests back. */
const RATE_PROBE = 0.02;

/** Where one answer's `remaining` stands among the requests this limiter sent. */
export interface Observation {
  /** When the answered request started: the server counted it then. */
  sentAt: number;
  /** Its cost in this budget, and whether the server took it (a 429 takes nothing). */
  cost: number;
  charged: boolean;
  /** What was sent after it and was not refused: the server had not counted that yet. */
  uncounted: number;
  /** All this limiter had sent and not seen refused, up to and including it. */
  sentSoFar: number;
  /**
   * What was still in flight when the answer came: any of it may have reached the server
   * before or after this request whatever the order it was sent in, so `sentSoFar` may be off
   * by as much from what `remaining` counted.
   */
  crossing: number;
}

/**
 * One budget (requests or tokens) as a bucket refilled continuously. Configured, it is the
 * caller's limit with a minute's burst; learnt, it knows nothing until answers say: the
 * per-minute limit sets the refill rate, `remaining` is the truth about the level, and the
 * largest `remaining` seen (plus the request it answered) is the burst the server allows.
 * With `remaining` alone (Azure) the rate is estimated from how it moves over time.
 */
export class Budget {
  /** Units per ms; undefined until configured, read or estimated. */
  private rate: number | undefined;
  private source: RateLimitBelief['source'];
  private capacity: number | undefined;
  private level = 0;
  private at: number;
  /** The most the server's bucket was seen to hold: a lower bound of its burst. */
  private largestSeen = 0;
  /** The first `remaining`-only observation since the bucket was last seen full. */
  private anchor: { at: number; total: number; crossing: number } | undefined;
  /** The level follows a `remaining` already seen, so it may be kept where answers agree with it. */
  private tracking = false;
  /**
   * An instant (on the sender's clock, shifted by the upload) when the server's level is known
   * to the fraction: after an answer that found the bucket full, or when a 429's
   * `retry-after-ms` said it would hold the refused request. `total` is all that was sent and
   * not refused up to it.
   */
  private knownLevel: { at: number; level: number; total: number } | undefined;
  /** The estimate was measured between two such instants, not bounded from below: no probing above it. */
  private measured = false;
  /** A wait on this budget's refill held a request back since the last answer: it binds. */
  private binding = false;

  constructor(now: number, perMinute?: number) {
    this.at = now;
    if (perMinute !== undefined) {
      this.rate = perMinute / MINUTE_MS;
      this.source = 'configured';
      this.capacity = perMinute;
      this.level = perMinute;
    }
  }

  /** Whether anything is known: an unknown budget never holds a request back. */
  get known(): boolean {
    return this.capacity !== undefined;
  }

  private refill(now: number): void {
    const elapsed = Math.max(0, now - this.at);
    this.at = now;
    if (this.rate === undefined || this.capacity === undefined || this.level >= this.capacity) return;
    this.level = Math.min(this.capacity, this.level + elapsed * this.rate);
  }

  /**
   * Milliseconds until the budget holds `cost`, capped at its burst so a request as large as
   * the whole bucket waits for it to be full and then goes; `undefined` when the level is
   * short and the rate unknown, so only an answer can tell.
   */
  waitFor(cost: number, now: number): number | undefined {
    if (this.capacity === undefined) return 0;
    this.refill(now);
    const need = Math.min(cost, this.capacity);
    if (this.level >= need) return 0;
    this.binding = true;
    if (this.rate === undefined) return undefined;
    // Past the instant, not on it: at exactly that instant the server's sums may fall a hair short.
    return Math.floor((need - this.level) / this.rate) + 1;
  }

  /** Charges `cost`; a negative one (an estimate corrected down) gives back, never past a full bucket. */
  take(cost: number, now: number): void {
    this.refill(now);
    this.level = Math.min(this.level - cost, this.capacity ?? Infinity);
  }

  /**
   * A refused attempt took nothing at the server: give its cost back, so its retry is charged
   * once. Not past a full bucket: it may have refilled meanwhile.
   */
  refund(cost: number, now: number): void {
    this.take(-cost, now);
  }

  /** Brings the budget in line with what an answer's headers say. Configured budgets ignore them. */
  observe(headers: BudgetHeaders, seen: Observation, now: number): void {
    if (this.source === 'configured') return;
    this.refill(now);
    if (headers.limit !== undefined) {
      this.rate = headers.limit / MINUTE_MS;
      this.source = 'header';
      if (this.capacity === undefined) {
        // Until a `remaining` says otherwise, a header's limit is a minute's burst.
        this.capacity = headers.limit;
        this.level = headers.limit - seen.uncounted - (seen.charged ? seen.cost : 0);
      }
    }
    const remaining = headers.remaining;
    if (remaining === undefined) return;
    const held = remaining + (seen.charged ? seen.cost : 0);
    // Fuller than ever seen: refill may have been wasted before, measure from here. (Not on
    // a tie: with a bucket of one request, every answer ties.)
    const wasFull = held > this.largestSeen;
    // As full as ever seen: paced slower than it refills (with a bucket of one request, every answer is so).
    const asFull = seen.charged && held >= this.largestSeen;
    this.largestSeen = Math.max(this.largestSeen, held);
    this.capacity = this.largestSeen;
    // The server counted up to this request when it took it, somewhere on the way between its
    // start and now, and refilled since: the level now lies between `remaining` with half that
    // refill (as if taken midway: all of it would count the way there twice, and at the wire,
    // on a bucket of a tenth of a second, the request after met a 429) and `remaining` with
    // all of it. Within those bounds the level this budget kept itself (charged at each start,
    // refilled at the rate) is the better figure: resetting it to the lower bound at every
    // answer lost half a round trip and the rounding of `remaining` per request (at the wire,
    // 6% of a job paced one request at a time). Outside them, the answer proves it wrong.
    // Not when the request found the bucket full, or within its own size of full (the client's
    // token count and the server's differ by a few): a full bucket wastes its refill until the
    // request is counted, a moment that varies with each upload, so a level kept from the
    // start runs ahead of the server's (at the wire, requests of nearly a whole bucket met a
    // 429 one in four); only the lower bound is safe.
    const refill = (this.rate ?? 0) * Math.max(0, now - seen.sentAt);
    const lowest = Math.min(this.capacity, remaining + refill * 0.5) - seen.uncounted;
    const highest = Math.min(this.capacity, remaining + refill) - seen.uncounted;
    const kept = this.tracking && held <= this.capacity - seen.cost ? this.level : lowest;
    this.level = Math.min(Math.max(kept, lowest), highest);
    this.tracking = true;
    if (this.source !== 'header') {
      this.estimate(remaining, seen, wasFull);
      if (asFull) {
        // The bucket was full when it took this request: its level then is known exactly.
        this.knownLevel = { at: seen.sentAt, level: this.capacity - seen.cost, total: seen.sentSoFar };
        if (this.source === 'estimated' && this.binding && !this.measured) this.rate! *= 1 + RATE_PROBE;
      }
    }
    this.binding = false;
  }

  /**
   * Remaining-only headers: `remaining` plus all that was sent grows by the refill, as long as
   * the bucket is not full (a full bucket wastes its refill, and the count says nothing).
   */
  private estimate(remaining: number, seen: Observation, wasFull: boolean): void {
    const total = remaining + seen.sentSoFar;
    if (wasFull || this.anchor === undefined) {
      this.anchor = { at: seen.sentAt, total, crossing: seen.crossing };
      return;
    }
    const span = seen.sentAt - this.anchor.at;
    // Both counts are rounded down by less than one unit, and each may count requests that
    // crossed on the way (in flight when it came) that the other does not: the count moved,
    // less those, is a lower bound of the refill, and it tightens as the span grows.
    const grown = total - this.anchor.total - 1 - seen.crossing - this.anchor.crossing;
    if (span > 0 && grown > 0 && (this.source !== 'estimated' || grown / span > this.rate!)) {
      this.measured = false;
      this.rate = grown / span;
      this.source = 'estimated';
    }
  }

  /**
   * A 429 advised waiting `retryAfterMs` for `cost` (remaining-only headers): at `sentAt` plus
   * that, the server's level is `cost`, to the fraction. From the last instant the level was
   * known, it refilled that plus what was sent since, less what it held then: the rate, exact
   * unless the bucket filled and wasted in between (then a lower bound). Without such an
   * instant, `remaining` is rounded down: the rate is at least what refills the difference
   * less one unit in that time (of one missing request it says nothing).
   */
  learnFromRefusal(
    cost: number,
    remaining: number | undefined,
    retryAfterMs: number,
    seen: Observation | undefined,
  ): void {
    if (this.source === 'configured' || this.source === 'header') return;
    if (remaining === undefined || retryAfterMs <= 0) return;
    const need = Math.min(cost, this.capacity ?? cost);
    // This budget had room: the refusal was another budget's.
    if (need - remaining <= 0) return;
    const known = this.knownLevel;
    // Without an observation (a later answer was applied first) what was sent since is unclear.
    this.knownLevel = seen && { at: seen.sentAt + retryAfterMs, level: need, total: seen.sentSoFar };
    if (seen !== undefined && known !== undefined && seen.sentAt + retryAfterMs > known.at) {
      const at = seen.sentAt + retryAfterMs;
      const refilled = need - known.level + (seen.sentSoFar - known.total);
      if (refilled > 0) {
        this.rate = refilled / (at - known.at);
        this.source = 'estimated';
        this.measured = true;
        this.anchor = undefined;
        return;
      }
    }
    if (this.source === 'estimated' || need - remaining - 1 <= 0) return;
    this.rate = (need - remaining - 1) / retryAfterMs;
    this.source = 'estimated';
  }

  /**
   * A 429 advised that `cost` fits in `retryAfterMs`: more exact than a `remaining` rounded
   * down, so the retry is not held a unit longer than the server asked.
   */
  advised(cost: number, retryAfterMs: number, now: number): void {
    if (this.rate === undefined || this.capacity === undefined) return;
    this.refill(now);
    this.level = Math.max(this.level, Math.min(cost, this.capacity) - this.rate * retryAfterMs);
  }

  /**
   * Takes on what another limiter learnt of this budget, as that limiter's {@link belief} gives
   * it (or a share of it): its rate, its burst, and `available` as the level now, with no
   * request charged for them. Configured budgets ignore it, as they ignore answers; so does a
   * belief with no burst (nothing known).
   */
  learn({ perMinute, source, burst, available }: RateLimitBelief, now: number): void {
    if (this.source === 'configured' || burst === undefined) return;
    this.at = now;
    if (perMinute !== undefined) {
      this.rate = perMinute / MINUTE_MS;
      this.source = source === 'estimated' ? 'estimated' : 'header';
    }
    this.largestSeen = Math.max(this.largestSeen, burst);
    this.capacity = this.largestSeen;
    this.level = Math.min(available ?? 0, this.capacity);
  }

  /**
   * Lowers the level to `available` if it holds more, for a budget of any source: a configured
   * budget started full learns so what a budget shared with others had left of it.
   */
  drainTo(available: number, now: number): void {
    this.refill(now);
    this.level = Math.min(this.level, Math.max(0, available));
  }

  belief(now: number): RateLimitBelief {
    this.refill(now);
    return {
      perMinute: this.rate === undefined ? undefined : this.rate * MINUTE_MS,
      source: this.source,
      burst: this.capacity,
      available: this.capacity === undefined ? undefined : Math.max(0, Math.floor(this.level)),
    };
  }
}

/** The belief of a budget nothing is known of. */
export function unknownBelief(): RateLimitBelief {
  return { perMinute: undefined, source: undefined, burst: undefined, available: undefined };
}

/** The tighter of a learnt and a configured belief: the configured one when it paces no faster. */
export function tighter(learnt: RateLimitBelief, configured: RateLimitBelief | undefined): RateLimitBelief {
  const limit = configured?.perMinute;
  return limit !== undefined && (learnt.perMinute === undefined || limit <= learnt.perMinute) ? configured! : learnt;
}
