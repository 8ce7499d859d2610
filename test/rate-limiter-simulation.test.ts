import { describe, expect, test } from 'vitest';
import { InMemoryRateLimiter } from '../src/rate-limit/in-memory.js';
import { mulberry32 } from '../src/server/faults.js';
import { simulate, type SimulatedJob, type SimulationOptions } from './support/rate-sim.js';

/** Token counts of `count` requests, the same for the same seed. */
function sizes(count: number, min: number, max: number, seed: number): number[] {
  const random = mulberry32(seed);
  return Array.from({ length: count }, () => min + Math.floor(random() * (max - min + 1)));
}

function latency(seed: number) {
  const random = mulberry32(seed);
  return () => 80 + Math.floor(random() * 240);
}

type Case = SimulationOptions & { time: number; refused: number };

/**
 * One of the five benchmark cases on virtual time: every limit learnt from answers (no rate limit configured), 80–320 ms per answer,
 * and the targets: time ÷ least, share of requests answered 429.
 */
function benchCase(server: SimulationOptions['server'], jobs: SimulatedJob[], seed: number, headerless = false): Case {
  return {
    server,
    jobs,
    latencyMs: latency(seed),
    limiter: (clock) => new InMemoryRateLimiter({ clock }),
    time: headerless ? 1.2 : 1.05,
    refused: headerless ? 0.1 : 0.02,
  };
}

/** Short texts: 2048 inputs of a few tokens, so the request count binds as much as the tokens. */
const shortTexts = { rpm: 1200, tpm: 5_000_000, burstSeconds: 1 };
const short = (count: number, seed: number): SimulatedJob => ({
  requests: sizes(count, 3000, 5000, seed),
  concurrency: 8,
});

const CASES: Record<string, Case> = {
  'OpenAI headers, 1 s burst, short texts': benchCase({ ...shortTexts, headerStyle: 'openai' }, [short(1500, 1)], 1),
  'OpenAI headers, 1 s burst, requests near the 300,000-token cap': benchCase(
    { rpm: 10_000, tpm: 18_000_000, burstSeconds: 1, headerStyle: 'openai' },
    [{ requests: sizes(60, 250_000, 300_000, 2), concurrency: 8 }],
    2,
  ),
  'Azure remaining-only headers, short texts': benchCase({ ...shortTexts, headerStyle: 'azure' }, [short(1500, 3)], 3),
  'no headers, retry-after in whole seconds': benchCase(
    { rpm: 600, tpm: undefined, burstSeconds: 1, headerStyle: 'none' },
    [short(600, 4)],
    4,
    true,
  ),
  'two jobs sharing one limiter, OpenAI headers': benchCase(
    { ...shortTexts, headerStyle: 'openai' },
    [short(750, 5), short(750, 6)],
    5,
  ),
};

describe('simulated jobs against the local server emulation, limits learnt from answers only', () => {
  test.each(Object.entries(CASES))('%s', async (_name, options) => {
    const result = await simulate(options);
    const ratio = result.elapsedMs / result.minimumMs;
    const share = result.refused / result.attempts;
    // Every turn was settled and none is left waiting: the limiter leaks no budget.
    expect(result.snapshot).toMatchObject({ inFlight: 0, waiting: 0 });
    expect(ratio, 'time ÷ the minimum the limits allow').toBeLessThanOrEqual(options.time);
    if (options.server.headerStyle === 'azure') {
      // Paced on a rate estimated from `remaining` alone, close to the server's 1200 a minute.
      expect(result.snapshot!.requests.source).toBe('estimated');
      expect(result.snapshot!.requests.perMinute! / options.server.rpm!).toBeGreaterThan(0.9);
    }
    expect(
      share <= options.refused || result.refused <= 1,
      `${result.refused} of ${result.attempts} answered 429`,
    ).toBe(true);
  });
});

describe('paced one request at a time, as a bucket of two requests paces', () => {
  // The bench's first case: 120 a minute in a bucket of 2, requests of 30,000 tokens, each
  // counted by the server 20 ms after it starts and answered 60 ms after. Every answer says
  // `remaining: 0` (rounded down) about a level the limiter had already charged.
  test('OpenAI headers: no request waits longer than the refill needs (answer latency and rounding not paid per request)', async () => {
    const result = await simulate({
      server: { rpm: 120, tpm: 10_000_000, burstSeconds: 1, headerStyle: 'openai' },
      jobs: [{ requests: Array.from({ length: 42 }, () => 30_000), concurrency: 8 }],
      latencyMs: () => 60,
      oneWayMs: 20,
      limiter: (clock) => new InMemoryRateLimiter({ clock }),
    });
    expect(result.snapshot).toMatchObject({ inFlight: 0, waiting: 0 });
    // 40 requests past the burst at 500 ms each, the last answer's 60 ms, and a margin of a
    // few milliseconds per request. Reset to `remaining` and half the refill since the start
    // at every answer, the level lagged and the job took 380 ms more.
    expect(result.refused).toBe(0);
    expect(result.elapsedMs - result.minimumMs).toBeLessThan(60 + 40 * 5);
  });

  test('requests of nearly a whole bucket, counted late: the refill a full bucket wasted on the way is not credited', async () => {
    // 300,000 tokens a second in a bucket of one second; each request of 295,000 tokens is
    // counted 120 or 160 ms after it starts (upload and counting), by when the bucket has
    // filled and wasted what it could not hold, more for one request than for the next.
    const result = await simulate({
      server: { rpm: 10_000, tpm: 18_000_000, burstSeconds: 1, headerStyle: 'openai' },
      jobs: [{ requests: Array.from({ length: 20 }, () => 295_000), concurrency: 8 }],
      latencyMs: () => 350,
      oneWayMs: (n) => (n % 2 === 0 ? 160 : 120),
      limiter: (clock) => new InMemoryRateLimiter({ clock }),
    });
    expect(result.snapshot).toMatchObject({ inFlight: 0, waiting: 0 });
    expect(result.refused).toBe(0);
  });
});

describe('Azure remaining-only headers with a small bucket', () => {
  // 30 a minute in a bucket of one request: every answer says `remaining: 0`, so how `remaining`
  // moves says nothing, and an estimate from it confirmed whatever rate the limiter paced at
  // (14.8 a minute of 30 at the wire, for a whole job). A 429's retry-after-ms says when the
  // bucket will hold the refused request: from one such instant to the next (or from the full
  // bucket of the first answer) the refill is measured exactly.
  test.each([
    // One 429 costs up to a whole refill of the bucket (2 s of 118), the last answer up to 320 ms.
    ['a bucket of one request', { rpm: 30, burstSeconds: 2 }, 60, 1.06],
    ['a bucket of two requests', { rpm: 120, burstSeconds: 1 }, 42, 1.05],
  ])('%s: paced at the server rate after at most one 429', async (_name, limits, count, ratio) => {
    const result = await simulate({
      server: { ...limits, tpm: 10_000_000, headerStyle: 'azure' },
      jobs: [{ requests: Array.from({ length: count }, () => 20_000), concurrency: 8 }],
      latencyMs: latency(7),
      oneWayMs: 20,
      limiter: (clock) => new InMemoryRateLimiter({ clock }),
    });
    expect(result.snapshot).toMatchObject({ inFlight: 0, waiting: 0 });
    expect(result.refused).toBeLessThanOrEqual(1);
    expect(result.snapshot!.requests.perMinute! / limits.rpm).toBeCloseTo(1, 1);
    expect(result.elapsedMs / result.minimumMs).toBeLessThanOrEqual(ratio);
  });
});
