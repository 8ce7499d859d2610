import { createServer } from 'node:net';
import { inspect } from 'node:util';
import { delay, http, HttpResponse } from 'msw';
import { describe, expect, onTestFinished, test } from 'vitest';
import {
  APIConnectionError,
  APITimeoutError,
  APIUserAbortError,
  AuthenticationError,
  BadRequestError,
  EmbeddingsClient,
  InternalServerError,
  RateLimitError,
} from '../src/index.js';
import { createEmbeddings } from '../src/create.js';
import { startFakeApi, useFakeApi, type FakeApi } from './support/fake-api.js';
import { openAILike } from './support/openai-like.js';

const api = useFakeApi(...openAILike().handlers);

const params = { model: 'm', input: 'hello' };
const KEY = 'sk-test-SECRET-0123456789';

/**
 * A fake API of the test's own, closed when it ends. For tests whose client gives up on a
 * request (timeout, abort): on a loaded machine the server may read such a request only after
 * the test is over, and on the shared fake API it would be counted by the next test.
 */
async function ownApi(...handlers: Parameters<typeof startFakeApi>): Promise<FakeApi> {
  const own = await startFakeApi(...handlers);
  onTestFinished(() => own.close());
  return own;
}

/** Never answers, and tells when the `n`th request has arrived: a gate instead of polling with a deadline. */
function hanging() {
  let arrived = 0;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  return {
    handler: http.post('*/embeddings', async () => {
      arrived++;
      for (const waiter of waiters) if (arrived >= waiter.n) waiter.resolve();
      await delay('infinite');
      return HttpResponse.json({});
    }),
    arrived: (n: number) => new Promise<void>((resolve) => (arrived >= n ? resolve() : waiters.push({ n, resolve }))),
  };
}

/** Answers `status` `times` times (then falls through to the working handler). */
function failing(
  status: number,
  times: number,
  headers: Record<string, string> = {},
  body: unknown = { error: { message: `status ${status}` } },
) {
  return Array.from({ length: times }, () =>
    http.post('*/embeddings', () => HttpResponse.json(body as object, { status, headers }), { once: true }),
  );
}

describe('retries', () => {
  test('retries twice by default', async () => {
    api.use(...failing(503, 5, { 'retry-after-ms': '1' }));
    await expect(new EmbeddingsClient({ baseURL: api.url }).embeddings.create(params)).rejects.toBeInstanceOf(
      InternalServerError,
    );
    expect(api.requests).toHaveLength(3);
  });

  const client = () => new EmbeddingsClient({ baseURL: api.url, maxRetries: 2 });

  test('retries 429 after retry-after-ms, then succeeds', async () => {
    api.use(...failing(429, 1, { 'retry-after-ms': '5' }));
    const res = await client().embeddings.create(params);
    expect(res.data).toHaveLength(1);
    expect(api.requests).toHaveLength(2);
  });

  test('reports the delay it chose from retry-after-ms before sleeping', async () => {
    api.use(...failing(429, 1, { 'retry-after-ms': '7' }));
    const retries: Array<{ attempt: number; delayMs: number; name: string }> = [];
    await createEmbeddings(client(), params, undefined, {
      onRetry: ({ attempt, delayMs, error }) => retries.push({ attempt, delayMs, name: error.name }),
    });
    expect(retries).toEqual([{ attempt: 1, delayMs: 7, name: 'RateLimitError' }]);
  });

  test.each([408, 409, 500, 503])('retries %i', async (status) => {
    api.use(...failing(status, 2, { 'retry-after-ms': '1' }));
    await client().embeddings.create(params);
    expect(api.requests).toHaveLength(3);
  });

  test('gives up after maxRetries with the last error', async () => {
    api.use(...failing(500, 5, { 'retry-after-ms': '1' }));
    const error = await client()
      .embeddings.create(params, { maxRetries: 3 })
      .catch((e) => e);
    expect(error).toBeInstanceOf(InternalServerError);
    expect(api.requests).toHaveLength(4);
  });

  test.each([
    [400, BadRequestError],
    [401, AuthenticationError],
  ])('never retries %i', async (status, ErrorClass) => {
    api.use(...failing(status, 3));
    await expect(client().embeddings.create(params)).rejects.toBeInstanceOf(ErrorClass);
    expect(api.requests).toHaveLength(1);
  });

  test.each([403, 404, 422])('never retries %i either', async (status) => {
    api.use(...failing(status, 3));
    await expect(client().embeddings.create(params)).rejects.toMatchObject({ status });
    expect(api.requests).toHaveLength(1);
  });

  test('x-should-retry overrides the status rule both ways', async () => {
    api.use(...failing(503, 1, { 'x-should-retry': 'false' }));
    await expect(client().embeddings.create(params)).rejects.toBeInstanceOf(InternalServerError);
    expect(api.requests).toHaveLength(1);
    api.reset();
    api.use(...failing(400, 1, { 'x-should-retry': 'true', 'retry-after-ms': '1' }));
    await client().embeddings.create(params);
    expect(api.requests).toHaveLength(2);
  });

  test('maps an HTML 502 page to InternalServerError with status, path and the page as body', async () => {
    const page = '<html><body><h1>502 Bad Gateway</h1></body></html>';
    api.use(
      http.post(
        '*/embeddings',
        () => new HttpResponse(page, { status: 502, headers: { 'content-type': 'text/html' } }),
      ),
    );
    const error = await client()
      .embeddings.create(params, { maxRetries: 0 })
      .catch((e) => e);
    expect(error).toBeInstanceOf(InternalServerError);
    expect(error.message).toBe('POST /embeddings failed with status 502');
    expect(error.body).toBe(page);
  });

  test('retries a dropped connection, then reports APIConnectionError', async () => {
    api.use(http.post('*/embeddings', () => HttpResponse.error()));
    const error = await client()
      .embeddings.create(params, { maxRetries: 1 })
      .catch((e) => e);
    expect(error).toBeInstanceOf(APIConnectionError);
    expect(error.message).toMatch(/^POST http:\/\/127\.0\.0\.1:\d+\/v1\/embeddings: connection/);
    expect(error.cause).toBeInstanceOf(Error);
    expect(api.requests).toHaveLength(2);
  });

  test('reports a refused connection as APIConnectionError', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const refused = new EmbeddingsClient({ baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 });
    await expect(refused.embeddings.create(params)).rejects.toThrow(/connection refused \(ECONNREFUSED\)/);
  });
});

describe('timeouts and abort', () => {
  test('a per-attempt timeout covers waiting for headers, and is retried', async () => {
    const server = hanging();
    const api = await ownApi(server.handler);
    const client = new EmbeddingsClient({ baseURL: api.url, timeout: 100, maxRetries: 1 });
    const retried: string[] = [];
    const error = await createEmbeddings(client, params, undefined, {
      onRetry: ({ error }) => retried.push(error.name),
    }).catch((e) => e);
    expect(error).toBeInstanceOf(APITimeoutError);
    expect(error.message).toBe(`POST ${api.url}/embeddings: timed out after 100 ms`);
    expect(retried).toEqual(['APITimeoutError']);
    // The server may read a request after its attempt has timed out, but never a third one.
    expect(api.requests.length).toBeLessThanOrEqual(2);
  });

  test('a per-attempt timeout covers a body that stalls after the headers', async () => {
    const api = await ownApi(
      http.post('*/embeddings', () => {
        const stream = new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('{"object":"list","data":['));
          },
        });
        return new HttpResponse(stream, { headers: { 'content-type': 'application/json' } });
      }),
    );
    const client = new EmbeddingsClient({ baseURL: api.url, timeout: 150, maxRetries: 0 });
    await expect(client.embeddings.create(params)).rejects.toBeInstanceOf(APITimeoutError);
  });

  test('abort cancels an in-flight request at once and is never retried', async () => {
    const server = hanging();
    const api = await ownApi(server.handler);
    const controller = new AbortController();
    const client = new EmbeddingsClient({ baseURL: api.url, maxRetries: 5 });
    const pending = client.embeddings.create(params, { signal: controller.signal });
    await server.arrived(1);
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(APIUserAbortError);
    expect(api.requests).toHaveLength(1);
  });

  test("a per-call timeout wins over the client's", async () => {
    const api = await ownApi(hanging().handler);
    const client = new EmbeddingsClient({ baseURL: api.url, timeout: 60_000, maxRetries: 0 });
    const error = await client.embeddings.create(params, { timeout: 50 }).catch((e) => e);
    expect(error).toBeInstanceOf(APITimeoutError);
    expect(error.message).toBe(`POST ${api.url}/embeddings: timed out after 50 ms`);
  });

  test('abort while waiting for a concurrency slot ends the call at once, and it never sends', async () => {
    const server = hanging();
    const api = await ownApi(server.handler);
    const client = new EmbeddingsClient({ baseURL: api.url, maxConcurrency: 1 });
    const first = new AbortController();
    const second = new AbortController();
    const holding = client.embeddings.create(params, { signal: first.signal }).catch((e) => e);
    await server.arrived(1);
    const queued = client.embeddings.create(params, { signal: second.signal });
    second.abort();
    // Rejects while the first call still holds the only slot.
    await expect(queued).rejects.toBeInstanceOf(APIUserAbortError);
    first.abort();
    expect(await holding).toBeInstanceOf(APIUserAbortError);
    expect(api.requests).toHaveLength(1);
  });

  test('abort during a backoff sleep ends the call without another request', async () => {
    api.use(...failing(503, 3, { 'retry-after': '30' }));
    const controller = new AbortController();
    const client = new EmbeddingsClient({ baseURL: api.url, maxRetries: 2 });
    const slept: number[] = [];
    const pending = createEmbeddings(
      client,
      params,
      { signal: controller.signal },
      {
        onRetry: ({ delayMs }) => {
          slept.push(delayMs);
          controller.abort();
        },
      },
    );
    await expect(pending).rejects.toBeInstanceOf(APIUserAbortError);
    expect(slept).toEqual([30_000]);
    expect(api.requests).toHaveLength(1);
  });

  test('an abort in the same tick as the call rejects it, sends nothing and leaves no rejection unhandled', async () => {
    const client = new EmbeddingsClient({ baseURL: api.url });
    const controller = new AbortController();
    const pending = client.embeddings.create(params, { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(APIUserAbortError);
    // A stray rejection from work started after the abort would fail the run as unhandled.
    expect(api.requests).toHaveLength(0);
  });

  test('a signal that has already aborted sends nothing', async () => {
    const client = new EmbeddingsClient({ baseURL: api.url });
    await expect(client.embeddings.create(params, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(
      APIUserAbortError,
    );
    expect(api.requests).toHaveLength(0);
  });
});

describe('concurrency', () => {
  /**
   * Holds the first `size` requests until all of them have arrived, so a cap of `size` is
   * reached on any machine, however loaded (a lower cap would leave it closed, hence the
   * bound), then a moment longer, so a request beyond the cap would be caught in flight.
   * Counts a request in flight from its arrival until its answer is handed over, which is
   * before any byte of it can reach the client: a slot the client frees on reading an answer
   * is never still counted (the socket's own close, which the fake API's count waits for,
   * can come after the client's next request on a loaded machine).
   */
  function gate(size: number) {
    let open: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    setTimeout(() => open(), 5_000).unref();
    let arrived = 0;
    const counts = { inFlight: 0, maxInFlight: 0 };
    const handler = http.post('*/embeddings', async () => {
      counts.maxInFlight = Math.max(counts.maxInFlight, ++counts.inFlight);
      if (++arrived === size) setTimeout(() => open(), 50);
      await opened;
      counts.inFlight--;
      return undefined; // fall through to the working handler
    });
    return { handler, counts };
  }

  // Limits the client knows: with none, a server without rate-limit headers is probed one request
  // at a time at first, and these tests are about the concurrency cap.
  const KNOWN_LIMITS = { requestsPerMinute: 1_000_000 };

  test('50 concurrent calls with maxConcurrency 4 never have more than 4 requests in flight', async () => {
    const { handler, counts } = gate(4);
    const api = await ownApi(handler, ...openAILike().handlers);
    const client = new EmbeddingsClient({ baseURL: api.url, maxConcurrency: 4, rateLimit: KNOWN_LIMITS });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => client.embeddings.create({ model: 'm', input: `text ${i}` })),
    );
    expect(results).toHaveLength(50);
    expect(api.requests).toHaveLength(50);
    expect(counts.maxInFlight).toBe(4);
  });

  test('keeps at most 8 requests in flight by default', async () => {
    const { handler, counts } = gate(8);
    const api = await ownApi(handler, ...openAILike().handlers);
    const client = new EmbeddingsClient({ baseURL: api.url, rateLimit: KNOWN_LIMITS });
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => client.embeddings.create({ model: 'm', input: `text ${i}` })),
    );
    expect(api.requests).toHaveLength(20);
    expect(counts.maxInFlight).toBe(8);
  });
});

describe('the API key stays secret', () => {
  test('not in errors, JSON.stringify or util.inspect of errors and the client', async () => {
    api.use(
      ...failing(
        401,
        1,
        {},
        {
          error: {
            message: 'Incorrect API key provided',
            type: 'invalid_request_error',
            param: null,
            code: 'invalid_api_key',
          },
        },
      ),
    );
    const client = new EmbeddingsClient({ baseURL: api.url, apiKey: KEY, defaultHeaders: { 'X-Api-Key': KEY } });
    const error = await client.embeddings.create(params).catch((e) => e);
    expect(error).toBeInstanceOf(AuthenticationError);
    expect(api.requests[0]!.headers.authorization).toBe(`Bearer ${KEY}`);
    const views = [
      error.message,
      String(error.stack),
      JSON.stringify(error),
      inspect(error, { depth: 10, showHidden: true }),
      inspect(client, { depth: 10, showHidden: true }),
      JSON.stringify(client),
    ];
    for (const view of views) expect(view).not.toContain('SECRET');
  });

  test('not in option errors, timeouts or connection errors', async () => {
    const bad = (() => {
      try {
        new EmbeddingsClient({ apiKey: KEY, maxConcurrency: 0, defaultHeaders: { a: 1 as never } });
      } catch (e) {
        return e;
      }
    })();
    expect(inspect(bad, { depth: 10 })).not.toContain('SECRET');
    api.use(http.post('*/embeddings', () => HttpResponse.error()));
    const client = new EmbeddingsClient({ baseURL: api.url, apiKey: KEY, maxRetries: 0 });
    const error = await client.embeddings.create(params).catch((e) => e);
    expect(error).toBeInstanceOf(APIConnectionError);
    expect(inspect(error, { depth: 10, showHidden: true })).not.toContain('SECRET');
  });
});

test('RateLimitError is what a final 429 throws', async () => {
  api.use(...failing(429, 1));
  const client = new EmbeddingsClient({ baseURL: api.url, maxRetries: 0 });
  await expect(client.embeddings.create(params)).rejects.toBeInstanceOf(RateLimitError);
});
