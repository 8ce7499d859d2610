import fc from 'fast-check';
import { expect, test } from 'vitest';
import { InMemoryRateLimiter } from '../src/rate-limit/in-memory.js';
import { mulberry32 } from '../src/server/faults.js';
import { simulate } from './support/rate-sim.js';

/** The targets: at most max(1, 2%) of requests answered 429 with headers, 10% without. */
const REFUSED_SHARE = { openai: 0.02, azure: 0.02, none: 0.1 } as const;
/**
 * Time ÷ the least the limits and the workers allow, at most. Looser than the bench's targets:
 * these jobs are short, many of a few seconds, and pay their opening probes and last answer in
 * full; buckets of one or two requests pace one at a time. What they catch is a stall.
 */
const TIME_RATIO = { openai: 1.3, azure: 1.3, none: 2 } as const;

const scenario = fc
  .record({
    rpm: fc.integer({ min: 60, max: 3000 }),
    tpm: fc.option(fc.integer({ min: 200_000, max: 20_000_000 }), { nil: undefined }),
    burstSeconds: fc.constantFrom(0.5, 1, 2, 5, 10, 60),
    headerStyle: fc.constantFrom('openai' as const, 'azure' as const, 'none' as const),
    count: fc.integer({ min: 100, max: 300 }),
    /** Requests span from a few tokens to as much as the burst holds (at most the 300,000 cap). */
    largest: fc.double({ min: 0.001, max: 1, noNaN: true }),
    concurrency: fc.integer({ min: 1, max: 16 }),
    jobs: fc.integer({ min: 1, max: 2 }),
    latencyMs: fc.integer({ min: 20, max: 500 }),
    oneWayMs: fc.integer({ min: 0, max: 20 }),
    seed: fc.integer(),
  })
  // A server whose bucket cannot hold one request refuses all: not a server to pace against.
  .filter((s) => (s.rpm * s.burstSeconds) / 60 >= 1)
  .map((s) => {
    const burst = s.tpm === undefined ? 300_000 : Math.min(300_000, Math.floor((s.tpm * s.burstSeconds) / 60));
    const largest = Math.max(1, Math.floor(burst * s.largest));
    const random = mulberry32(s.seed);
    const jobs = Array.from({ length: s.jobs }, () => ({
      requests: Array.from({ length: s.count }, () => 1 + Math.floor(random() * largest)),
      concurrency: s.concurrency,
    }));
    return { ...s, jobs };
  });

test('for random limits, burst windows, header styles and request sizes: every request passes once, few are refused', async () => {
  await fc.assert(
    fc.asyncProperty(scenario, async (s) => {
      const result = await simulate({
        server: { rpm: s.rpm, tpm: s.tpm, burstSeconds: s.burstSeconds, headerStyle: s.headerStyle },
        jobs: s.jobs,
        latencyMs: () => s.latencyMs,
        oneWayMs: Math.min(s.oneWayMs, s.latencyMs),
        limiter: (clock) => new InMemoryRateLimiter({ clock }),
      });
      expect(result.snapshot).toMatchObject({ inFlight: 0, waiting: 0 });
      expect(result.refused).toBeLessThanOrEqual(Math.max(1, REFUSED_SHARE[s.headerStyle] * result.attempts));
      // Workers bound a job too: each sends one request per round trip at most.
      const workersAllow = Math.max(
        ...s.jobs.map((job) => Math.ceil(job.requests.length / job.concurrency) * s.latencyMs),
      );
      expect(result.elapsedMs / Math.max(result.minimumMs, workersAllow)).toBeLessThanOrEqual(
        TIME_RATIO[s.headerStyle],
      );
    }),
    { numRuns: 60, seed: 9 },
  );
});
