import { HttpResponse } from 'msw';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { type BatchProgress } from '../src/index.js';
import { Pacer, parseResetDuration } from '../src/batch/pacer.js';
import { useBatchApi } from './support/batch-api.js';
import { mismatchedIndexes, numberedTexts as texts } from './support/openai-like.js';

const model = 'text-embedding-3-small';

/** The pacer's maths runs on vitest's fake clock: no test here waits for real time. */
function useFakeClock() {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });
}

/** Starts `acquire` and reports whether it has resolved, without awaiting it. */
function track(promise: Promise<void>) {
  const state = { done: false, error: undefined as unknown };
  promise.then(
    () => (state.done = true),
    (error) => (state.error = error),
  );
  return state;
}

/** Advances the fake clock: `state` is still waiting 1 ms before `ms` and released at `ms`. */
async function expectReleasedAfter(state: { done: boolean }, ms: number) {
  await vi.advanceTimersByTimeAsync(ms - 1);
  expect(state.done).toBe(false);
  await vi.advanceTimersByTimeAsync(1);
  expect(state.done).toBe(true);
}

describe('parseResetDuration', () => {
  test.each([
    ['6m0s', 360_000],
    ['1s', 1000],
    ['20ms', 20],
    ['1m30.5s', 90_500],
    ['2h', 7_200_000],
    ['0s', 0],
    ['500us', 0.5],
    ['1.5', 1500],
  ])('reads %s as %d ms', (text, ms) => {
    expect(parseResetDuration(text)).toBe(ms);
  });

  test.each([[''], ['soon'], ['5x'], ['1s2'], ['-1s'], [undefined]])('ignores malformed %j', (text) => {
    expect(parseResetDuration(text)).toBeUndefined();
  });
});

describe('Pacer buckets', () => {
  useFakeClock();

  test('requestsPerMinute: a full bucket lets a minute of requests start, the next waits for a refill', async () => {
    const pacer = new Pacer({ requestsPerMinute: 60 });
    for (let i = 0; i < 60; i++) await pacer.acquire(0);
    const next = track(pacer.acquire(0));
    await expectReleasedAfter(next, 1000);
  });

  test('tokensPerMinute: a request waits until the bucket holds its tokens', async () => {
    const pacer = new Pacer({ tokensPerMinute: 6000 });
    await pacer.acquire(6000);
    const next = track(pacer.acquire(600));
    await expectReleasedAfter(next, 6000);
  });

  test('a request larger than the whole bucket waits for a full bucket and leaves a debt', async () => {
    const pacer = new Pacer({ tokensPerMinute: 1000 });
    await pacer.acquire(500);
    const big = track(pacer.acquire(3000));
    await expectReleasedAfter(big, 30_000);
    // Level is now -2000: a 1-token request waits until it is back above 1.
    const small = track(pacer.acquire(1));
    await vi.advanceTimersByTimeAsync(120_000);
    expect(small.done).toBe(false);
    await vi.advanceTimersByTimeAsync(60);
    expect(small.done).toBe(true);
  });

  test('waiters are served first come, first served: a large request is not starved by small ones', async () => {
    const pacer = new Pacer({ tokensPerMinute: 600 });
    await pacer.acquire(600);
    const order: string[] = [];
    const large = pacer.acquire(600).then(() => order.push('large'));
    const small = pacer.acquire(10).then(() => order.push('small'));
    await vi.advanceTimersByTimeAsync(60_000);
    await large;
    expect(order).toEqual(['large']);
    await vi.advanceTimersByTimeAsync(1000);
    await small;
    expect(order).toEqual(['large', 'small']);
  });
});

describe('Pacer adapts to x-ratelimit-* headers', () => {
  useFakeClock();

  test('limit and remaining from the server size and fill the buckets when the caller set none', async () => {
    const pacer = new Pacer();
    pacer.observe({
      'x-ratelimit-limit-requests': '600',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': '6s',
      'x-ratelimit-limit-tokens': '60000',
      'x-ratelimit-remaining-tokens': '59000',
      'x-ratelimit-reset-tokens': '1s',
    });
    // 600 per minute refills one request every 100 ms.
    const next = track(pacer.acquire(10));
    await expectReleasedAfter(next, 100);
  });

  test('a bucket first sized from headers starts at remaining less the requests still in flight', async () => {
    const pacer = new Pacer();
    // Three requests of 100 tokens leave before any limit is known; the first answer arrives.
    for (let i = 0; i < 3; i++) await pacer.acquire(100);
    pacer.settle(100);
    pacer.observe({ 'x-ratelimit-limit-tokens': '1000', 'x-ratelimit-remaining-tokens': '900' });
    // 900 less the 200 still in flight: 700 held, so 800 must wait for 100 more (6 s at 1000/min).
    const next = track(pacer.acquire(800));
    await expectReleasedAfter(next, 6000);
  });

  test('a lower remaining-tokens from the server lowers our level; a higher one never raises it', async () => {
    const pacer = new Pacer({ tokensPerMinute: 60_000 });
    pacer.observe({ 'x-ratelimit-limit-tokens': '60000', 'x-ratelimit-remaining-tokens': '1000' });
    pacer.observe({ 'x-ratelimit-remaining-tokens': '60000' });
    const next = track(pacer.acquire(2000));
    // 1000 tokens missing at 1000 per second.
    await expectReleasedAfter(next, 1000);
  });

  test("the caller's smaller rateLimit wins over the server's larger limit", async () => {
    const pacer = new Pacer({ requestsPerMinute: 60 });
    pacer.observe({ 'x-ratelimit-limit-requests': '6000', 'x-ratelimit-remaining-requests': '6000' });
    for (let i = 0; i < 60; i++) await pacer.acquire(0);
    const next = track(pacer.acquire(0));
    await expectReleasedAfter(next, 1000);
  });

  test('remaining 0 with only a reset duration blocks until the reset', async () => {
    const pacer = new Pacer();
    pacer.observe({ 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '1m30.5s' });
    const next = track(pacer.acquire(1));
    await expectReleasedAfter(next, 90_500);
  });
});

describe('Pacer shared pause and abort', () => {
  useFakeClock();

  test('after pause(), every waiting and new request waits for the same instant', async () => {
    const pacer = new Pacer();
    pacer.pause(500);
    const waiters = [track(pacer.acquire(1)), track(pacer.acquire(1)), track(pacer.acquire(1))];
    await vi.advanceTimersByTimeAsync(200);
    const late = track(pacer.acquire(1));
    await vi.advanceTimersByTimeAsync(299);
    expect([...waiters, late].some((w) => w.done)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect([...waiters, late].every((w) => w.done)).toBe(true);
  });

  test('a shorter pause never shortens a longer one', async () => {
    const pacer = new Pacer();
    pacer.pause(500);
    pacer.pause(100);
    const next = track(pacer.acquire(1));
    await expectReleasedAfter(next, 500);
  });

  test('abort rejects a waiter at once with the reason and lets the next one through', async () => {
    const pacer = new Pacer({ requestsPerMinute: 1 });
    await pacer.acquire(0);
    const controller = new AbortController();
    const aborted = track(pacer.acquire(0, controller.signal));
    const after = track(pacer.acquire(0));
    controller.abort(new Error('stop'));
    await vi.advanceTimersByTimeAsync(0);
    expect((aborted.error as Error).message).toBe('stop');
    expect(pacer.waiting).toBe(1);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(after.done).toBe(true);
  });

  test('an already aborted signal rejects without queueing', async () => {
    const pacer = new Pacer();
    const controller = new AbortController();
    controller.abort(new Error('gone'));
    await expect(pacer.acquire(1, controller.signal)).rejects.toThrow('gone');
    expect(pacer.waiting).toBe(0);
  });
});

describe('pacing at the wire', () => {
  const wire = useBatchApi();
  const { serve } = wire;

  test('after a 429 every worker pauses for the advised delay together, then resumes', async () => {
    // The first request gets 429 + retry-after-ms 600; the three others of the first wave are
    // answered after 200 ms. Paced alone, those three workers would send their next requests
    // at about 200 ms; paused together, nothing reaches the server before the 600 ms are over.
    serve({
      hold: (request, all) =>
        request !== all[0] && all.indexOf(request) < 4 ? new Promise((r) => setTimeout(r, 200)) : undefined,
      intercept: (request, all) =>
        request === all[0]
          ? HttpResponse.json(
              { error: { message: 'Rate limit reached', code: 'rate_limit_exceeded' } },
              { status: 429, headers: { 'retry-after-ms': '600', 'x-ratelimit-remaining-requests': '0' } },
            )
          : undefined,
    });
    const reports: BatchProgress[] = [];
    const res = await wire.client.embeddings.createMany(
      { model, input: texts(80) },
      { maxInputsPerRequest: 10, maxConcurrency: 4, onProgress: (p) => reports.push(p) },
    );
    expect(res.data).toHaveLength(80);
    const limited = wire.server.seen[0]!;
    expect(limited.status).toBe(429);
    const later = wire.server.seen.slice(4);
    expect(later.length).toBeGreaterThan(0);
    // Timers never fire early by more than a millisecond; the slack only covers rounding.
    for (const request of later) expect(request.arrivedAt).toBeGreaterThanOrEqual(limited.answeredAt! + 600 - 2);
    expect(reports.at(-1)).toMatchObject({ rateLimited: 1, retries: 1 });
  });

  test('a server whose x-ratelimit headers say its budget is spent gets requests spaced at its refill rate, with no 429', async () => {
    // 600 requests a minute, none remaining: one request may start every 100 ms.
    const headers = {
      'x-ratelimit-limit-requests': '600',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': '6s',
    };
    serve({ headers });
    await wire.client.embeddings.createMany(
      { model, input: texts(80) },
      { maxInputsPerRequest: 10, maxConcurrency: 4 },
    );
    const arrivals = wire.server.seen.map((r) => r.arrivedAt);
    expect(arrivals).toHaveLength(8);
    expect(wire.server.seen.every((r) => r.status === 200)).toBe(true);
    // The first wave of four learns the limit; from then on one request starts per 100 ms.
    const firstWaveAnswered = Math.min(...wire.server.seen.slice(0, 4).map((r) => r.answeredAt!));
    expect(arrivals[4]! - firstWaveAnswered).toBeGreaterThanOrEqual(100 - 2);
    for (let i = 5; i < arrivals.length; i++) expect(arrivals[i]! - arrivals[i - 1]!).toBeGreaterThanOrEqual(100 - 2);
  });

  test('rateLimit is applied: with one request per minute the second request waits, and an abort ends the wait', async () => {
    const controller = new AbortController();
    serve({
      intercept: () => {
        setImmediate(() => setTimeout(() => controller.abort(), 100));
        return undefined;
      },
    });
    const call = wire.client.embeddings.createMany(
      { model, input: texts(30) },
      { maxInputsPerRequest: 10, rateLimit: { requestsPerMinute: 1 }, signal: controller.signal },
    );
    await expect(call).rejects.toThrow(/^createMany was aborted after 10 of 30 inputs finished$/);
    expect(wire.api.requests).toHaveLength(1);
  });

  test('against a server that rate-limits from its first request, nothing is lost and the job learns the limit from the 429s', async () => {
    // 600 requests a minute, starting empty: one request every 100 ms.
    serve({ rateLimit: { requestsPerMinute: 600, tokensPerMinute: 10_000_000, startEmpty: true } });
    const input = texts(120);
    const reports: BatchProgress[] = [];
    const res = await wire.client.embeddings.createMany(
      { model, input },
      { maxInputsPerRequest: 10, maxConcurrency: 4, onProgress: (p) => reports.push(p) },
    );
    expect(mismatchedIndexes(res.data, input)).toEqual([]);
    expect(res.data).toHaveLength(120);
    const limited = wire.server.seen.filter((r) => r.status === 429);
    // Only the first wave, sent before any header was seen, runs into the limit.
    expect(limited.length).toBeGreaterThan(0);
    expect(limited.length).toBeLessThanOrEqual(4);
    expect(wire.server.seen.filter((r) => r.status === 200)).toHaveLength(12);
    expect(reports.at(-1)!.rateLimited).toBe(limited.length);
  });
});
