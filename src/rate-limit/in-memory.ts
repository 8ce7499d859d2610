import { systemClock, type RateLimitClock } from './clock.js';
import { Budget, tighter, type Observation } from './budget.js';
import { RATE_LIMITER_DEFAULTS } from './defaults.js';
import { readRateLimitHeaders, type RateLimitHeaders } from './headers.js';
import { cost, KINDS, SentLedger, type Kind, type Sent } from './ledger.js';
import { configuredLimits } from './limits.js';
import { report, timerDelay, waitInLine, type Waiter } from './line.js';
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
import { firstOnly, unusableHeader, warningSink, type Warn } from './warnings.js';
import { AdaptiveRate, ConcurrencyWindow } from './window.js';

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

/** What another limiter learnt of the server's limits (or this one's share of it), for `learnShare()`. */
export interface LearntShare {
  requests: RateLimitBelief;
  tokens: RateLimitBelief;
  headerStyle: RateLimitSnapshot['headerStyle'];
  /** What is left of each configured budget (this limiter's share of it); a budget starts full without. */
  configuredAvailable?: Partial<Record<Kind, number>>;
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
  private readonly sent = new SentLedger();
  private pausedUntil = 0;
  /** A budget known only to be used up until its reset (`remaining: 0` without a limit). */
  private blockedUntil = 0;
  private refusedInARow = 0;
  private rateLimited = 0;
  private headerStyle: RateLimitSnapshot['headerStyle'] = 'unknown';
  /** Since when the first in line has waited on headers' word, for {@link RATE_LIMITER_DEFAULTS.maxHeaderWaitMs}. */
  private headWaitingSince: number | undefined;
  private timer: unknown;
  private readonly learns: boolean;
  private readonly warnHeader: Warn;
  readonly limits: Readonly<RateLimit>;

  constructor(options: InMemoryRateLimiterOptions = {}) {
    this.limits = configuredLimits('InMemoryRateLimiter', options);
    this.clock = options.clock ?? systemClock;
    this.learns = options.learnFromAnswers ?? true;
    this.warnHeader = firstOnly(warningSink(options.onWarning, RATE_LIMITER_DEFAULTS.warningCode));
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

  acquire(options: AcquireOptions): Promise<RateLimitGrant> {
    return waitInLine(
      options,
      () => ({}),
      (waiter) => {
        this.queue.push(waiter);
        this.schedule();
      },
      (waiter) => {
        const at = this.queue.indexOf(waiter);
        if (at === -1) return;
        this.queue.splice(at, 1);
        if (at === 0) this.headWaitingSince = undefined;
        waiter.reject(waiter.options.signal!.reason);
        this.schedule();
      },
    );
  }

  snapshot(): RateLimitSnapshot {
    const now = this.clock.now();
    const head = this.queue[0]?.reported;
    return {
      requests: this.belief('requests', now),
      tokens: this.belief('tokens', now),
      headerStyle: this.headerStyle,
      concurrency: this.window.limit,
      inFlight: this.sent.inFlightCount,
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
    this.sent.correct(difference);
    this.schedule();
  }

  /**
   * @internal Starts this limiter on what another limiter learnt, as answers would have taught
   * it but with no request charged for it (see `Budget.learn`): a RedisRateLimiter worker cut
   * off from Redis paces on its share of the budget so. Not part of the package's API.
   */
  learnShare(share: LearntShare): void {
    const now = this.clock.now();
    for (const kind of KINDS) {
      const left = share.configuredAvailable?.[kind];
      if (left !== undefined) this.configured[kind]?.drainTo(left, now);
    }
    if (!this.learns) return;
    for (const kind of KINDS) this.learnt[kind].learn(share[kind], now);
    if (!this.learnt.requests.known && !this.learnt.tokens.known) return;
    // Known limits, as an answer's headers would have opened it: the budgets pace from now on.
    this.window.open();
    this.headerStyle = share.headerStyle;
    this.schedule();
  }

  /** The tighter of the configured and the learnt budget: the configured one when it paces slower. */
  private belief(kind: Kind, now: number) {
    return tighter(this.learnt[kind].belief(now), this.configured[kind]?.belief(now));
  }

  /** The wait of the first in line, or 0 when it may start now. */
  private waitOf(tokens: number, now: number): RateLimitWait | 0 {
    if (this.pausedUntil > now) return { untilMs: this.pausedUntil, reason: '429' };
    if (!this.window.allows(this.sent.inFlightCount)) return { untilMs: undefined, reason: 'slow-start' };
    let wait = this.pace.waitFor(now);
    for (const kind of KINDS) wait = Math.max(wait, this.configured[kind]?.waitFor(cost(kind, tokens), now) ?? 0);
    let learnt = Math.max(0, this.blockedUntil - now);
    for (const kind of KINDS) {
      const ms = this.learnt[kind].waitFor(cost(kind, tokens), now);
      // Rate unknown and the budget short: only an answer can tell, unless none is coming.
      if (ms === undefined) {
        if (this.sent.inFlightCount > 0) return { untilMs: undefined, reason: 'rate-limit' };
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
      const wait = this.waitOf(head.options.tokens, now);
      if (wait !== 0) {
        report(head, wait);
        for (const waiter of this.queue.slice(1)) report(waiter, { untilMs: wait.untilMs, reason: 'queued' });
        if (wait.untilMs !== undefined) {
          // An onWait told above may have aborted, and the schedule its leaving ran set a timer.
          if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
          this.timer = this.clock.setTimeout(
            () => {
              this.timer = undefined;
              this.schedule();
            },
            timerDelay(wait.untilMs - now),
          );
        }
        return;
      }
      this.queue.shift();
      this.headWaitingSince = undefined;
      head.resolve(this.start(head.options.tokens, now));
    }
  }

  private start(tokens: number, now: number): RateLimitGrant {
    for (const kind of KINDS) {
      this.configured[kind]?.take(cost(kind, tokens), now);
      this.learnt[kind].take(cost(kind, tokens), now);
    }
    this.pace.take(now);
    const sent = this.sent.start(tokens, now);
    let settled = false;
    const settle = (answer: RateLimitAnswer | undefined) => {
      if (settled) return;
      settled = true;
      this.sent.settled(sent);
      if (answer !== undefined) this.answered(sent, answer);
      this.sent.forget();
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
    const headers = readRateLimitHeaders(answer.headers, now, (name, value) =>
      this.warnHeader(unusableHeader(name, value)),
    );
    if (refused) this.refund(sent, now);
    let seen: Record<Kind, Observation> | undefined;
    if (headers.style !== 'none') {
      this.headerStyle = headers.style;
      this.window.open();
      if (this.sent.isUnsynced(sent)) seen = this.sync(sent, headers, !refused, now);
    } else if (answer.status < 300 || refused) {
      if (this.headerStyle === 'unknown') this.headerStyle = 'none';
      if (!refused) {
        this.window.grow(sent.sentAt);
        this.pace.accepted();
      } else if (this.headerStyle === 'none' && this.window.shrink(sent.sentAt, now, this.sent.inFlightCount + 1)) {
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
    const unsynced = this.sent.isUnsynced(sent);
    this.sent.refund(sent);
    for (const kind of KINDS) {
      this.configured[kind]?.refund(cost(kind, sent.tokens), now);
      if (unsynced) this.learnt[kind].refund(cost(kind, sent.tokens), now);
    }
  }

  /** `remaining` is the truth as of this request, less what was sent after it. */
  private sync(sent: Sent, headers: RateLimitHeaders, charged: boolean, now: number): Record<Kind, Observation> {
    const observations = this.sent.sync(sent, charged);
    for (const kind of KINDS) {
      this.learnt[kind].observe(headers[kind], observations[kind], now);
      const { remaining, resetMs, limit } = headers[kind];
      // Used up, with no limit to refill from: it is known to return only at its reset.
      if (remaining === 0 && limit === undefined && resetMs !== undefined) {
        this.blockedUntil = Math.max(this.blockedUntil, now + resetMs);
      }
    }
    return observations;
  }
}
