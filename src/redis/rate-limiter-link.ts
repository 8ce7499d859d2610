/**
 * A {@link RedisRateLimiter}'s line to Redis: every step within `timeoutMs`; when Redis does not
 * answer, a local share of the last known budget, one warning, and a probe every `retryMs` that
 * clears what was left in Redis before going back to it; and the heartbeat that keeps this
 * worker's tickets and leases alive there.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Cluster, Redis } from 'ioredis';
import type { InMemoryRateLimiter } from '../rate-limit/in-memory.js';
import type { RateLimit } from '../rate-limit/types.js';
import { rateScripts, type RateScripts, type ScriptSnapshot } from './rate-limiter-commands.js';
import { localShare } from './rate-limiter-fallback.js';
import type { RedisRateLimiterSettings } from './rate-limiter-options.js';
import { within } from './within.js';

/** What a worker holds in Redis: its waiters' tickets and its leases (its requests in flight). */
export interface Held {
  tickets: string[];
  leases: string[];
}

export interface RedisLinkOptions {
  redis: Redis | Cluster;
  /** The budget's name, as the caller gave it. */
  key: string;
  limits: Readonly<RateLimit>;
  settings: RedisRateLimiterSettings;
  /** A warning for the caller; `header` says it is of an unusable header (told once). */
  warn: (message: string, header: boolean) => void;
  /** What the worker holds now, or undefined when it holds nothing (the heartbeat then stops). */
  held: () => Held | undefined;
}

export class RedisLink {
  /** The budget's one Redis key (one key, so cluster-safe). */
  readonly key: string;
  /** This worker's name in Redis: host, process and a random part. */
  readonly worker = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  readonly settings: RedisRateLimiterSettings;
  private readonly options: RedisLinkOptions;
  private readonly scripts: RateScripts;
  /** Tickets and leases given up while Redis did not answer: cleared when it answers again. */
  private abandoned: Held = { tickets: [], leases: [] };
  private fallback: InMemoryRateLimiter | undefined;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private probe: ReturnType<typeof setTimeout> | undefined;

  constructor(options: RedisLinkOptions) {
    this.options = options;
    this.settings = options.settings;
    this.key = `embedrail:rate:{${options.key}}`;
    this.scripts = rateScripts(options.redis);
  }

  /** While Redis does not answer, the local share new turns come from; otherwise undefined. */
  get local(): InMemoryRateLimiter | undefined {
    return this.probe === undefined ? undefined : this.fallback;
  }

  /** Runs one step with the timeout: later than that, Redis counts as down. */
  step<T>(step: (scripts: RateScripts) => Promise<T>): Promise<T> {
    return within(() => step(this.scripts), this.settings.timeoutMs);
  }

  /** A ticket that may still stand in Redis's line: taken out when Redis answers again. */
  abandonTicket(ticket: string): void {
    if (!this.abandoned.tickets.includes(ticket)) this.abandoned.tickets.push(ticket);
  }

  /** A lease Redis may still count in flight: settled as cancelled when Redis answers again. */
  abandonLease(lease: string): void {
    this.abandoned.leases.push(lease);
  }

  /**
   * Redis did not answer (`last` is its last snapshot, `ticket` a ticket the failed step may
   * have left in its line): pace on a local share, warn once, and ask again every `retryMs`.
   * @returns whether this began an outage, so the caller wakes its waiters to the local share.
   */
  down(error: unknown, last: ScriptSnapshot | undefined, ticket?: string): boolean {
    if (ticket !== undefined) this.abandonTicket(ticket);
    if (this.probe !== undefined) return false;
    this.fallback = localShare(this.options.limits, last, (message) => this.options.warn(message, true));
    const reason = error instanceof Error ? error.message : String(error);
    const workers = Math.max(1, last?.workers ?? 1);
    this.options.warn(
      `Redis did not answer for the rate limit budget ${this.key} (${reason}): pacing on a local ` +
        `share (1/${workers}) of the budget until it answers again`,
      false,
    );
    const retry = () => {
      this.probe = setTimeout(() => void this.rejoin().then((back) => back || retry()), this.settings.retryMs);
      this.probe.unref?.();
    };
    retry();
    return true;
  }

  /** Keeps this worker's tickets and leases alive in Redis while it holds any. */
  beat(): void {
    if (this.heartbeat !== undefined) return;
    this.heartbeat = setInterval(() => {
      const held = this.options.held();
      if (held === undefined) {
        clearInterval(this.heartbeat);
        this.heartbeat = undefined;
        return;
      }
      if (this.probe !== undefined) return;
      const { leaseMs, keyTtlMs } = this.settings;
      this.step((s) => s.touch(this.key, { worker: this.worker, leaseMs, keyTtlMs, ...held })).catch(() => undefined);
    }, this.settings.leaseMs / 3);
    this.heartbeat.unref?.();
  }

  /** Clears what was left in Redis while it did not answer, then goes back to it. */
  private async rejoin(): Promise<boolean> {
    const tickets = [...this.abandoned.tickets];
    const leases = [...this.abandoned.leases];
    const { keyTtlMs } = this.settings;
    try {
      // One step at a time, each within the timeout: a long list is no reason to stay away.
      await this.step((s) => s.ping());
      await this.step((s) => s.leave(this.key, tickets, keyTtlMs));
      for (const lease of leases) {
        await this.step((s) => s.settle(this.key, { lease, status: 0, headers: undefined, keyTtlMs }));
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
}
