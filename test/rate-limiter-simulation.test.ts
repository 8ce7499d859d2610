import { describe, expect, test } from 'vitest';
import { InMemoryRateLimiter } from '../src/rate-limit/in-memory.js';
import { mulberry32 } from '../src/server/faults.js';
import { simulate, type SimulationOptions } from './support/rate-sim.js';

/**
 * The five cases of the rate-limit benchmark, on virtual time: every limit is learnt from the
 * server's answers (no rate limit configured), 8 requests in flight per job at most.
 */
function sizes(count: number, min: number, max: number, seed: number): number[] {
  const random = mulberry32(seed);
  return Array.from({ length: count }, () => min + Math.floor(random() * (max - min + 1)));
}

function latency(seed: number) {
  const random = mulberry32(seed);
  return () => 80 + Math.floor(random() * 240);
}

const learnt = (clock: Parameters<SimulationOptions['limiter']>[0]) => new InMemoryRateLimiter({ clock });

/** Short texts: 2048 inputs of a few tokens, so the request count binds as much as the tokens. */
const shortTexts = { rpm: 1200, tpm: 5_000_000, burstSeconds: 1 };

const CASES: Record<string, SimulationOptions & { time: number; refused: number }> = {
  'OpenAI headers, 1 s burst, short texts': {
    server: { ...shortTexts, headerStyle: 'openai' },
    jobs: [{ requests: sizes(1500, 3000, 5000, 1), concurrency: 8 }],
    latencyMs: latency(1),
    limiter: learnt,
    time: 1.05,
    refused: 0.02,
  },
  'OpenAI headers, 1 s burst, requests near the 300,000-token cap': {
    server: { rpm: 10_000, tpm: 18_000_000, burstSeconds: 1, headerStyle: 'openai' },
    jobs: [{ requests: sizes(60, 250_000, 300_000, 2), concurrency: 8 }],
    latencyMs: latency(2),
    limiter: learnt,
    time: 1.05,
    refused: 0.02,
  },
  'Azure remaining-only headers, short texts': {
    server: { ...shortTexts, headerStyle: 'azure' },
    jobs: [{ requests: sizes(1500, 3000, 5000, 3), concurrency: 8 }],
    latencyMs: latency(3),
    limiter: learnt,
    time: 1.05,
    refused: 0.02,
  },
  'no headers, retry-after in whole seconds': {
    server: { rpm: 600, tpm: undefined, burstSeconds: 1, headerStyle: 'none' },
    jobs: [{ requests: sizes(600, 3000, 5000, 4), concurrency: 8 }],
    latencyMs: latency(4),
    limiter: learnt,
    time: 1.2,
    refused: 0.1,
  },
  'two jobs sharing one limiter, OpenAI headers': {
    server: { ...shortTexts, headerStyle: 'openai' },
    jobs: [
      { requests: sizes(750, 3000, 5000, 5), concurrency: 8 },
      { requests: sizes(750, 3000, 5000, 6), concurrency: 8 },
    ],
    latencyMs: latency(5),
    limiter: learnt,
    time: 1.05,
    refused: 0.02,
  },
};

describe('simulated jobs against the local server emulation, limits learnt from answers only', () => {
  test.each(Object.entries(CASES))('%s', async (_name, options) => {
    const result = await simulate(options);
    const sent = options.jobs.reduce((sum, job) => sum + job.requests.length, 0);
    const ratio = result.elapsedMs / result.minimumMs;
    const share = result.refused / result.attempts;
    for (const job of result.successes) expect(job.every((n) => n === 1)).toBe(true);
    expect(result.attempts - result.refused).toBe(sent);
    expect(ratio, 'time ÷ the minimum the limits allow').toBeLessThanOrEqual(options.time);
    if (options.server.headerStyle === 'azure') {
      // Paced on a rate estimated from `remaining` alone, close to the server's 1200 a minute.
      expect(result.snapshot!.requests.source).toBe('estimated');
      expect(result.snapshot!.requests.perMinute! / options.server.rpm!).toBeGreaterThan(0.9);
    }
    expect(share <= options.refused || result.refused <= 1, `${result.refused} of ${result.attempts} answered 429`).toBe(true);
  });
});
