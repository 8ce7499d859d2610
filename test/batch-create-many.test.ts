/** createMany(): results, checks before sending, dedupe, progress and the sliding window, at the wire. */
import { HttpResponse } from 'msw';
import { describe, expect, test } from 'vitest';
import { EmbeddingsClient, InvalidArgumentError, type BatchProgress, type RateLimiter } from '../src/index.js';
import { resolveBatchConfig } from '../src/batch/config.js';
import { BATCH_DEFAULTS } from '../src/batch/defaults.js';
import { cl100kTokenizer } from '../src/tokenizer.js';
import { expectBelongs, useBatchApi } from './support/batch-api.js';
import { beliefOf, restingSnapshot } from './support/rate-sim.js';
import { holdFirstUntil, numberedTexts, passage, vectorFor } from './support/openai-like.js';

const model = 'text-embedding-3-small';
const wire = useBatchApi();
const { serve } = wire;

const texts = numberedTexts;

describe('createMany results', () => {
  test('returns one vector per input at its index, each the vector of its own text, with usage summed', async () => {
    serve();
    const input = texts(5000);
    const res = await wire.client.embeddings.createMany({ model, input });
    expect(res.object).toBe('list');
    expect(res.data).toHaveLength(5000);
    res.data.forEach((item, i) => expect(item.index).toBe(i));
    expectBelongs(res.data, input);
    const tokens = input.reduce((sum, text) => sum + cl100kTokenizer.count(text), 0);
    expect(res.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });
    expect(res.failures).toEqual([]);
    expect(res.model).toBe(model);
  });

  test('a request closes at maxInputsPerRequest (2048 by default)', async () => {
    serve();
    await wire.client.embeddings.createMany({ model, input: texts(5000) });
    expect(wire.server.seen.map((r) => r.texts.length).sort((a, b) => b - a)).toEqual([2048, 2048, 904]);
  });

  test('2048 long passages are split by token budget so no request exceeds 300,000 tokens', async () => {
    serve();
    const input = Array.from({ length: 2048 }, (_, i) => passage(i));
    const res = await wire.client.embeddings.createMany({ model, input });
    expect(res.data).toHaveLength(2048);
    expect(wire.server.seen.length).toBeGreaterThan(1);
    for (const request of wire.server.seen) {
      expect(request.status).toBe(200);
      expect(request.tokens).toBeLessThanOrEqual(297_000);
    }
  });

  test('normalize: false and vectorType: float32 return the raw vectors as Float32Array', async () => {
    serve();
    const input = texts(3);
    const res = await wire.client.embeddings.createMany({ model, input }, { normalize: false, vectorType: 'float32' });
    res.data.forEach((item, i) => {
      expect(item.embedding).toBeInstanceOf(Float32Array);
      expect(item.embedding).toEqual(vectorFor(input[i]!));
    });
  });

  test('dimensions and user are sent with every request', async () => {
    serve();
    await wire.client.embeddings.createMany(
      { model, input: texts(10), dimensions: 16, user: 'u1' },
      { maxInputsPerRequest: 4 },
    );
    expect(wire.api.requests).toHaveLength(3);
    for (const request of wire.api.requests) {
      expect(request.body).toMatchObject({ model, dimensions: 16, user: 'u1', encoding_format: 'base64' });
    }
  });
});

describe('createMany defaults', () => {
  test('defaults are the documented ones: 2048 inputs, 300,000 tokens less 1%, 8192 per input, no truncation, dedupe, throw', () => {
    expect(BATCH_DEFAULTS).toEqual({
      maxInputsPerRequest: 2048,
      maxTokensPerRequest: 297_000,
      maxTokensPerInput: 8192,
      truncate: false,
      dedupe: true,
      onFailure: 'throw',
    });
    const config = resolveBatchConfig(wire.client, { model }, {});
    expect(config.maxConcurrency).toBe(wire.client.maxConcurrency);
    expect(config.normalize).toBe(true);
    expect(config.vectorType).toBe('array');
  });

  test('rateLimit.tokensPerMinute also caps the tokens of one request, which could never be paced otherwise', () => {
    const config = resolveBatchConfig(wire.client, { model }, { rateLimit: { tokensPerMinute: 600 } });
    expect(config.maxTokensPerRequest).toBe(600);
    expect(resolveBatchConfig(wire.client, { model }, {}).maxTokensPerRequest).toBe(BATCH_DEFAULTS.maxTokensPerRequest);
  });

  test("the client limiter's configured tokensPerMinute caps a request however much lower the rate it learnt", () => {
    // Paced on a lower limit read from headers, its snapshot no longer says "configured".
    const rateLimiter: RateLimiter = {
      limits: { tokensPerMinute: 600 },
      acquire: () => Promise.resolve({ complete: () => undefined, cancel: () => undefined }),
      snapshot: () => restingSnapshot({ tokens: beliefOf(100), headerStyle: 'openai' }),
    };
    const client = new EmbeddingsClient({ baseURL: wire.api.url, rateLimiter });
    expect(resolveBatchConfig(client, { model }, {}).maxTokensPerRequest).toBe(600);
  });
});

describe('createMany checks inputs before sending anything', () => {
  test.each([
    [['a', '', 'c'], /`input\[1\]` must not be an empty string \(got ""\)/],
    [['a', 'b', 7], /`input\[2\]` must be a string \(got number 7\)/],
    [[], /`input` must hold at least one text \(got \[\]\)/],
    [[[1, 2, 3]], /`input\[0\]` must be a string \(got an array of length 3\)/],
    // A sparse array (printed as null): its hole is an input too.
    // eslint-disable-next-line no-sparse-arrays -- the hole is the point of the case
    [['a', , 'c'], /`input\[1\]` must be a string \(got undefined\)/],
  ])('rejects %j with an error naming the index', async (input, message) => {
    serve();
    const call = wire.client.embeddings.createMany({ model, input: input as string[] });
    await expect(call).rejects.toThrow(InvalidArgumentError);
    await expect(call).rejects.toThrow(message);
    expect(wire.api.requests).toHaveLength(0);
  });

  test('an input over maxTokensPerInput fails by its index before any request, even at the end of the list', async () => {
    serve();
    const input = [...texts(3000), 'word '.repeat(9000)];
    await expect(wire.client.embeddings.createMany({ model, input })).rejects.toThrow(
      /`input\[3000\]` has 9001 tokens, over `maxTokensPerInput` \(8192\)/,
    );
    expect(wire.api.requests).toHaveLength(0);
  });

  test.each([
    // 'é' is one cl100k token but two UTF-8 bytes: bytes can only overcount.
    ['text-embedding-3-small', 'cl100k_base', [4]],
    ['text-embedding-ada-002', 'cl100k_base', [4]],
    ['my-local-model', 'UTF-8 bytes', [2, 2]],
  ])('%s counts tokens in %s when packing requests', async (name, _counting, sizes) => {
    serve();
    const input = ['éééé a', 'éééé b', 'éééé c', 'éééé d'];
    expect(input.map((text) => cl100kTokenizer.count(text)).every((n) => n <= 5)).toBe(true);
    await wire.client.embeddings.createMany({ model: name, input }, { maxTokensPerRequest: 20, maxTokensPerInput: 20 });
    expect(wire.server.seen.map((r) => r.texts.length)).toEqual(sizes);
  });

  test('truncate: true sends the input cut to maxTokensPerInput', async () => {
    serve();
    const res = await wire.client.embeddings.createMany(
      { model, input: ['short', 'word '.repeat(9000)] },
      { truncate: true },
    );
    expect(res.data).toHaveLength(2);
    const sent = wire.server.seen[0]!.texts[1]!;
    expect(cl100kTokenizer.count(sent)).toBe(8192);
    expectBelongs([{ index: 0, embedding: res.data[1]!.embedding }], [sent]);
  });

  test.each([
    [{ maxConcurrency: 0 }, '`maxConcurrency` must be an integer ≥ 1 (got 0)'],
    [{ maxInputsPerRequest: 1.5 }, '`maxInputsPerRequest` must be an integer ≥ 1 (got 1.5)'],
    [{ maxTokensPerRequest: -1 }, '`maxTokensPerRequest` must be an integer ≥ 1 (got -1)'],
    [{ maxTokensPerInput: 400_000 }, '`maxTokensPerInput` (400000) must not exceed `maxTokensPerRequest` (297000)'],
    [{ onFailure: 'ignore' }, '`onFailure` must be "throw" or "collect" (got "ignore")'],
    [{ rateLimit: { tokensPerMinute: 0 } }, '`rateLimit.tokensPerMinute` must be a number > 0 (got 0)'],
    [
      { rateLimit: { requestsPerMinute: Infinity } },
      '`rateLimit.requestsPerMinute` must be a number > 0 (got Infinity)',
    ],
    [{ rateLimit: { rpm: 5 } }, 'unknown field(s) `rateLimit.rpm` (got object)'],
    [{ dedupe: 'yes' }, '`dedupe` must be a boolean (got "yes")'],
    [{ ordered: 1 }, '`ordered` must be a boolean (got 1)'],
    [{ batchSize: 10 }, 'unknown field(s) `batchSize` (got object)'],
    [{ cache: {} }, '`cache` must have get(keys) and set(entries) methods (got {})'],
    [
      { tokenizer: { count: () => 1 } },
      '`tokenizer` must have count(text) and truncate(text, maxTokens) methods (got {})',
    ],
    [{ onProgress: 'log' }, '`onProgress` must be a function (got "log")'],
    [{ timeout: 0 }, '`timeout` must be an integer from 1 to 2147483647 (got 0)'],
    [{ signal: 'stop' }, '`signal` must be an AbortSignal (got "stop")'],
  ])('rejects option %j with a message naming it', async (options, message) => {
    serve();
    const call = wire.client.embeddings.createMany({ model, input: ['a'] }, options as never);
    await expect(call).rejects.toThrow(InvalidArgumentError);
    await expect(call).rejects.toThrow(`Invalid batch options: ${message}`);
    expect(wire.api.requests).toHaveLength(0);
  });

  test('bad params are named before any request, and base64 is refused for vector results', async () => {
    serve();
    const createMany = (params: object) => wire.client.embeddings.createMany({ model, input: ['a'], ...params });
    await expect(createMany({ model: '' })).rejects.toThrow(
      'Invalid embeddings params: `model` must be a non-empty string (got "")',
    );
    await expect(createMany({ dimensions: 0 })).rejects.toThrow(
      'Invalid embeddings params: `dimensions` must be an integer ≥ 1 (got 0)',
    );
    await expect(createMany({ modle: model })).rejects.toThrow(
      'Invalid embeddings params: unknown field(s) `modle` (got object)',
    );
    await expect(createMany({ encoding_format: 'base64' })).rejects.toThrow(
      'Invalid embeddings params: `encoding_format` must be omitted or "float" for batch calls, which return vectors; use create() for raw base64 (got "base64")',
    );
    await expect(wire.client.embeddings.createMany(5 as never)).rejects.toThrow(
      'Invalid embeddings params: must be an object (got 5)',
    );
    expect(wire.api.requests).toHaveLength(0);
  });
});

describe('createMany dedupes', () => {
  test('identical texts are sent once and every position gets the vector', async () => {
    serve();
    const input = Array.from({ length: 300 }, (_, i) => `repeated ${i % 7}`);
    const res = await wire.client.embeddings.createMany({ model, input });
    const sent = wire.server.seen.flatMap((r) => r.texts);
    expect(sent.sort()).toEqual(Array.from({ length: 7 }, (_, i) => `repeated ${i}`).sort());
    expect(res.data).toHaveLength(300);
    expectBelongs(res.data, input);
    // Copies, not one shared array: changing one result leaves the others alone.
    res.data[0]!.embedding[0] = 42;
    expect(res.data[7]!.embedding[0]).not.toBe(42);
  });

  test('dedupe: false sends every input', async () => {
    serve();
    await wire.client.embeddings.createMany({ model, input: ['x', 'x', 'x'] }, { dedupe: false });
    expect(wire.server.seen.flatMap((r) => r.texts)).toEqual(['x', 'x', 'x']);
  });
});

describe('createMany progress and concurrency', () => {
  test('onProgress is called after each completed request and ends with every input counted', async () => {
    serve();
    const all: BatchProgress[] = [];
    const input = texts(95);
    const res = await wire.client.embeddings.createMany(
      { model, input },
      { maxInputsPerRequest: 10, onProgress: (p) => all.push(p) },
    );
    // The other reports are rate-limit waits as they start (here the slow start's).
    const reports = all.filter((p, i) => p.completedInputs > (all[i - 1]?.completedInputs ?? 0));
    expect(all.filter((p) => !reports.includes(p)).every((p) => p.rateLimit?.waitReason !== undefined)).toBe(true);
    expect(reports).toHaveLength(10);
    const last = reports.at(-1)!;
    expect(last).toMatchObject({
      completedInputs: 95,
      totalInputs: 95,
      failedInputs: 0,
      requests: 10,
      retries: 0,
      rateLimited: 0,
      tokens: res.usage.prompt_tokens,
      etaMs: 0,
    });
    expect(reports.map((r) => r.completedInputs)).toEqual(
      [...reports.map((r) => r.completedInputs)].sort((a, b) => a - b),
    );
  });

  test('retries and 429s are counted', async () => {
    serve({
      intercept: (_request, all) =>
        all.length === 1
          ? HttpResponse.json({ error: { message: 'slow down' } }, { status: 429, headers: { 'retry-after-ms': '1' } })
          : undefined,
    });
    const reports: BatchProgress[] = [];
    await wire.client.embeddings.createMany({ model, input: texts(3) }, { onProgress: (p) => reports.push(p) });
    expect(reports.at(-1)).toMatchObject({ requests: 2, retries: 1, rateLimited: 1, completedInputs: 3 });
  });

  test('never more requests in flight than maxConcurrency', async () => {
    // Each answer waits a little so that requests overlap at the wire.server.
    serve({ hold: () => new Promise((resolve) => setTimeout(resolve, 10)) });
    await wire.client.embeddings.createMany(
      { model, input: texts(200) },
      { maxInputsPerRequest: 5, maxConcurrency: 3 },
    );
    expect(wire.api.requests).toHaveLength(40);
    expect(wire.api.maxInFlight).toBeLessThanOrEqual(3);
    expect(wire.api.maxInFlight).toBeGreaterThan(1);
  });

  test("a full window of requests on the job's signal prints no MaxListenersExceededWarning", async () => {
    // Each request in the window listens for the job's abort several times over (its retries,
    // its slot, its turn of the rate limiter, the socket): 8 of them are past Node's 10.
    serve({ hold: () => new Promise((resolve) => setTimeout(resolve, 10)) });
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      await wire.client.embeddings.createMany(
        { model, input: texts(80) },
        { maxInputsPerRequest: 5, maxConcurrency: 8 },
      );
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(wire.api.requests).toHaveLength(16);
    expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning');
  });

  test('a sliding window, not waves: a slow request never holds up the requests after it', async () => {
    // The first request is answered only once all five others have arrived; with waves of two
    // the third request would wait for the first and this would never happen.
    serve({ hold: holdFirstUntil(6) });
    await wire.knownLimitsClient.embeddings.createMany(
      { model, input: texts(60) },
      { maxInputsPerRequest: 10, maxConcurrency: 2 },
    );
    const first = wire.server.seen[0]!;
    expect(wire.server.seen.slice(1).every((r) => r.answeredAt! <= first.answeredAt!)).toBe(true);
  });
});
