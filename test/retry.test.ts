import { afterEach, describe, expect, test, vi } from 'vitest';
import { APIConnectionError, APITimeoutError, APIUserAbortError, BadRequestError } from '../src/index.js';
import { apiErrorFor } from '../src/errors.js';
import { BACKOFF, isRetryable, isRetryableStatus, parseRetryAfter, retryDelay, sleep } from '../src/retry.js';

const statusError = (status: number, headers: Record<string, string> = {}) =>
  apiErrorFor({ method: 'POST', path: '/embeddings', status, headers, body: {} });

describe('isRetryableStatus', () => {
  test.each([408, 409, 429, 500, 502, 503, 504])('retries %i', (status) => {
    expect(isRetryableStatus(status)).toBe(true);
  });
  test.each([400, 401, 403, 404, 422])('never retries %i', (status) => {
    expect(isRetryableStatus(status)).toBe(false);
  });
});

describe('isRetryable', () => {
  test('x-should-retry: false overrides a retryable status', () => {
    expect(isRetryable(statusError(503, { 'x-should-retry': 'false' }))).toBe(false);
  });
  test('x-should-retry: true overrides a final status', () => {
    expect(isRetryable(statusError(400, { 'x-should-retry': 'true' }))).toBe(true);
  });
  test('retries connection errors and per-attempt timeouts, never aborts or other errors', () => {
    expect(isRetryable(new APIConnectionError('POST', '/embeddings'))).toBe(true);
    expect(isRetryable(new APITimeoutError('POST', '/embeddings', 10))).toBe(true);
    expect(isRetryable(new APIUserAbortError())).toBe(false);
    expect(isRetryable(new TypeError('x'))).toBe(false);
    expect(statusError(400)).toBeInstanceOf(BadRequestError);
    expect(isRetryable(statusError(400))).toBe(false);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  test.each([
    [{ 'retry-after-ms': '250' }, 250],
    [{ 'retry-after-ms': '250', 'retry-after': '9' }, 250],
    [{ 'retry-after': '2' }, 2000],
    [{ 'retry-after': '0.5' }, 500],
    [{ 'retry-after': 'Thu, 01 Jan 2026 00:00:03 GMT' }, 3000],
    [{ 'retry-after': '61' }, 60_000],
    [{ 'retry-after': '86400' }, 60_000],
    [{ 'retry-after-ms': '1e300' }, 60_000],
    [{ 'retry-after': '-1' }, undefined],
    [{ 'retry-after': 'soon' }, undefined],
    [{ 'retry-after-ms': 'x', 'retry-after': '1' }, 1000],
    [{}, undefined],
  ])('reads %j as %s ms', (headers, expected) => {
    expect(parseRetryAfter(headers, now)).toBe(expected);
  });
});

describe('retryDelay', () => {
  test("uses the server's advice when it is between 0 and 60 s", () => {
    expect(retryDelay(1, { 'retry-after-ms': '1234' })).toBe(1234);
    expect(retryDelay(3, { 'retry-after': '7' })).toBe(7000);
  });
  test('backs off exponentially from 0.5 s with jitter in the upper half', () => {
    expect(retryDelay(1, {}, () => 0)).toBe(500);
    expect(retryDelay(1, {}, () => 1)).toBe(250);
    expect(retryDelay(2, {}, () => 0)).toBe(1000);
    expect(retryDelay(3, {}, () => 0)).toBe(2000);
  });
  test('caps backoff at 8 s, and a server advising more than 60 s at 60 s', () => {
    expect(retryDelay(10, {}, () => 0)).toBe(BACKOFF.maxDelay);
    expect(retryDelay(1, { 'retry-after': '120' }, () => 0)).toBe(BACKOFF.maxServerDelay);
  });
});

describe('sleep', () => {
  afterEach(() => {
    vi.useRealTimers();
  });
  test('resolves after the delay', async () => {
    vi.useFakeTimers();
    let done = false;
    const pending = sleep(1000).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await pending;
    expect(done).toBe(true);
  });
  test('rejects with APIUserAbortError the moment the signal aborts', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const pending = sleep(60_000, controller.signal);
    controller.abort(new Error('stop'));
    await expect(pending).rejects.toBeInstanceOf(APIUserAbortError);
    expect(vi.getTimerCount()).toBe(0);
  });
  test('rejects at once when the signal has already aborted', async () => {
    await expect(sleep(10, AbortSignal.abort())).rejects.toBeInstanceOf(APIUserAbortError);
  });
});
