/**
 * The scripts of {@link RedisRateLimiter} as commands of the caller's ioredis client:
 * `defineCommand` sends EVALSHA and falls back to EVAL when the server answers NOSCRIPT (a
 * restarted or flushed Redis), so each step is one round trip.
 */
import type { Cluster, Redis } from 'ioredis';
import type { RateLimitHeaders } from '../rate-limit/headers.js';
import type { RateLimitBelief, RateLimitSnapshot, RateLimitWaitReason } from '../rate-limit/types.js';
import { ACQUIRE_SCRIPT, LEAVE_SCRIPT, RECONCILE_SCRIPT, SETTLE_SCRIPT, TOUCH_SCRIPT } from './rate-limiter-lua.js';

/** What the script believes of one budget, on the server's clock. */
export interface ScriptBelief {
  pm?: number;
  src?: NonNullable<RateLimitBelief['source']>;
  cap?: number;
  avail?: number;
}

/** What the script says of the whole budget after each step. */
export interface ScriptSnapshot {
  r: ScriptBelief;
  t: ScriptBelief;
  cr: ScriptBelief;
  ct: ScriptBelief;
  style: RateLimitSnapshot['headerStyle'];
  win?: number;
  flight: number;
  waiting: number;
  limited: number;
  workers: number;
  headWait?: { untilMs?: number; reason: RateLimitWaitReason };
  /** The ticket first in line, if any. */
  head?: string;
  /** The server's clock when it answered. @unit ms */
  now: number;
}

export type AcquireReply =
  | { granted: string; snapshot: ScriptSnapshot }
  | {
      granted?: undefined;
      /** Until the turn may come, or -1 while only an answer can tell. @unit ms */
      wait: number;
      reason: RateLimitWaitReason;
      snapshot: ScriptSnapshot;
    };

const NAMES = {
  acquire: 'embedrailRateAcquire',
  settle: 'embedrailRateSettle',
  reconcile: 'embedrailRateReconcile',
  touch: 'embedrailRateTouch',
  leave: 'embedrailRateLeave',
} as const;

type Call = (key: string, ...args: string[]) => Promise<string | number>;

/**
 * Each step as a function. `now` is for tests alone: it stands in for the server's `TIME`, so
 * the arithmetic can be driven on a clock of their own.
 */
export interface RateScripts {
  acquire(
    key: string,
    step: {
      ticket: string;
      worker: string;
      tokens: number;
      requestsPerMinute?: number | undefined;
      tokensPerMinute?: number | undefined;
      leaseMs: number;
      keyTtlMs: number;
    },
    now?: number,
  ): Promise<AcquireReply>;
  settle(
    key: string,
    step: { lease: string; status: number; headers: RateLimitHeaders | undefined; keyTtlMs: number },
    now?: number,
  ): Promise<{ snapshot: ScriptSnapshot }>;
  reconcile(key: string, difference: number, keyTtlMs: number, now?: number): Promise<void>;
  touch(
    key: string,
    step: { worker: string; leaseMs: number; keyTtlMs: number; tickets: string[]; leases: string[] },
    now?: number,
  ): Promise<void>;
  leave(key: string, tickets: string[], keyTtlMs: number): Promise<void>;
  /** One round trip: whether Redis answers at all. */
  ping(): Promise<void>;
}

const text = (value: number | undefined): string => (value === undefined ? '' : String(value));

/** Defines the scripts on `redis` (once per client) and returns them as functions. */
export function rateScripts(redis: Redis | Cluster): RateScripts {
  const scripts = [
    [NAMES.acquire, ACQUIRE_SCRIPT],
    [NAMES.settle, SETTLE_SCRIPT],
    [NAMES.reconcile, RECONCILE_SCRIPT],
    [NAMES.touch, TOUCH_SCRIPT],
    [NAMES.leave, LEAVE_SCRIPT],
  ] as const;
  const commands = redis as unknown as Record<string, Call | undefined>;
  for (const [name, lua] of scripts) {
    if (typeof commands[name] !== 'function') redis.defineCommand(name, { numberOfKeys: 1, lua });
  }
  const call = (name: string, key: string, args: string[]) => commands[name]!.call(redis, key, ...args);
  return {
    async acquire(key, step, now) {
      const reply = await call(NAMES.acquire, key, [
        step.ticket,
        step.worker,
        String(step.tokens),
        text(step.requestsPerMinute),
        text(step.tokensPerMinute),
        String(step.leaseMs),
        String(step.keyTtlMs),
        text(now),
      ]);
      return JSON.parse(String(reply)) as AcquireReply;
    },
    async settle(key, { lease, status, headers: h, keyTtlMs }, now) {
      const reply = await call(NAMES.settle, key, [
        lease,
        String(status),
        text(h?.requests.limit),
        text(h?.requests.remaining),
        text(h?.requests.resetMs),
        text(h?.tokens.limit),
        text(h?.tokens.remaining),
        text(h?.tokens.resetMs),
        text(h?.retryAfterMs),
        h?.never === true ? '1' : '0',
        h?.style ?? 'none',
        String(keyTtlMs),
        text(now),
      ]);
      return JSON.parse(String(reply)) as { snapshot: ScriptSnapshot };
    },
    async reconcile(key, difference, keyTtlMs, now) {
      await call(NAMES.reconcile, key, [String(difference), String(keyTtlMs), text(now)]);
    },
    async touch(key, { worker, leaseMs, keyTtlMs, tickets, leases }, now) {
      await call(NAMES.touch, key, [
        worker,
        String(leaseMs),
        String(keyTtlMs),
        text(now),
        ...tickets.map((id) => `w:${id}`),
        ...leases.map((lease) => `l:${lease}`),
      ]);
    },
    async leave(key, tickets, keyTtlMs) {
      if (tickets.length > 0) await call(NAMES.leave, key, [String(keyTtlMs), ...tickets]);
    },
    async ping() {
      await redis.ping();
    },
  };
}
