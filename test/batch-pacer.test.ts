import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { Pacer, parseResetDuration } from '../src/batch/pacer.js';

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});
afterEach(() => {
  vi.useRealTimers();
});

/** Starts `acquire` and reports whether it has resolved, without awaiting it. */
function track(promise: Promise<void>) {
  const state = { done: false, error: undefined as unknown };
  promise.then(
    () => (state.done = true),
    (error) => (state.error = error),
  );
  return state;
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
  test('requestsPerMinute: a full bucket lets a minute of requests start, the next waits for a refill', async () => {
    const pacer = new Pacer({ requestsPerMinute: 60 });
    for (let i = 0; i < 60; i++) await pacer.acquire(0);
    const next = track(pacer.acquire(0));
    await vi.advanceTimersByTimeAsync(999);
    expect(next.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(next.done).toBe(true);
  });

  test('tokensPerMinute: a request waits until the bucket holds its tokens', async () => {
    const pacer = new Pacer({ tokensPerMinute: 6000 });
    await pacer.acquire(6000);
    const next = track(pacer.acquire(600));
    await vi.advanceTimersByTimeAsync(5999);
    expect(next.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(next.done).toBe(true);
  });

  test('a request larger than the whole bucket waits for a full bucket and leaves a debt', async () => {
    const pacer = new Pacer({ tokensPerMinute: 1000 });
    await pacer.acquire(500);
    const big = track(pacer.acquire(3000));
    await vi.advanceTimersByTimeAsync(29_999);
    expect(big.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(big.done).toBe(true);
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
    await vi.advanceTimersByTimeAsync(99);
    expect(next.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(next.done).toBe(true);
  });

  test('a bucket first sized from headers starts at remaining less the requests still in flight', async () => {
    const pacer = new Pacer();
    // Three requests of 100 tokens leave before any limit is known; the first answer arrives.
    for (let i = 0; i < 3; i++) await pacer.acquire(100);
    pacer.settle(100);
    pacer.observe({ 'x-ratelimit-limit-tokens': '1000', 'x-ratelimit-remaining-tokens': '900' });
    // 900 less the 200 still in flight: 700 held, so 800 must wait for 100 more (6 s at 1000/min).
    const next = track(pacer.acquire(800));
    await vi.advanceTimersByTimeAsync(5999);
    expect(next.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(next.done).toBe(true);
  });

  test('a lower remaining-tokens from the server lowers our level; a higher one never raises it', async () => {
    const pacer = new Pacer({ tokensPerMinute: 60_000 });
    pacer.observe({ 'x-ratelimit-limit-tokens': '60000', 'x-ratelimit-remaining-tokens': '1000' });
    pacer.observe({ 'x-ratelimit-remaining-tokens': '60000' });
    const next = track(pacer.acquire(2000));
    // 1000 tokens missing at 1000 per second.
    await vi.advanceTimersByTimeAsync(999);
    expect(next.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(next.done).toBe(true);
  });

  test("the caller's smaller rateLimit wins over the server's larger limit", async () => {
    const pacer = new Pacer({ requestsPerMinute: 60 });
    pacer.observe({ 'x-ratelimit-limit-requests': '6000', 'x-ratelimit-remaining-requests': '6000' });
    for (let i = 0; i < 60; i++) await pacer.acquire(0);
    const next = track(pacer.acquire(0));
    await vi.advanceTimersByTimeAsync(999);
    expect(next.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(next.done).toBe(true);
  });

  test('remaining 0 with only a reset duration blocks until the reset', async () => {
    const pacer = new Pacer();
    pacer.observe({ 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '1m30.5s' });
    const next = track(pacer.acquire(1));
    await vi.advanceTimersByTimeAsync(90_499);
    expect(next.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(next.done).toBe(true);
  });
});

describe('Pacer shared pause and abort', () => {
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
    await vi.advanceTimersByTimeAsync(499);
    expect(next.done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(next.done).toBe(true);
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
