import { HttpResponse } from 'msw';
import { describe, expect, test } from 'vitest';
import { type BatchProgress } from '../src/index.js';
import { useBatchApi } from './support/batch-api.js';
import { mismatchedIndexes, numberedTexts as texts } from './support/openai-like.js';

const model = 'text-embedding-3-small';

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
