import { unknownBelief } from '../rate-limit/budget.js';
import { RATE_LIMITER_DEFAULTS } from '../rate-limit/defaults.js';
import { readRateLimitHeaders } from '../rate-limit/headers.js';
import { report, timerDelay, waitInLine, type Waiter as LineWaiter } from '../rate-limit/line.js';
import type {
  AcquireOptions,
  RateLimit,
  RateLimitAnswer,
  RateLimiter,
  RateLimitGrant,
  RateLimitSnapshot,
  RateLimitWait,
  TokensCorrection,
} from '../rate-limit/types.js';
import { firstOnly, unusableHeader, warningSink, type Warn } from '../rate-limit/warnings.js';
import type { ScriptSnapshot } from './rate-limiter-commands.js';
import { toSnapshot } from './rate-limiter-fallback.js';
import { RedisLink, type Held } from './rate-limiter-link.js';
import {
  REDIS_RATE_LIMITER_DEFAULTS,
  resolveRedisRateLimiterOptions,
  type RedisRateLimiterOptions,
} from './rate-limiter-options.js';

interface Waiter extends LineWaiter {
  ticket: string;
  /** Redis has its ticket in its line. */
  registered: boolean;
  /** Ends the current sleep early: an answer came in, the line moved, or Redis went away. */
  wake: (() => void) | undefined;
}

/**
 * A rate limit budget shared through Redis by every worker (process, host) on the same API
 * key: each request takes one request and its tokens from both buckets in one Lua step, on
 * Redis's clock; what any worker learns from `x-ratelimit-*` headers and 429s paces them all;
 * waiters are served in order of arrival across processes. When Redis does not answer within
 * `timeoutMs`, each worker paces on a local share of the last known budget, warns once, and
 * rejoins when Redis answers again.
 *
 * @example
 * const redis = new Redis(process.env.REDIS_URL);
 * const client = new EmbeddingsClient({ rateLimiter: new RedisRateLimiter({ redis, key: 'openai:prod' }) });
 */
export class RedisRateLimiter implements RateLimiter {
  readonly limits: Readonly<RateLimit>;
  private readonly link: RedisLink;
  private readonly warnHeader: Warn;
  private readonly queue: Waiter[] = [];
  private readonly leases = new Set<string>();
  private tickets = 0;
  private last: { snapshot: ScriptSnapshot; receivedAt: number } | undefined;

  constructor(options: RedisRateLimiterOptions) {
    const { limits, settings } = resolveRedisRateLimiterOptions(options);
    this.limits = limits;
    this.warnHeader = firstOnly(warningSink(options.onWarning, RATE_LIMITER_DEFAULTS.warningCode));
    const warnOutage = warningSink(options.onWarning, REDIS_RATE_LIMITER_DEFAULTS.warningCode);
    this.link = new RedisLink({
      redis: options.redis,
      key: options.key,
      limits,
      settings,
      warn: (message, header) => (header ? this.warnHeader : warnOutage)(message),
      held: () => this.held(),
    });
  }

  acquire(options: AcquireOptions): Promise<RateLimitGrant> {
    const local = this.link.local;
    if (local) return local.acquire(options);
    return waitInLine<Waiter>(
      options,
      () => ({ ticket: `${this.link.worker}:${++this.tickets}`, registered: false, wake: undefined }),
      (waiter) => {
        this.queue.push(waiter);
        this.link.beat();
        void this.run(waiter);
      },
      // Its run wakes to the abort and leaves the line, in Redis too.
      (waiter) => waiter.wake?.(),
    );
  }

  snapshot(): RateLimitSnapshot {
    const local = this.link.local;
    if (local) return local.snapshot();
    if (this.last === undefined) {
      return {
        requests: unknownBelief(),
        tokens: unknownBelief(),
        headerStyle: 'unknown',
        concurrency: undefined,
        inFlight: this.leases.size,
        waiting: this.queue.length,
        waitingUntil: undefined,
        waitReason: undefined,
        rateLimited: 0,
      };
    }
    return toSnapshot(this.last.snapshot, this.last.receivedAt);
  }

  /** The configured tokens bucket takes the difference in Redis; the learnt one follows `remaining`. */
  reconcile({ charged, used }: TokensCorrection): void {
    const difference = used - charged;
    if (!Number.isFinite(difference) || difference === 0) return;
    const local = this.link.local;
    if (local) {
      local.reconcile({ charged, used });
      return;
    }
    const { key, settings } = this.link;
    this.link.step((s) => s.reconcile(key, difference, settings.keyTtlMs)).catch((error: unknown) => this.down(error));
  }

  /** One waiter's way to its turn: ask Redis, sleep as told, ask again; or the local share. */
  private async run(waiter: Waiter): Promise<void> {
    const { signal } = waiter.options;
    try {
      for (;;) {
        if (signal?.aborted) throw signal.reason;
        const local = this.link.local;
        if (local) {
          this.leave(waiter);
          if (waiter.registered) this.link.abandonTicket(waiter.ticket);
          waiter.resolve(await local.acquire(waiter.options));
          return;
        }
        // The first here asks; so does the first in Redis's line when it is one of ours (a
        // line rebuilt after a restart may order this worker's waiters otherwise).
        const first = this.queue[0] === waiter || this.last?.snapshot.head === waiter.ticket;
        if (!first && waiter.registered) {
          await this.sleep(waiter, undefined);
          continue;
        }
        let reply;
        try {
          const { key, worker, settings } = this.link;
          reply = await this.link.step((s) =>
            s.acquire(key, {
              ticket: waiter.ticket,
              worker,
              tokens: waiter.options.tokens,
              requestsPerMinute: this.limits.requestsPerMinute,
              tokensPerMinute: this.limits.tokensPerMinute,
              leaseMs: settings.leaseMs,
              keyTtlMs: settings.keyTtlMs,
            }),
          );
        } catch (error) {
          this.down(error, waiter.ticket);
          continue;
        }
        waiter.registered = true;
        this.remember(reply.snapshot);
        if (reply.granted !== undefined) {
          const grant = this.grant(reply.granted);
          // Aborted while Redis answered: the turn goes back at once, not at its lease's end.
          if (signal?.aborted) {
            grant.cancel();
            throw signal.reason;
          }
          this.leave(waiter);
          waiter.resolve(grant);
          this.queue[0]?.wake?.();
          return;
        }
        const wait: RateLimitWait = {
          untilMs: reply.wait >= 0 ? Date.now() + reply.wait : undefined,
          reason: reply.reason,
        };
        report(waiter, wait);
        if (!first) continue;
        const { pollMs } = REDIS_RATE_LIMITER_DEFAULTS;
        // Another worker's turn ends when its poll comes: ask just after it, not at the same instant.
        const ms = reply.wait < 0 ? pollMs : reply.reason === 'queued' ? Math.max(reply.wait + 2, 5) : reply.wait;
        await this.sleep(waiter, ms);
      }
    } catch (error) {
      this.leave(waiter);
      if (waiter.registered) {
        const { key, settings } = this.link;
        this.link
          .step((s) => s.leave(key, [waiter.ticket], settings.keyTtlMs))
          .catch(() => this.link.abandonTicket(waiter.ticket));
      }
      this.queue[0]?.wake?.();
      waiter.reject(error);
    }
  }

  private sleep(waiter: Waiter, ms: number | undefined): Promise<void> {
    // Aborted while it was not asleep (in its onWait, or while Redis answered): the abort found
    // nothing to wake, so the sleep does not begin and the run leaves the line.
    if (waiter.options.signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(done, timerDelay(ms));
      function done() {
        clearTimeout(timer);
        waiter.wake = undefined;
        resolve();
      }
      waiter.wake = done;
    });
  }

  private leave(waiter: Waiter): void {
    const at = this.queue.indexOf(waiter);
    if (at !== -1) this.queue.splice(at, 1);
    if (at === 0) this.queue[0]?.wake?.();
  }

  private grant(lease: string): RateLimitGrant {
    this.leases.add(lease);
    let settled = false;
    const settle = (answer: RateLimitAnswer | undefined) => {
      if (settled) return;
      settled = true;
      this.leases.delete(lease);
      const headers =
        answer &&
        readRateLimitHeaders(answer.headers, Date.now(), (name, value) => this.warnHeader(unusableHeader(name, value)));
      const { key, settings } = this.link;
      this.link
        .step((s) => s.settle(key, { lease, status: answer?.status ?? 0, headers, keyTtlMs: settings.keyTtlMs }))
        .then(
          (reply) => {
            this.remember(reply.snapshot);
            this.queue[0]?.wake?.();
          },
          (error: unknown) => {
            this.link.abandonLease(lease);
            this.down(error);
          },
        );
    };
    return { complete: (answer) => settle(answer), cancel: () => settle(undefined) };
  }

  private remember(snapshot: ScriptSnapshot): void {
    this.last = { snapshot, receivedAt: Date.now() };
    if (snapshot.head !== undefined) this.queue.find((waiter) => waiter.ticket === snapshot.head)?.wake?.();
  }

  /** Redis did not answer: new turns come from the local share, so the waiters are woken to it. */
  private down(error: unknown, ticket?: string): void {
    if (this.link.down(error, this.last?.snapshot, ticket)) for (const waiter of this.queue) waiter.wake?.();
  }

  /** What the heartbeat keeps alive: the tickets of the waiters Redis has, and the leases. */
  private held(): Held | undefined {
    if (this.queue.length === 0 && this.leases.size === 0) return undefined;
    return { tickets: this.queue.filter((w) => w.registered).map((w) => w.ticket), leases: [...this.leases] };
  }
}
