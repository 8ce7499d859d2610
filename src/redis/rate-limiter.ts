import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { InvalidArgumentError } from '../index.js';
import { readRateLimitHeaders } from '../rate-limit/headers.js';
import { RATE_LIMITER_DEFAULTS, type InMemoryRateLimiter } from '../rate-limit/in-memory.js';
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
import { rateScripts, type RateScripts, type ScriptSnapshot } from './rate-limiter-commands.js';
import { localShare, toSnapshot } from './rate-limiter-fallback.js';
import { REDIS_RATE_LIMITER_DEFAULTS, type RedisRateLimiterOptions } from './rate-limiter-options.js';

interface Waiter {
  ticket: string;
  options: AcquireOptions;
  registered: boolean;
  resolve: (grant: RateLimitGrant) => void;
  reject: (reason: unknown) => void;
  reported: RateLimitWait | undefined;
  /** Ends the current sleep early: an answer came in, the line moved, or Redis went away. */
  wake: (() => void) | undefined;
}

class RedisTimeout extends Error {
  override name = 'RedisTimeout';
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
  private readonly scripts: RateScripts;
  private readonly redisKey: string;
  private readonly worker = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private readonly settings: Required<Omit<RedisRateLimiterOptions, 'redis' | 'key' | 'onWarning' | keyof RateLimit>>;
  private readonly onWarning: ((message: string) => void) | undefined;
  private readonly queue: Waiter[] = [];
  private readonly leases = new Set<string>();
  /** Tickets and leases given up while Redis did not answer: cleared when it answers again. */
  private abandoned: { tickets: string[]; leases: string[] } = { tickets: [], leases: [] };
  private tickets = 0;
  private last: { snapshot: ScriptSnapshot; receivedAt: number } | undefined;
  private fallback: InMemoryRateLimiter | undefined;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private probe: ReturnType<typeof setTimeout> | undefined;
  private warnedHeader = false;

  /** Redis did not answer: new turns come from the local share until it does. */
  private get local(): boolean {
    return this.fallback !== undefined && this.probe !== undefined;
  }

  constructor(options: RedisRateLimiterOptions) {
    const fail = (name: string, rule: string, value: unknown) =>
      new InvalidArgumentError(`Invalid RedisRateLimiter options: \`${name}\` must be ${rule} (got ${String(value)})`);
    const redis = options?.redis as unknown;
    if (typeof (redis as Redis | undefined)?.defineCommand !== 'function') {
      throw fail('redis', 'an ioredis client', redis);
    }
    if (typeof options.key !== 'string' || options.key === '') throw fail('key', 'a non-empty string', options.key);
    for (const name of [
      'requestsPerMinute',
      'tokensPerMinute',
      'timeoutMs',
      'leaseMs',
      'keyTtlMs',
      'retryMs',
    ] as const) {
      const value = options[name];
      if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value > 0)) {
        throw fail(name, 'a number > 0', value);
      }
    }
    const { requestsPerMinute, tokensPerMinute } = options;
    this.limits = Object.freeze({
      ...(requestsPerMinute !== undefined && { requestsPerMinute }),
      ...(tokensPerMinute !== undefined && { tokensPerMinute }),
    });
    const d = REDIS_RATE_LIMITER_DEFAULTS;
    this.settings = {
      timeoutMs: options.timeoutMs ?? d.timeoutMs,
      leaseMs: options.leaseMs ?? d.leaseMs,
      keyTtlMs: options.keyTtlMs ?? d.keyTtlMs,
      retryMs: options.retryMs ?? d.retryMs,
    };
    this.onWarning = options.onWarning;
    this.redisKey = `embedrail:rate:{${options.key}}`;
    this.scripts = rateScripts(options.redis);
  }

  acquire(options: AcquireOptions): Promise<RateLimitGrant> {
    const { tokens, signal } = options;
    if (!(Number.isFinite(tokens) && tokens >= 0)) {
      return Promise.reject(
        new InvalidArgumentError(`Invalid acquire() options: \`tokens\` must be a number ≥ 0 (got ${String(tokens)})`),
      );
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.local) return this.fallback!.acquire(options);
    return new Promise<RateLimitGrant>((resolve, reject) => {
      const waiter: Waiter = {
        ticket: `${this.worker}:${++this.tickets}`,
        options,
        registered: false,
        resolve,
        reject,
        reported: undefined,
        wake: undefined,
      };
      this.queue.push(waiter);
      this.beat();
      void this.run(waiter);
    });
  }

  snapshot(): RateLimitSnapshot {
    if (this.local) return this.fallback!.snapshot();
    if (this.last === undefined) {
      const unknown = { perMinute: undefined, source: undefined, burst: undefined, available: undefined };
      return {
        requests: unknown,
        tokens: unknown,
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
    if (this.local) {
      this.fallback!.reconcile({ charged, used });
      return;
    }
    this.redis((s) => s.reconcile(this.redisKey, difference, this.settings.keyTtlMs)).catch((error: unknown) =>
      this.down(error),
    );
  }

  /** One waiter's way to its turn: ask Redis, sleep as told, ask again; or the local share. */
  private async run(waiter: Waiter): Promise<void> {
    const { signal } = waiter.options;
    const onAbort = () => waiter.wake?.();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        if (signal?.aborted) throw signal.reason;
        if (this.local) {
          this.leave(waiter);
          // Its ticket may still stand in Redis's line: taken out when Redis answers again.
          if (waiter.registered && !this.abandoned.tickets.includes(waiter.ticket)) {
            this.abandoned.tickets.push(waiter.ticket);
          }
          waiter.resolve(await this.fallback!.acquire(waiter.options));
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
          reply = await this.redis((s) =>
            s.acquire(this.redisKey, {
              ticket: waiter.ticket,
              worker: this.worker,
              tokens: waiter.options.tokens,
              requestsPerMinute: this.limits.requestsPerMinute,
              tokensPerMinute: this.limits.tokensPerMinute,
              leaseMs: this.settings.leaseMs,
              keyTtlMs: this.settings.keyTtlMs,
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
        await this.sleep(waiter, Math.min(ms, RATE_LIMITER_DEFAULTS.maxTimerMs));
      }
    } catch (error) {
      this.leave(waiter);
      if (waiter.registered) {
        this.redis((s) => s.leave(this.redisKey, [waiter.ticket], this.settings.keyTtlMs)).catch(() => {
          this.abandoned.tickets.push(waiter.ticket);
        });
      }
      this.queue[0]?.wake?.();
      waiter.reject(error);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private sleep(waiter: Waiter, ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(done, Math.max(1, ms));
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
        answer && readRateLimitHeaders(answer.headers, Date.now(), (name, value) => this.warnHeader(name, value));
      this.redis((s) =>
        s.settle(this.redisKey, { lease, status: answer?.status ?? 0, headers, keyTtlMs: this.settings.keyTtlMs }),
      ).then(
        (reply) => {
          this.remember(reply.snapshot);
          this.queue[0]?.wake?.();
        },
        (error: unknown) => {
          this.abandoned.leases.push(lease);
          this.down(error);
        },
      );
    };
    return { complete: (answer) => settle(answer), cancel: () => settle(undefined) };
  }

  /** Runs one step with the timeout: later than that, Redis counts as down. */
  private redis<T>(step: (scripts: RateScripts) => Promise<T>): Promise<T> {
    const { timeoutMs } = this.settings;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new RedisTimeout(`no answer within ${timeoutMs} ms`)), timeoutMs);
      step(this.scripts).then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }

  private remember(snapshot: ScriptSnapshot): void {
    this.last = { snapshot, receivedAt: Date.now() };
    if (snapshot.head !== undefined) this.queue.find((waiter) => waiter.ticket === snapshot.head)?.wake?.();
  }

  /** Redis did not answer: pace on a local share, warn once, and ask again every `retryMs`. */
  private down(error: unknown, ticket?: string): void {
    if (ticket !== undefined) this.abandoned.tickets.push(ticket);
    if (this.probe !== undefined) return;
    this.fallback = localShare(this.limits, this.last?.snapshot, (message) => this.warn(message, true));
    const reason = error instanceof Error ? error.message : String(error);
    const workers = Math.max(1, this.last?.snapshot.workers ?? 1);
    this.warn(
      `Redis did not answer for the rate limit budget ${this.redisKey} (${reason}): pacing on a local ` +
        `share (1/${workers}) of the budget until it answers again`,
      false,
    );
    const retry = () => {
      this.probe = setTimeout(() => void this.rejoin().then((back) => back || retry()), this.settings.retryMs);
      this.probe.unref?.();
    };
    retry();
    for (const waiter of this.queue) waiter.wake?.();
  }

  /** Clears what was left in Redis while it did not answer, then goes back to it. */
  private async rejoin(): Promise<boolean> {
    const tickets = [...this.abandoned.tickets];
    const leases = [...this.abandoned.leases];
    try {
      // One step at a time, each within the timeout: a long list is no reason to stay away.
      await this.redis((s) => s.ping());
      await this.redis((s) => s.leave(this.redisKey, tickets, this.settings.keyTtlMs));
      for (const lease of leases) {
        await this.redis((s) =>
          s.settle(this.redisKey, { lease, status: 0, headers: undefined, keyTtlMs: this.settings.keyTtlMs }),
        );
      }
    } catch {
      return false;
    }
    this.abandoned = {
      tickets: this.abandoned.tickets.filter((ticket) => !tickets.includes(ticket)),
      leases: this.abandoned.leases.filter((lease) => !leases.includes(lease)),
    };
    this.probe = undefined;
    return true;
  }

  /** Keeps this worker's tickets and leases alive in Redis while it has any. */
  private beat(): void {
    if (this.heartbeat !== undefined) return;
    this.heartbeat = setInterval(() => {
      if (this.queue.length === 0 && this.leases.size === 0) {
        clearInterval(this.heartbeat);
        this.heartbeat = undefined;
        return;
      }
      if (this.probe !== undefined) return;
      const step = {
        worker: this.worker,
        leaseMs: this.settings.leaseMs,
        keyTtlMs: this.settings.keyTtlMs,
        tickets: this.queue.filter((w) => w.registered).map((w) => w.ticket),
        leases: [...this.leases],
      };
      this.redis((s) => s.touch(this.redisKey, step)).catch(() => undefined);
    }, this.settings.leaseMs / 3);
    this.heartbeat.unref?.();
  }

  private warnHeader(name: string, value: string): void {
    this.warn(`Ignoring the rate-limit header ${name}: ${JSON.stringify(value)} (not a usable value)`, true);
  }

  private warn(message: string, header: boolean): void {
    if (header) {
      if (this.warnedHeader) return;
      this.warnedHeader = true;
    }
    if (this.onWarning !== undefined) this.onWarning(message);
    else {
      const code = header ? RATE_LIMITER_DEFAULTS.warningCode : REDIS_RATE_LIMITER_DEFAULTS.warningCode;
      process.emitWarning(message, { code });
    }
  }
}

function report(waiter: Waiter, wait: RateLimitWait): void {
  const last = waiter.reported;
  if (last !== undefined && last.untilMs === wait.untilMs && last.reason === wait.reason) return;
  waiter.reported = wait;
  waiter.options.onWait?.(wait);
}
