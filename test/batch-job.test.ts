/**
 * What a batch job does with each request (src/batch/job.ts), at the wire: bisecting 400s and
 * 413s, stopping on fatal errors, losing nothing and abort. Cache reads and writes at the wire are
 * in batch-cache.test.ts, pacing in batch-pacer.test.ts.
 */
import { inspect } from 'node:util';
import { HttpResponse } from 'msw';
import { describe, expect, test } from 'vitest';
import {
  APIConnectionError,
  APIUserAbortError,
  AuthenticationError,
  BadRequestError,
  BatchEmbeddingError,
  EmbeddingsClient,
  EmbeddingsError,
  InternalServerError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  type CreateManyResponse,
} from '../src/index.js';
import { expectBelongs, useBatchApi } from './support/batch-api.js';
import { numberedTexts, passage } from './support/openai-like.js';

const model = 'text-embedding-3-small';
const wire = useBatchApi();
const { serve } = wire;

const texts = numberedTexts;

describe('createMany bisects rejected requests', () => {
  test('a 400 about one input is bisected so only the offending inputs fail', async () => {
    serve({ failText: (text) => text === 'text number 13' || text === 'text number 50' });
    const input = texts(64);
    const res = await wire.client.embeddings.createMany({ model, input }, { onFailure: 'collect', maxConcurrency: 1 });
    expect(res.failures.map((f) => f.index)).toEqual([13, 50]);
    for (const failure of res.failures) {
      expect(failure.error).toBeInstanceOf(BadRequestError);
      expect((failure.error as BadRequestError).status).toBe(400);
    }
    expect(res.data.map((d) => d.index)).toEqual(input.map((_, i) => i).filter((i) => i !== 13 && i !== 50));
    expectBelongs(res.data, input);
    // Two bad inputs in 64: at most two paths of log2(64) = 6 splits, two requests each.
    expect(wire.server.seen.length).toBeLessThanOrEqual(1 + 2 * 2 * 6);
  });

  test('a 400 about the request token total splits the request and every input succeeds', async () => {
    // The client is told it may send 600k tokens; the server holds to OpenAI's 300k.
    serve();
    const input = Array.from({ length: 2048 }, (_, i) => passage(i));
    const res = await wire.client.embeddings.createMany(
      { model, input },
      { maxTokensPerRequest: 600_000, maxConcurrency: 2, onFailure: 'collect' },
    );
    expect(res.data).toHaveLength(2048);
    expect(res.failures).toEqual([]);
    expect(wire.server.seen.some((r) => r.status === 400)).toBe(true);
    expect(wire.server.seen.filter((r) => r.status === 200).every((r) => r.tokens <= 300_000)).toBe(true);
  });

  test('a 413 splits the request in halves until the server accepts them', async () => {
    serve({
      intercept: (request) =>
        request.texts.length > 100
          ? HttpResponse.json({ error: { message: 'Request Entity Too Large' } }, { status: 413 })
          : undefined,
    });
    const res = await wire.client.embeddings.createMany({ model, input: texts(400) }, { maxConcurrency: 1 });
    expect(res.data).toHaveLength(400);
    // 400 → 200 + 200 → four accepted requests of 100.
    expect(wire.server.seen.map((r) => [r.texts.length, r.status])).toEqual([
      [400, 413],
      [200, 413],
      [100, 200],
      [100, 200],
      [200, 413],
      [100, 200],
      [100, 200],
    ]);
  });

  test('a 400 naming another field fails every input without bisecting or sending more', async () => {
    serve({
      intercept: () =>
        HttpResponse.json({ error: { message: 'bad dimensions', param: 'dimensions' } }, { status: 400 }),
    });
    const res = await wire.client.embeddings.createMany(
      { model, input: texts(40) },
      { onFailure: 'collect', maxInputsPerRequest: 10, maxConcurrency: 1 },
    );
    expect(wire.server.seen).toHaveLength(1);
    expect(res.failures).toHaveLength(40);
  });

  test('a 400 naming no field that every lone input gets too stops the job after a few requests, not 2n - 1 per request', async () => {
    serve({
      intercept: () =>
        HttpResponse.json(
          { error: { message: 'This model does not support specifying dimensions.', param: null } },
          { status: 400 },
        ),
    });
    const res = await wire.client.embeddings.createMany(
      { model, input: texts(256), dimensions: 8 },
      { onFailure: 'collect', maxInputsPerRequest: 64, maxConcurrency: 1 },
    );
    expect(res.failures).toHaveLength(256);
    expect(res.failures.every((f) => f.error instanceof BadRequestError)).toBe(true);
    // 64 → 32 → 16 → 8 → 4 → 2 → 1, its sibling, then the 2's sibling and its first half.
    expect(wire.server.seen.map((r) => r.texts.length)).toEqual([64, 32, 16, 8, 4, 2, 1, 1, 2, 1]);
  });

  test('lone inputs of different requests failing alike with a 400 naming no field fail alone', async () => {
    const bad = new Set(['text number 0', 'text number 4', 'text number 8']);
    serve({
      // Answers that succeed come late, so all three lone failures arrive before any success.
      hold: (request) =>
        request.texts.some((text) => bad.has(text)) ? undefined : new Promise((r) => setTimeout(r, 200)),
      intercept: (request) =>
        request.texts.some((text) => bad.has(text))
          ? HttpResponse.json({ error: { message: 'Invalid input.', param: null } }, { status: 400 })
          : undefined,
    });
    const res = await wire.client.embeddings.createMany(
      { model, input: texts(12) },
      { onFailure: 'collect', maxInputsPerRequest: 4, maxConcurrency: 3 },
    );
    expect(res.failures.map((f) => f.index)).toEqual([0, 4, 8]);
    expect(res.data).toHaveLength(9);
  });

  test('once a request of the job succeeded, lone inputs failing with a 400 naming no field fail alone', async () => {
    const bad = new Set(['text number 1', 'text number 2', 'text number 3']);
    serve({
      intercept: (request) =>
        request.texts.some((text) => bad.has(text))
          ? HttpResponse.json({ error: { message: 'Invalid input.', param: null } }, { status: 400 })
          : undefined,
    });
    const res = await wire.client.embeddings.createMany(
      { model, input: texts(16) },
      { onFailure: 'collect', maxInputsPerRequest: 8, maxConcurrency: 1 },
    );
    expect(res.failures.map((f) => f.index)).toEqual([1, 2, 3]);
    expect(res.data).toHaveLength(13);
  });
});

describe('createMany loses nothing', () => {
  test("onFailure 'throw' rejects after all work settles with every vector in data and every failure", async () => {
    serve({ failText: (text) => text === 'text number 3' });
    const input = texts(100);
    const error = await wire.client.embeddings
      .createMany({ model, input }, { maxInputsPerRequest: 10, maxConcurrency: 2 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BatchEmbeddingError);
    expect(error).toBeInstanceOf(EmbeddingsError);
    const batchError = error as BatchEmbeddingError;
    expect(batchError.failures.map((f) => f.index)).toEqual([3]);
    expect(batchError.data.map((d) => d.index)).toEqual(input.map((_, i) => i).filter((i) => i !== 3));
    expect(batchError.message).toMatch(/createMany: 1 of 100 inputs failed; first at input 3: .*status 400/);
    // Every other request was still sent after the failure.
    expect(new Set(wire.server.seen.flatMap((r) => r.texts))).toEqual(new Set(input));
  });

  test.each([
    [401, '', AuthenticationError],
    [403, '', PermissionDeniedError],
    [404, '', NotFoundError],
    [429, 'insufficient_quota', RateLimitError],
  ])(
    'a %d %s stops the job: queued requests are not sent and their inputs fail with the same error',
    async (status, code, errorClass) => {
      serve({
        intercept: () =>
          HttpResponse.json(
            { error: { message: 'no', code: code || null } },
            { status, headers: { 'retry-after-ms': '0' } },
          ),
      });
      const res = await wire.client.embeddings.createMany(
        { model, input: texts(50) },
        { onFailure: 'collect', maxInputsPerRequest: 5, maxConcurrency: 1, maxRetries: 0 },
      );
      expect(wire.api.requests).toHaveLength(1);
      expect(res.failures).toHaveLength(50);
      expect(res.failures.every((f) => f.error instanceof errorClass)).toBe(true);
    },
  );

  test('the API key appears nowhere in a BatchEmbeddingError: message, JSON or inspect', async () => {
    serve({
      intercept: () => HttpResponse.json({ error: { message: 'Incorrect API key provided' } }, { status: 401 }),
    });
    const key = 'sk-batch-SECRET-0123456789';
    const keyed = new EmbeddingsClient({ baseURL: wire.api.url, apiKey: key });
    const error = await keyed.embeddings.createMany({ model, input: texts(3) }).catch((e: unknown) => e);
    await keyed.close();
    expect(error).toBeInstanceOf(BatchEmbeddingError);
    expect(wire.api.requests[0]!.headers.authorization).toBe(`Bearer ${key}`);
    expect((error as Error).message).not.toContain(key);
    expect(JSON.stringify(error)).not.toContain(key);
    expect(inspect(error, { depth: 10 })).not.toContain(key);
  });

  test('retries exhausted on 500 fail only that request; the rest succeed', async () => {
    serve({
      intercept: (request) =>
        request.texts.includes('text number 0')
          ? HttpResponse.json({ error: { message: 'boom' } }, { status: 500, headers: { 'retry-after-ms': '0' } })
          : undefined,
    });
    const res = await wire.client.embeddings.createMany(
      { model, input: texts(30) },
      { onFailure: 'collect', maxInputsPerRequest: 10, maxRetries: 1 },
    );
    expect(res.failures.map((f) => f.index)).toEqual(texts(10).map((_, i) => i));
    expect(res.data.map((d) => d.index)).toEqual(
      texts(30)
        .map((_, i) => i)
        .slice(10),
    );
    expect(wire.server.seen.filter((r) => r.status === 500)).toHaveLength(2);
  });
});

describe('a server that cannot be reached', () => {
  const dropped = { intercept: () => HttpResponse.error() };
  const options = { onFailure: 'collect', maxInputsPerRequest: 4, maxConcurrency: 1, maxRetries: 0 } as const;

  test('before any success stops the job after one request: createMany rejects, no input is failed one by one', async () => {
    serve(dropped);
    await expect(wire.client.embeddings.createMany({ model, input: texts(40) }, options)).rejects.toBeInstanceOf(
      APIConnectionError,
    );
    expect(wire.api.requests).toHaveLength(1);
  });

  test('before any success ends stream() with the error and no failure items', async () => {
    serve(dropped);
    const items: unknown[] = [];
    const run = async () => {
      for await (const item of wire.client.embeddings.stream({ model, input: texts(40) }, options)) items.push(item);
    };
    await expect(run()).rejects.toBeInstanceOf(APIConnectionError);
    expect(items).toEqual([]);
    expect(wire.api.requests).toHaveLength(1);
  });

  test('after a success fails only the inputs of the requests it dropped', async () => {
    serve({ intercept: (request) => (request.texts.includes('text number 4') ? HttpResponse.error() : undefined) });
    const res = await wire.client.embeddings.createMany({ model, input: texts(12) }, options);
    expect(res.failures.map((f) => f.index)).toEqual([4, 5, 6, 7]);
    for (const failure of res.failures) expect(failure.error).toBeInstanceOf(APIConnectionError);
    expect(res.data.map((d) => d.index)).toEqual([0, 1, 2, 3, 8, 9, 10, 11]);
  });

  test('after a success, three requests in a row dropped stop the job: the rest fail unsent, nothing answered is lost', async () => {
    serve({ intercept: (request) => (request.texts.includes('text number 0') ? undefined : HttpResponse.error()) });
    const res = await wire.client.embeddings.createMany({ model, input: texts(40) }, options);
    expectOnlyFirstRequestAnswered(res, APIConnectionError);
    expect(wire.api.requests).toHaveLength(4);
  });
});

/** Of 40 inputs in requests of 4, the first request was answered and every other input failed with `errorClass`. */
function expectOnlyFirstRequestAnswered(
  res: CreateManyResponse<number[]>,
  errorClass: abstract new (...args: never[]) => Error,
): void {
  expect(res.data.map((d) => d.index)).toEqual([0, 1, 2, 3]);
  expect(res.failures.map((f) => f.index)).toEqual(Array.from({ length: 36 }, (_, i) => i + 4));
  for (const failure of res.failures) expect(failure.error).toBeInstanceOf(errorClass);
}

describe('a server that keeps failing with 5xx', () => {
  const options = { onFailure: 'collect', maxInputsPerRequest: 4, maxConcurrency: 1, maxRetries: 1 } as const;
  const broken = () =>
    HttpResponse.json({ error: { message: 'boom' } }, { status: 500, headers: { 'retry-after-ms': '0' } });

  test('after a success, three requests in a row failing past their retries stop the job: the rest fail unsent', async () => {
    serve({ intercept: (request) => (request.texts.includes('text number 0') ? undefined : broken()) });
    const res = await wire.client.embeddings.createMany({ model, input: texts(40) }, options);
    expectOnlyFirstRequestAnswered(res, InternalServerError);
    // One success, then three requests of two attempts each; the other 24 inputs were never sent.
    expect(wire.api.requests).toHaveLength(7);
  });

  test('failing requests between successes never stop it', async () => {
    const poison = new Set(['text number 4', 'text number 12', 'text number 20', 'text number 28']);
    serve({ intercept: (request) => (request.texts.some((text) => poison.has(text)) ? broken() : undefined) });
    const res = await wire.client.embeddings.createMany({ model, input: texts(40) }, options);
    expect(res.failures.map((f) => f.index)).toEqual([4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31]);
    expect(res.data).toHaveLength(24);
  });
});

describe('createMany abort', () => {
  test('aborting stops new requests at once, cancels those in flight and says how many inputs finished', async () => {
    const { signal, release } = wire.serveAbortingDuringSecondRequest(new Error('user stop'));
    const call = wire.client.embeddings.createMany(
      { model, input: texts(100) },
      { maxInputsPerRequest: 10, maxConcurrency: 1, signal },
    );
    const error = await call.catch((e: unknown) => e);
    release();
    expect(error).toBeInstanceOf(APIUserAbortError);
    expect((error as Error).message).toBe('createMany was aborted after 10 of 100 inputs finished');
    expect(((error as Error).cause as Error).message).toBe('user stop');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(wire.api.requests).toHaveLength(2);
  });

  test('an abort after every input settled leaves the result intact', async () => {
    serve();
    const controller = new AbortController();
    const res = await wire.client.embeddings.createMany(
      { model, input: texts(20) },
      {
        maxInputsPerRequest: 10,
        signal: controller.signal,
        onProgress: (p) => p.completedInputs === 20 && controller.abort(),
      },
    );
    expect(controller.signal.aborted).toBe(true);
    expect(res.data).toHaveLength(20);
  });

  test('an already aborted signal sends nothing', async () => {
    serve();
    const controller = new AbortController();
    controller.abort();
    await expect(
      wire.client.embeddings.createMany({ model, input: texts(5) }, { signal: controller.signal }),
    ).rejects.toThrow(APIUserAbortError);
    expect(wire.api.requests).toHaveLength(0);
  });
});
