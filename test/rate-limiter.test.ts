import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, test, vi } from 'vitest';
import {
  composeRateLimiters,
  InMemoryRateLimiter,
  parseResetDuration,
  type RateLimitGrant,
  type RateLimitWait,
} from '../src/rate-limit/index.js';
import { InvalidArgumentError } from '../src/errors.js';
import { VirtualClock } from './support/rate-sim.js';

/** Starts an acquire and reports, without awaiting it, whether it resolved and with what. */
function track(promise: Promise<RateLimitGrant>) {
  const state = { grant: undefined as RateLimitGrant | undefined, error: undefined as unknown };
  promise.then(
    (grant) => (state.grant = grant),
    (error) => (state.error = error),
  );
  return state;
}

function setup(options: { requestsPerMinute?: number; tokensPerMinute?: number } = {}) {
  const clock = new VirtualClock();
  const limiter = new InMemoryRateLimiter({ ...options, clock });
  const acquire = (tokens = 0, extra: { signal?: AbortSignal; onWait?: (wait: RateLimitWait) => void } = {}) =>
    track(limiter.acquire({ tokens, ...extra }));
  return { clock, limiter, acquire };
}

/** Still waiting 1 ms before `ms` from now, started at `ms`. */
async function expectStartedAfter(clock: VirtualClock, state: { grant: unknown }, ms: number) {
  await clock.advance(ms - 1);
  expect(state.grant).toBeUndefined();
  await clock.advance(1);
  expect(state.grant).toBeDefined();
}

/** OpenAI's headers for a budget of `limit` a minute with `remaining` left. */
const openai = (limit: number, remaining: number, kind: 'requests' | 'tokens' = 'requests') => ({
  [`x-ratelimit-limit-${kind}`]: String(limit),
  [`x-ratelimit-remaining-${kind}`]: String(remaining),
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('no opening burst', () => {
  test("with nothing known one request starts alone; its answer's headers start the others", async () => {
    const { clock, acquire } = setup();
    const first = acquire();
    const waits: RateLimitWait[] = [];
    const rest = [acquire(0, { onWait: (w) => waits.push(w) }), acquire(), acquire()];
    await clock.advance(0);
    expect(first.grant).toBeDefined();
    expect(waits).toEqual([{ untilMs: undefined, reason: 'slow-start' }]);
    await clock.advance(60_000);
    expect(rest.map((r) => r.grant)).toEqual([undefined, undefined, undefined]);
    first.grant!.complete({ status: 200, headers: openai(600, 9) });
    await clock.advance(0);
    expect(rest.every((r) => r.grant !== undefined)).toBe(true);
  });

  test('answers without rate-limit headers open up gradually: 1, 2, 4 in flight', async () => {
    const { clock, acquire, limiter } = setup();
    const waiting = Array.from({ length: 20 }, () => acquire());
    const inFlight: number[] = [];
    for (let round = 0; round < 3; round++) {
      await clock.advance(0);
      const started = waiting.filter((w) => w.grant !== undefined && !(w as { done?: true }).done);
      inFlight.push(started.length);
      for (const w of started) {
        (w as { done?: true }).done = true;
        w.grant!.complete({ status: 200, headers: {} });
      }
    }
    expect(inFlight).toEqual([1, 2, 4]);
    // Past 4, about one more every two round trips.
    expect(limiter.snapshot()).toMatchObject({ headerStyle: 'none', concurrency: 4 });
  });

  test('configured limits are known limits: requests start at once, up to the configured burst', async () => {
    const { clock, acquire } = setup({ requestsPerMinute: 3 });
    const started = [acquire(), acquire(), acquire()];
    const fourth = acquire();
    await clock.advance(0);
    expect(started.every((s) => s.grant !== undefined)).toBe(true);
    // 3 a minute: one every 20 s (and a millisecond, to be past the instant, not on it).
    await expectStartedAfter(clock, fourth, 20_001);
  });
});

describe('burst size learnt, not assumed', () => {
  test('a per-minute limit of 600 with 9 remaining is a burst of 10, not 600: the rest are paced at 10 a second', async () => {
    const { clock, acquire, limiter } = setup();
    const first = acquire();
    await clock.advance(0);
    first.grant!.complete({ status: 200, headers: openai(600, 9) });
    const waits: RateLimitWait[] = [];
    const next = Array.from({ length: 10 }, (_, i) => acquire(0, i === 9 ? { onWait: (w) => waits.push(w) } : {}));
    await clock.advance(0);
    expect(next.filter((n) => n.grant !== undefined)).toHaveLength(9);
    // Said as the wait starts, not when it ends.
    expect(waits).toEqual([{ untilMs: 101, reason: 'rate-limit' }]);
    await expectStartedAfter(clock, next[9]!, 101);
    expect(limiter.snapshot().requests).toMatchObject({ perMinute: 600, source: 'header', burst: 10 });
  });

  test('remaining is the truth less what was sent after the answered request', async () => {
    const { clock, acquire } = setup();
    const first = acquire();
    await clock.advance(0);
    first.grant!.complete({ status: 200, headers: openai(6, 5) });
    const batch = Array.from({ length: 5 }, () => acquire());
    await clock.advance(0);
    expect(batch.every((b) => b.grant !== undefined)).toBe(true);
    // Another client took 3 since: the server says 1 left after the first of the five, and
    // the four sent after it are not counted yet. That is 3 owed: 4 slots of 10 s to wait.
    batch[0]!.grant!.complete({ status: 200, headers: openai(6, 1) });
    const next = acquire();
    await expectStartedAfter(clock, next, 40_001);
  });

  test('a request as large as the whole burst waits for a full bucket, then goes; the debt is paid after', async () => {
    const { clock, acquire } = setup();
    const first = acquire(100);
    await clock.advance(0);
    // 60,000 tokens a minute is 1 a ms; 900 left after 100: a burst of 1000.
    first.grant!.complete({ status: 200, headers: openai(60_000, 900, 'tokens') });
    const large = acquire(1500);
    await expectStartedAfter(clock, large, 101);
    const small = acquire(1);
    await expectStartedAfter(clock, small, 502);
  });
});

describe('429s', () => {
  test('a refused attempt is charged once: at 6 a minute its retry goes when retry-after-ms said, not a slot later', async () => {
    const { clock, acquire } = setup();
    const first = acquire();
    await clock.advance(0);
    first.grant!.complete({ status: 200, headers: openai(6, 0) });
    const second = acquire();
    await expectStartedAfter(clock, second, 10_001);
    second.grant!.complete({ status: 429, headers: { ...openai(6, 0), 'retry-after-ms': '9842' } });
    const retry = acquire();
    await expectStartedAfter(clock, retry, 9842);
  });

  test("without headers a 429's retry-after pauses every request of the limiter, and says so as the wait starts", async () => {
    const { clock, acquire, limiter } = setup();
    const first = acquire();
    await clock.advance(0);
    first.grant!.complete({ status: 200, headers: {} });
    const [a, b] = [acquire(), acquire()];
    await clock.advance(0);
    a.grant!.complete({ status: 429, headers: { 'retry-after': '2' } });
    const waits: RateLimitWait[] = [];
    const retry = acquire(0, { onWait: (wait) => waits.push(wait) });
    const other = acquire();
    await clock.advance(0);
    expect(waits).toEqual([{ untilMs: clock.now() + 2000, reason: '429' }]);
    expect(limiter.snapshot()).toMatchObject({ rateLimited: 1, waitingUntil: 2000, waitReason: '429', waiting: 2 });
    b.grant!.complete({ status: 200, headers: {} });
    await expectStartedAfter(clock, retry, 2000);
    // The window starts again from one request after a 429: the next waits for its answer.
    expect(other.grant).toBeUndefined();
    retry.grant!.complete({ status: 200, headers: {} });
    await clock.advance(0);
    expect(other.grant).toBeDefined();
  });

  test('x-should-retry: false (a request over the whole budget) pauses nobody', async () => {
    const { clock, acquire } = setup();
    const first = acquire();
    await clock.advance(0);
    first.grant!.complete({ status: 429, headers: { 'x-should-retry': 'false' } });
    const next = acquire();
    await clock.advance(0);
    expect(next.grant).toBeDefined();
  });
});

describe('hostile headers', () => {
  test('remaining 0 with a reset of 1000h waits a minute at most, on timers within 32 bits', async () => {
    const { clock, acquire } = setup();
    const delays: number[] = [];
    const setTimeout = clock.setTimeout;
    clock.setTimeout = (callback, ms) => (delays.push(ms), setTimeout(callback, ms));
    const first = acquire();
    await clock.advance(0);
    first.grant!.complete({
      status: 200,
      headers: { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '1000h' },
    });
    const next = acquire();
    await expectStartedAfter(clock, next, 60_000);
    expect(Math.max(...delays)).toBeLessThanOrEqual(60_000);
  });

  test('a wait longer than 32 bits of milliseconds is set as several timers, never one that overflows', async () => {
    const { clock, acquire } = setup({ requestsPerMinute: 1e-6 });
    const delays: number[] = [];
    const setTimeout = clock.setTimeout;
    clock.setTimeout = (callback, ms) => (delays.push(ms), setTimeout(callback, ms));
    acquire();
    const next = acquire();
    await clock.advance(2 ** 31);
    expect(next.grant).toBeUndefined();
    expect(delays.length).toBeGreaterThan(0);
    expect(Math.max(...delays)).toBeLessThanOrEqual(2 ** 31 - 1);
  });

  test('a limit below one an hour and a remaining of -1 are ignored with one warning, never a stall', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const { clock, acquire } = setup();
    const first = acquire();
    await clock.advance(0);
    const absurd = { 'x-ratelimit-limit-requests': '0.001', 'x-ratelimit-remaining-requests': '-1' };
    first.grant!.complete({ status: 200, headers: absurd });
    const next = acquire();
    await clock.advance(0);
    expect(next.grant).toBeDefined();
    next.grant!.complete({ status: 200, headers: absurd });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![0]).toContain('x-ratelimit-limit-requests: "0.001"');
    expect(warn.mock.calls[0]![1]).toEqual({ code: 'EMBEDRAIL_RATE_LIMIT_HEADER' });
  });
});

describe('learnFromAnswers: false', () => {
  test('paces on the configured limit alone: headers neither tighten it nor draw a warning, and a 429 is refunded', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const clock = new VirtualClock();
    const limiter = new InMemoryRateLimiter({ requestsPerMinute: 60, learnFromAnswers: false, clock });
    const first = track(limiter.acquire({ tokens: 0 }));
    await clock.advance(0);
    // A learning limiter would shrink its burst to one request and warn about the -1.
    first.grant!.complete({ status: 200, headers: { ...openai(1, 0), 'x-ratelimit-remaining-tokens': '-1' } });
    const second = track(limiter.acquire({ tokens: 0 }));
    await clock.advance(0);
    expect(second.grant).toBeDefined();
    second.grant!.complete({ status: 429, headers: { 'retry-after-ms': '30000' } });
    expect(limiter.snapshot()).toMatchObject({ headerStyle: 'unknown', rateLimited: 0 });
    expect(limiter.snapshot().requests.available).toBe(59);
    expect(warn).not.toHaveBeenCalled();
  });
});

describe('the line', () => {
  test('first come, first served: a large request at the head is not passed by small ones', async () => {
    const { clock, acquire } = setup({ tokensPerMinute: 6000 });
    await clock.advance(0);
    acquire(6000);
    const large = acquire(3000);
    const small = acquire(1);
    await expectStartedAfter(clock, large, 30_001);
    expect(small.grant).toBeUndefined();
  });

  test("an abort takes the request out of the line with the signal's reason; the next is served", async () => {
    const { clock, acquire, limiter } = setup({ requestsPerMinute: 1 });
    acquire();
    const controller = new AbortController();
    const aborted = acquire(0, { signal: controller.signal });
    const next = acquire();
    await clock.advance(0);
    controller.abort(new Error('stop'));
    await clock.advance(0);
    expect(aborted.error).toEqual(new Error('stop'));
    expect(limiter.snapshot().waiting).toBe(1);
    await expectStartedAfter(clock, next, 60_001);
  });

  test('an onWait that aborts as the wait starts takes the request out of the line at once', async () => {
    const { clock, acquire, limiter } = setup({ requestsPerMinute: 1 });
    acquire();
    const controller = new AbortController();
    const aborted = acquire(0, { signal: controller.signal, onWait: () => controller.abort(new Error('stop')) });
    await clock.advance(0);
    expect(aborted.error).toEqual(new Error('stop'));
    expect(limiter.snapshot().waiting).toBe(0);
  });

  test('what acquire() checked is what it charges: an options object changed or reused after the call changes nothing', async () => {
    const { clock, limiter } = setup({ tokensPerMinute: 1000 });
    (await limiter.acquire({ tokens: 1000 })).complete({ status: 200, headers: {} });
    const told: RateLimitWait[] = [];
    const options = { tokens: 100, onWait: (wait: RateLimitWait) => told.push(wait) };
    const first = track(limiter.acquire(options));
    // The same object, changed, for a second call; and NaN after that, which acquire() refuses.
    options.tokens = 300;
    const second = track(limiter.acquire(options));
    options.tokens = Number.NaN;
    options.onWait = () => {
      throw new Error('not the onWait given');
    };
    // 100 tokens refill in 6 s, the next 300 in 18 s more: each charged as asked.
    await expectStartedAfter(clock, first, 6_001);
    await expectStartedAfter(clock, second, 18_000);
    expect(told.length).toBeGreaterThan(0);
    expect(limiter.snapshot().tokens.available).toBe(0);
  });

  test('an onWait that aborts while others wait behind the head leaves one timer set, not two', async () => {
    const clock = new VirtualClock();
    const live = new Set<unknown>();
    const { setTimeout: set, clearTimeout: clear } = clock;
    clock.setTimeout = (callback, ms) => {
      const id = set(() => {
        live.delete(id);
        callback();
      }, ms);
      live.add(id);
      return id;
    };
    clock.clearTimeout = (id) => {
      live.delete(id);
      clear(id);
    };
    const limiter = new InMemoryRateLimiter({ requestsPerMinute: 1, clock });
    await limiter.acquire({ tokens: 0 });
    const head = track(limiter.acquire({ tokens: 0 }));
    const controller = new AbortController();
    // Behind the head, told it is queued, it gives up there.
    const aborted = track(
      limiter.acquire({ tokens: 0, signal: controller.signal, onWait: () => controller.abort(new Error('stop')) }),
    );
    const last = track(limiter.acquire({ tokens: 0 }));
    await clock.advance(0);
    expect(aborted.error).toEqual(new Error('stop'));
    expect(limiter.snapshot().waiting).toBe(2);
    expect(live.size).toBe(1);
    await expectStartedAfter(clock, head, 60_001);
    expect(last.grant).toBeUndefined();
  });

  test('a request granted or aborted leaves no listener on its signal', async () => {
    const { clock, acquire } = setup({ requestsPerMinute: 1 });
    const [granted, aborted] = [new AbortController(), new AbortController()];
    acquire(0, { signal: granted.signal });
    acquire(0, { signal: aborted.signal });
    await clock.advance(0);
    aborted.abort();
    expect(getEventListeners(granted.signal, 'abort')).toHaveLength(0);
    expect(getEventListeners(aborted.signal, 'abort')).toHaveLength(0);
  });

  test('a grant is settled once: a second complete() or cancel() changes nothing', async () => {
    const { clock, acquire, limiter } = setup({ requestsPerMinute: 60 });
    const [a, b] = [acquire(), acquire()];
    await clock.advance(0);
    a.grant!.complete({ status: 200, headers: {} });
    a.grant!.cancel();
    a.grant!.complete({ status: 429, headers: { 'retry-after': '30' } });
    expect(limiter.snapshot()).toMatchObject({ inFlight: 1, rateLimited: 0 });
    expect(b.grant).toBeDefined();
  });

  test.each([
    [{ requestsPerMinute: 0 }, 'Invalid InMemoryRateLimiter options: `requestsPerMinute` must be a number > 0 (got 0)'],
    [
      { tokensPerMinute: Number.NaN },
      'Invalid InMemoryRateLimiter options: `tokensPerMinute` must be a number > 0 (got NaN)',
    ],
  ])('%j is refused naming the option and the value', (options, message) => {
    expect(() => new InMemoryRateLimiter(options)).toThrow(InvalidArgumentError);
    expect(() => new InMemoryRateLimiter(options)).toThrow(message);
  });

  test('acquire refuses a negative token count before it waits', async () => {
    const { limiter } = setup();
    const refused = limiter.acquire({ tokens: -1 });
    await expect(refused).rejects.toThrow(InvalidArgumentError);
    await expect(refused).rejects.toThrow('Invalid acquire() options: `tokens` must be a number ≥ 0 (got -1)');
  });
});

describe('corrections and refunds never fill a bucket past its size', () => {
  test('an estimate corrected down after the bucket refilled gives back no more than the bucket holds', async () => {
    const { clock, limiter, acquire } = setup({ tokensPerMinute: 60_000 });
    const first = acquire(10_000);
    await clock.advance(0);
    first.grant!.complete({ status: 200, headers: {} });
    await clock.advance(20_000);
    limiter.reconcile({ charged: 10_000, used: 2_000 });
    expect(limiter.snapshot().tokens.available).toBe(60_000);
  });

  test('a refused attempt refunded after the bucket refilled', async () => {
    const { clock, limiter, acquire } = setup({ tokensPerMinute: 60_000 });
    const first = acquire(30_000);
    await clock.advance(0);
    await clock.advance(30_000);
    first.grant!.complete({ status: 429, headers: {} });
    expect(limiter.snapshot().tokens.available).toBe(60_000);
  });
});

describe('composeRateLimiters', () => {
  test("a call's tighter limit holds a request the client's limiter would start; answers reach both", async () => {
    const clock = new VirtualClock();
    const client = new InMemoryRateLimiter({ requestsPerMinute: 600, clock });
    const call = new InMemoryRateLimiter({ requestsPerMinute: 1, clock });
    const both = composeRateLimiters(call, client);
    const first = track(both.acquire({ tokens: 0 }));
    const second = track(both.acquire({ tokens: 0 }));
    await clock.advance(0);
    expect(first.grant).toBeDefined();
    first.grant!.complete({ status: 429, headers: { 'retry-after': '1' } });
    expect(client.snapshot().rateLimited).toBe(1);
    expect(call.snapshot().rateLimited).toBe(1);
    // The call's budget was refunded the refused attempt: the second goes once the pause ends.
    await expectStartedAfter(clock, second, 1000);
  });

  test('its limits are the tightest configured, and its snapshot shows each budget as the slowest limiter paces it', () => {
    const call = new InMemoryRateLimiter({ tokensPerMinute: 3000 });
    const client = new InMemoryRateLimiter({ requestsPerMinute: 60, tokensPerMinute: 90_000 });
    const both = composeRateLimiters(call, client);
    expect(both.limits).toEqual({ requestsPerMinute: 60, tokensPerMinute: 3000 });
    const snapshot = both.snapshot!();
    expect(snapshot.tokens).toMatchObject({ perMinute: 3000, source: 'configured' });
    expect(snapshot.requests).toMatchObject({ perMinute: 60, source: 'configured' });
  });

  test("an abort while waiting on the second cancels the first's turn", async () => {
    const clock = new VirtualClock();
    const shared = new InMemoryRateLimiter({ requestsPerMinute: 1, clock });
    const own = new InMemoryRateLimiter({ requestsPerMinute: 600, clock });
    await shared.acquire({ tokens: 0 });
    const controller = new AbortController();
    const waiting = track(composeRateLimiters(own, shared).acquire({ tokens: 0, signal: controller.signal }));
    await clock.advance(0);
    expect(own.snapshot().inFlight).toBe(1);
    controller.abort('stop');
    await clock.advance(0);
    expect(waiting.error).toBe('stop');
    expect(own.snapshot().inFlight).toBe(0);
  });
});
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
