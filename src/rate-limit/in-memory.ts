import { InvalidArgumentError } from '../errors.js';
import { BACKOFF } from '../retry.js';
import { systemClock, type RateLimitClock } from './clock.js';
import { Budget, type Observation } from './budget.js';
import { readRateLimitHeaders, type RateLimitHeaders } from './headers.js';
import type {
  AcquireOptions,
  RateLimit,
  RateLimitAnswer,
  RateLimitBelief,
  RateLimiter,
  RateLimitGrant,
  RateLimitSnapshot,
  RateLimitWait,
  TokensCorrection,
} from './types.js';
import { AdaptiveRate, ConcurrencyWindow } from './window.js';

export const RATE_LIMITER_DEFAULTS = Object.freeze({
  /** A wait derived from headers is believed up to this, as a `retry-after` is. @unit ms */
  maxHeaderWaitMs: BACKOFF.maxServerDelay,
  /** Node's timers hold 32 bits: a longer delay fires at once, again and again. @unit ms */
  maxTimerMs: 2 ** 31 - 1,
  /** The pause after a 429 that advised nothing usable: doubled per 429 in a row, capped. @unit ms */
  pauseWithoutAdvice: { initial: BACKOFF.initialDelay, max: BACKOFF.maxDelay },
  /** The code of the one warning a limiter emits for headers it ignores. */
  warningCode: 'EMBEDRAIL_RATE_LIMIT_HEADER',
});

export interface InMemoryRateLimiterOptions extends RateLimit {
  /**
   * Learn limits, bursts and pauses from the answers. Off, the limiter paces on its configured
   * limits alone: a cap in front of another limiter that learns (as a call's `rateLimit` sits in
   * front of its client's), so each answer is read once and warned about at most once.
   * @default true
   */
  learnFromAnswers?: boolean;
  /** Time source and timers; tests pass a fake one. @default Date.now and the global timers */
  clock?: RateLimitClock;
  /**
   * Where the one warning about unusable headers goes (a client with a `logger` sends it there).
   * @default process.emitWarning, with the code `EMBEDRAIL_RATE_LIMIT_HEADER`
   */
  onWarning?: (message: string) => void;
}

interface Waiter {
  tokens: number;
  resolve: (grant: RateLimitGrant) => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
  onWait: ((wait: RateLimitWait) => void) | undefined;
  reported: RateLimitWait | undefined;
}

interface Sent {
  seq: number;
  tokens: number;
  sentAt: number;
}

type Kind = 'requests' | 'tokens';
const KINDS: readonly Kind[] = ['requests', 'tokens'];

/** What another limiter learnt of the server's limits (or this one's share of it), for `learnShare()`. */
export interface LearntShare {
  requests: RateLimitBelief;
  tokens: RateLimitBelief;
  headerStyle: RateLimitSnapshot['headerStyle'];
}

/**
 * A client's rate limits kept in this process: what the caller configured, and what the
 * server's answers teach (see {@link Budget} and {@link ConcurrencyWindow}). Share one between
 * clients that use the same key. Waiters are served first come, first served, so a large
 * request is never starved by a stream of small ones.
 */
export class InMemoryRateLimiter implements RateLimiter {
  private readonly clock: RateLimitClock;
  private readonly configured: Record<Kind, Budget | undefined>;
  private readonly learnt: Record<Kind, Budget>;
  private readonly window: ConcurrencyWindow;
  private readonly pace: AdaptiveRate;
  private readonly queue: Waiter[] = [];
  /** Started and not yet settled, by sequence number. */
  private readonly inFlight = new Map<number, Sent>();
  /** Started after the last answer whose `remaining` was applied, and not refused. */
  private unsynced: Sent[] = [];
  private syncedSeq = 0;
  private seq = 0;
  private readonly sentSoFar = { requests: 0, tokens: 0 };
  private pausedUntil = 0;
  /** A budget known only to be used up until its reset (`remaining: 0` without a limit). */
  private blockedUntil = 0;
  private refusedInARow = 0;
  private rateLimited = 0;
  private headerStyle: RateLimitSnapshot['headerStyle'] = 'unknown';
  /** Since when the first in line has waited on headers' word, for {@link RATE_LIMITER_DEFAULTS.maxHeaderWaitMs}. */
  private headWaitingSince: number | undefined;
  private timer: unknown;
  private warned = false;
  private readonly learns: boolean;
  private readonly onWarning: ((message: string) => void) | undefined;
  readonly limits: Readonly<RateLimit>;

  constructor(options: InMemoryRateLimiterOptions = {}) {
    for (const name of ['requestsPerMinute', 'tokensPerMinute'] as const) {
      const value = options[name];
      if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value > 0)) {
        throw new InvalidArgumentError(
          `Invalid InMemoryRateLimiter options: \`${name}\` must be a number > 0 (got ${String(value)})`,
        );
      }
    }
    const { requestsPerMinute, tokensPerMinute } = options;
    this.limits = Object.freeze({
      ...(requestsPerMinute !== undefined && { requestsPerMinute }),
      ...(tokensPerMinute !== undefined && { tokensPerMinute }),
    });
    this.clock = options.clock ?? systemClock;
    this.learns = options.learnFromAnswers ?? true;
    this.onWarning = options.onWarning;
    const now = this.clock.now();
    this.configured = {
      requests: options.requestsPerMinute === undefined ? undefined : new Budget(now, options.requestsPerMinute),
      tokens: options.tokensPerMinute === undefined ? undefined : new Budget(now, options.tokensPerMinute),
    };
    this.learnt = { requests: new Budget(now), tokens: new Budget(now) };
    // Configured limits are known limits: no need to start with one request alone.
    this.window = new ConcurrencyWindow(this.configured.requests !== undefined || this.configured.tokens !== undefined);
    this.pace = new AdaptiveRate(now);
  }

  acquire({ tokens, signal, onWait }: AcquireOptions): Promise<RateLimitGrant> {
    if (!(Number.isFinite(tokens) && tokens >= 0)) {
      return Promise.reject(
        new InvalidArgumentError(`Invalid acquire() options: \`tokens\` must be a number ≥ 0 (got ${String(tokens)})`),
      );
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<RateLimitGrant>((resolve, reject) => {
      const waiter: Waiter = {
        tokens,
        resolve,
        reject,
        signal,
        onWait,
        reported: undefined,
        onAbort: () => {
          const at = this.queue.indexOf(waiter);
          if (at === -1) return;
          this.queue.splice(at, 1);
          if (at === 0) this.headWaitingSince = undefined;
          reject(signal!.reason);
          this.schedule();
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.queue.push(waiter);
      this.schedule();
    });
  }

  snapshot(): RateLimitSnapshot {
    const now = this.clock.now();
    const head = this.queue[0]?.reported;
    return {
      requests: this.belief('requests', now),
      tokens: this.belief('tokens', now),
      headerStyle: this.headerStyle,
      concurrency: this.window.limit,
      inFlight: this.inFlight.size,
      waiting: this.queue.length,
      waitingUntil: head?.untilMs,
      waitReason: head?.reason,
      rateLimited: this.rateLimited,
    };
  }

  /**
   * A charge was an estimate: the configured tokens budget takes the difference (or gets it
   * back). The learnt one needs nothing: its level follows the answers' `remaining-tokens`,
   * which count what the server used; only the running total it measures refill against
   * is corrected.
   */
  reconcile({ charged, used }: TokensCorrection): void {
    const difference = used - charged;
    if (!Number.isFinite(difference) || difference === 0) return;
    this.configured.tokens?.take(difference, this.clock.now());
    this.sentSoFar.tokens += difference;
    this.schedule();
  }

  /**
   * @internal Starts this limiter on what another limiter learnt, as answers would have taught
   * it but with no request charged for it (see `Budget.learn`): a RedisRateLimiter worker cut
   * off from Redis paces on its share of the budget so. Not part of the package's API.
   */
  learnShare(share: LearntShare): void {
    if (!this.learns) return;
    const now = this.clock.now();
    for (const kind of KINDS) this.learnt[kind].learn(share[kind], now);
    if (!this.learnt.requests.known && !this.learnt.tokens.known) return;
    // Known limits, as an answer's headers would have opened it: the budgets pace from now on.
    this.window.open();
    this.headerStyle = share.headerStyle;
    this.schedule();
  }

  /** The tighter of the configured and the learnt budget: the configured one when it paces slower. */
  private belief(kind: Kind, now: number) {
    const learnt = this.learnt[kind].belief(now);
    const configured = this.configured[kind]?.belief(now);
    if (configured === undefined) return learnt;
    if (learnt.perMinute === undefined || configured.perMinute! <= learnt.perMinute) return configured;
    return learnt;
  }

  /** The wait of the first in line, or 0 when it may start now. */
  private waitOf(tokens: number, now: number): RateLimitWait | 0 {
    if (this.pausedUntil > now) return { untilMs: this.pausedUntil, reason: '429' };
    if (!this.window.allows(this.inFlight.size)) return { untilMs: undefined, reason: 'slow-start' };
    let wait = this.pace.waitFor(now);
    for (const kind of KINDS) wait = Math.max(wait, this.configured[kind]?.waitFor(cost(kind, tokens), now) ?? 0);
    let learnt = Math.max(0, this.blockedUntil - now);
    for (const kind of KINDS) {
      const ms = this.learnt[kind].waitFor(cost(kind, tokens), now);
      // Rate unknown and the budget short: only an answer can tell, unless none is coming.
      if (ms === undefined) {
        if (this.inFlight.size > 0) return { untilMs: undefined, reason: 'rate-limit' };
      } else learnt = Math.max(learnt, ms);
    }
    if (learnt > 0) {
      this.headWaitingSince ??= now;
      const allowed = this.headWaitingSince + RATE_LIMITER_DEFAULTS.maxHeaderWaitMs - now;
      wait = Math.max(wait, Math.min(learnt, Math.max(0, allowed)));
    }
    return wait > 0 ? { untilMs: now + wait, reason: 'rate-limit' } : 0;
  }

  private schedule(): void {
    if (this.timer !== undefined) {
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
    const now = this.clock.now();
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      const wait = this.waitOf(head.tokens, now);
      if (wait !== 0) {
        report(head, wait);
        for (const waiter of this.queue.slice(1)) report(waiter, { untilMs: wait.untilMs, reason: 'queued' });
        if (wait.untilMs !== undefined) {
          const delay = Math.min(Math.max(1, wait.untilMs - now), RATE_LIMITER_DEFAULTS.maxTimerMs);
          this.timer = this.clock.setTimeout(() => {
            this.timer = undefined;
            this.schedule();
          }, delay);
        }
        return;
      }
      this.queue.shift();
      this.headWaitingSince = undefined;
      head.signal?.removeEventListener('abort', head.onAbort);
      head.resolve(this.start(head.tokens, now));
    }
  }

  private start(tokens: number, now: number): RateLimitGrant {
    const seq = ++this.seq;
    for (const kind of KINDS) {
      this.configured[kind]?.take(cost(kind, tokens), now);
      this.learnt[kind].take(cost(kind, tokens), now);
      this.sentSoFar[kind] += cost(kind, tokens);
    }
    this.pace.take(now);
    const sent: Sent = { seq, tokens, sentAt: now };
    this.inFlight.set(seq, sent);
    this.unsynced.push(sent);
    let settled = false;
    const settle = (answer: RateLimitAnswer | undefined) => {
      if (settled) return;
      settled = true;
      this.inFlight.delete(seq);
      if (answer !== undefined) this.answered(sent, answer);
      this.forget();
      this.schedule();
    };
    return { complete: (answer) => settle(answer), cancel: () => settle(undefined) };
  }

  private answered(sent: Sent, answer: RateLimitAnswer): void {
    const now = this.clock.now();
    const refused = answer.status === 429;
    if (!this.learns) {
      if (refused) this.refund(sent, now);
      return;
    }
    const headers = readRateLimitHeaders(answer.headers, now, (name, value) => this.warn(name, value));
    if (refused) this.refund(sent, now);
    let seen: Record<Kind, Observation> | undefined;
    if (headers.style !== 'none') {
      this.headerStyle = headers.style;
      this.window.open();
      if (sent.seq > this.syncedSeq) seen = this.sync(sent, headers, !refused, now);
    } else if (answer.status < 300 || refused) {
      if (this.headerStyle === 'unknown') this.headerStyle = 'none';
      if (!refused) {
        this.window.grow(sent.sentAt);
        this.pace.accepted();
      } else if (this.headerStyle === 'none' && this.window.shrink(sent.sentAt, now, this.inFlight.size + 1)) {
        // Paced on a measured rate, requests in flight are what that rate allows: no window.
        if (this.pace.refused(now)) this.window.open();
      }
    }
    if (!refused) {
      if (answer.status < 300) this.refusedInARow = 0;
      return;
    }
    this.rateLimited++;
    if (headers.never) return;
    this.refusedInARow++;
    let pause = headers.retryAfterMs;
    if (pause !== undefined) {
      for (const kind of KINDS) {
        this.learnt[kind].learnFromRefusal(cost(kind, sent.tokens), headers[kind].remaining, pause, seen?.[kind]);
        this.learnt[kind].advised(cost(kind, sent.tokens), pause, now);
      }
    } else {
      const { initial, max } = RATE_LIMITER_DEFAULTS.pauseWithoutAdvice;
      pause = Math.min(initial * 2 ** (this.refusedInARow - 1), max);
    }
    // Every request of the limiter waits, not only the refused one's retry.
    this.pausedUntil = Math.max(this.pausedUntil, now + pause);
  }

  /** The server took nothing for a refused attempt: its retry acquires and is charged again. */
  private refund(sent: Sent, now: number): void {
    // A learnt level synced since from a later answer already left it out.
    const unsynced = sent.seq > this.syncedSeq;
    this.unsynced = this.unsynced.filter((s) => s !== sent);
    for (const kind of KINDS) {
      this.configured[kind]?.refund(cost(kind, sent.tokens), now);
      if (unsynced) this.learnt[kind].refund(cost(kind, sent.tokens), now);
      this.sentSoFar[kind] -= cost(kind, sent.tokens);
    }
  }

  /**
   * Only an answer still to come can ask what was sent after it: what started before every
   * request in flight is never needed again (without headers nothing is ever synced, and a
   * long job would otherwise keep every request it sent).
   */
  private forget(): void {
    const oldest = this.inFlight.keys().next().value ?? Infinity;
    let drop = 0;
    while (drop < this.unsynced.length && this.unsynced[drop]!.seq < oldest) drop++;
    if (drop > 0) this.unsynced.splice(0, drop);
  }

  /** `remaining` is the truth as of this request, less what was sent after it. */
  private sync(sent: Sent, headers: RateLimitHeaders, charged: boolean, now: number): Record<Kind, Observation> {
    this.syncedSeq = sent.seq;
    const observations = {} as Record<Kind, Observation>;
    this.unsynced = this.unsynced.filter((s) => s.seq > sent.seq);
    for (const kind of KINDS) {
      const uncounted = this.unsynced.reduce((sum, s) => sum + cost(kind, s.tokens), 0);
      const seen: Observation = {
        sentAt: sent.sentAt,
        cost: cost(kind, sent.tokens),
        charged,
        uncounted,
        // Everything started after this request is still unsynced, unless refused.
        sentSoFar: this.sentSoFar[kind] - uncounted,
        crossing: [...this.inFlight.values()].reduce((sum, s) => sum + cost(kind, s.tokens), 0),
      };
      this.learnt[kind].observe(headers[kind], seen, now);
      observations[kind] = seen;
      const { remaining, resetMs, limit } = headers[kind];
      // Used up, with no limit to refill from: it is known to return only at its reset.
      if (remaining === 0 && limit === undefined && resetMs !== undefined) {
        this.blockedUntil = Math.max(this.blockedUntil, now + resetMs);
      }
    }
    return observations;
  }

  private warn(name: string, value: string): void {
    if (this.warned) return;
    this.warned = true;
    const message = `Ignoring the rate-limit header ${name}: ${JSON.stringify(value)} (not a usable value)`;
    if (this.onWarning !== undefined) this.onWarning(message);
    else process.emitWarning(message, { code: RATE_LIMITER_DEFAULTS.warningCode });
  }
}

function cost(kind: Kind, tokens: number): number {
  return kind === 'requests' ? 1 : tokens;
}

function report(waiter: Waiter, wait: RateLimitWait): void {
  const last = waiter.reported;
  if (last !== undefined && last.untilMs === wait.untilMs && last.reason === wait.reason) return;
  waiter.reported = wait;
  waiter.onWait?.(wait);
}
