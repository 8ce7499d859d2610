/**
 * The Lua script's arithmetic against the in-memory limiter it ports: the same sequence of
 * acquires, answers and time passing, on a clock the test moves by hand (the script is handed
 * it in place of Redis's `TIME`), gets the same grants and the same waits, for the same reasons.
 */
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { InMemoryRateLimiter, type RateLimitGrant, type RateLimitWait } from '../src/index.js';
import type { RateLimitClock } from '../src/rate-limit/clock.js';
import { readRateLimitHeaders } from '../src/rate-limit/headers.js';
import { rateScripts, type AcquireReply } from '../src/redis/rate-limiter-commands.js';
import { describeWithRedis, startRedis, type RedisProcess } from './support/redis-server.js';

/** A clock moved by hand whose timers fire only when it is moved past them. */
function handClock(start: number) {
  let now = start;
  let timers: { at: number; fire: () => void }[] = [];
  const clock: RateLimitClock = {
    now: () => now,
    setTimeout: (fire, ms) => {
      const timer = { at: now + ms, fire };
      timers.push(timer);
      return timer;
    },
    clearTimeout: (handle) => void (timers = timers.filter((t) => t !== handle)),
  };
  return {
    clock,
    /** The next timer's instant, if any. */
    due: () => (timers.length === 0 ? undefined : Math.min(...timers.map((t) => t.at))),
    moveTo(at: number) {
      now = at;
      for (const timer of timers.filter((t) => t.at <= now)) {
        timers = timers.filter((t) => t !== timer);
        timer.fire();
      }
    },
  };
}

const answer = fc.oneof(
  fc.constant({ status: 200, headers: {} }),
  fc.constant({ status: 500, headers: {} }),
  // A 429 that advises nothing: both back off on their own, doubling per 429 in a row.
  { weight: 2, arbitrary: fc.constant({ status: 429, headers: {} }) },
  fc.constant(undefined),
  {
    weight: 6,
    arbitrary: fc.record({
      status: fc.constantFrom(200, 429),
      headers: fc
        .record({
          limit: fc.integer({ min: 60, max: 1200 }),
          remaining: fc.integer({ min: 0, max: 20 }),
          tokensRemaining: fc.integer({ min: 0, max: 20_000 }),
          // Headers without a pause: a 429 so answered falls back on the backoff of its own.
          retryAfterMs: fc.option(fc.integer({ min: 0, max: 3000 }), { nil: undefined, freq: 3 }),
          style: fc.constantFrom('openai', 'azure'),
        })
        .map(({ limit, remaining, tokensRemaining, retryAfterMs, style }) => ({
          ...(style === 'openai' && { 'x-ratelimit-limit-requests': String(limit) }),
          'x-ratelimit-remaining-requests': String(remaining),
          'x-ratelimit-remaining-tokens': String(tokensRemaining),
          ...(retryAfterMs !== undefined && { 'retry-after-ms': String(retryAfterMs) }),
        })),
    }),
  },
);

const step = fc.oneof(
  {
    arbitrary: fc.record({ op: fc.constant('acquire' as const), tokens: fc.integer({ min: 0, max: 20_000 }) }),
    weight: 3,
  },
  { arbitrary: fc.record({ op: fc.constant('answer' as const), which: fc.nat(), answer }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 5000 }) }), weight: 2 },
);

/** The turn asked for and not granted yet, as each side sees it. */
interface Pending {
  ticket: string;
  tokens: number;
  grant?: RateLimitGrant;
  wait?: RateLimitWait;
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describeWithRedis('the Lua arithmetic against the in-memory limiter', () => {
  let server: RedisProcess;
  let redis: Redis;
  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  test('the same acquires, answers and time get the same grants, and waits of the same length for the same reason', async () => {
    const scripts = rateScripts(redis);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.option(fc.integer({ min: 6, max: 600 }), { nil: undefined, freq: 2 }),
        fc.option(fc.integer({ min: 1000, max: 100_000 }), { nil: undefined, freq: 2 }),
        fc.array(step, { minLength: 1, maxLength: 60 }),
        async (requestsPerMinute, tokensPerMinute, steps) => {
          const key = `property-${++run}`;
          const hand = handClock(1_000_000);
          const memory = new InMemoryRateLimiter({
            requestsPerMinute,
            tokensPerMinute,
            clock: hand.clock,
            onWarning: () => {},
          });
          const lease = { leaseMs: 1e9, keyTtlMs: 60_000 };
          const flights: { lease: string; grant: RateLimitGrant }[] = [];
          let pending: Pending | undefined;
          let tickets = 0;

          /** Asks the script for the pending turn now, and checks the in-memory limiter agrees. */
          const poll = async () => {
            if (pending === undefined) return;
            await flush();
            const now = hand.clock.now();
            const reply: AcquireReply = await scripts.acquire(
              key,
              {
                ticket: pending.ticket,
                worker: 'w',
                tokens: pending.tokens,
                requestsPerMinute,
                tokensPerMinute,
                ...lease,
              },
              now,
            );
            if (reply.granted !== undefined) {
              expect(pending.grant, `granted at ${now} by the script alone`).toBeDefined();
              flights.push({ lease: reply.granted, grant: pending.grant! });
              pending = undefined;
              return;
            }
            expect(pending.grant, `granted at ${now} by the in-memory limiter alone`).toBeUndefined();
            expect(reply.reason, `the reason of the wait at ${now}`).toBe(pending.wait?.reason);
            const until = pending.wait?.untilMs;
            if (reply.wait < 0) expect(until).toBeUndefined();
            else expect(Math.abs(now + reply.wait - until!)).toBeLessThanOrEqual(1);
          };

          for (const s of steps) {
            if (s.op === 'acquire') {
              if (pending !== undefined) continue;
              const current: Pending = { ticket: `t${++tickets}`, tokens: s.tokens };
              pending = current;
              void memory
                .acquire({ tokens: s.tokens, onWait: (wait) => (current.wait = wait) })
                .then((grant) => (current.grant = grant));
              await poll();
            } else if (s.op === 'answer') {
              if (flights.length === 0) continue;
              const [flight] = flights.splice(s.which % flights.length, 1);
              const now = hand.clock.now();
              const headers = s.answer && readRateLimitHeaders(s.answer.headers, now, () => {});
              await scripts.settle(
                key,
                { lease: flight!.lease, status: s.answer?.status ?? 0, headers, ...lease },
                now,
              );
              if (s.answer === undefined) flight!.grant.cancel();
              else flight!.grant.complete(s.answer);
              await poll();
            } else {
              const target = hand.clock.now() + s.ms;
              for (let due = hand.due(); due !== undefined && due <= target; due = hand.due()) {
                hand.moveTo(due);
                await poll();
              }
              // Asked between its timers, the script may grant at the very instant the bucket
              // fills, where the in-memory limiter's timer goes a millisecond past it (as the
              // worker's does): asked only when the in-memory limiter decides, both agree.
              hand.moveTo(target);
            }
          }
        },
      ),
      { numRuns: 2000 },
    );
  }, 120_000);
});
