import { createServer } from 'node:net';
import { http, HttpResponse } from 'msw';
import { Agent, type Dispatcher } from 'undici';
import { describe, expect, test } from 'vitest';
import {
  APIConnectionError,
  APITimeoutError,
  APIUserAbortError,
  AuthenticationError,
  EmbeddingsClient,
  InternalServerError,
  InvalidArgumentError,
  ResponseValidationError,
  VERSION,
} from '../src/index.js';
import { createEmbeddings } from '../src/create.js';
import { useFakeApi } from './support/fake-api.js';
import { openAILike } from './support/openai-like.js';

const api = useFakeApi(...openAILike().handlers);

const params = { model: 'm', input: 'hello' };
const KEY = 'sk-test-SECRET-0123456789';

describe('transport', () => {
  test('reuses kept-alive connections across sequential calls', async () => {
    const client = new EmbeddingsClient({ baseURL: api.url });
    for (let i = 0; i < 6; i++) await client.embeddings.create(params);
    // undici's pool may open a second socket while the first is being released; never one per call.
    expect(new Set(api.requests.map((r) => r.remotePort)).size).toBeLessThanOrEqual(3);
    await client.close();
  });

  test('sends every request through the dispatcher passed in, and close() leaves it open', async () => {
    class CountingAgent extends Agent {
      dispatched = 0;
      override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
        this.dispatched++;
        return super.dispatch(options, handler);
      }
    }
    const dispatcher = new CountingAgent();
    const client = new EmbeddingsClient({ baseURL: api.url, dispatcher });
    await client.embeddings.create(params);
    await client.embeddings.create(params);
    await client.close();
    expect(dispatcher.dispatched).toBe(2);
    expect(dispatcher.closed).toBe(false);
    await dispatcher.close();
  });

  test('reports a TLS failure of the dispatcher as APIConnectionError, retried like one', async () => {
    let connects = 0;
    const dispatcher = new Agent({
      connect: (_options, callback) => {
        connects++;
        callback(Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), null);
      },
    });
    const client = new EmbeddingsClient({ baseURL: 'https://127.0.0.1:1/v1', dispatcher, maxRetries: 1 });
    const retries: number[] = [];
    const error = await createEmbeddings(client, params, undefined, {
      onRetry: ({ attempt }) => retries.push(attempt),
    }).catch((e) => e);
    expect(error).toBeInstanceOf(APIConnectionError);
    expect(error.message).toBe(
      'POST https://127.0.0.1:1/v1/embeddings: connection error (DEPTH_ZERO_SELF_SIGNED_CERT)',
    );
    expect(connects).toBe(2);
    expect(retries).toEqual([1]);
    await dispatcher.close();
  });
});

test('the client shows no request internals: callers cannot reach past validation and retries', () => {
  const client = new EmbeddingsClient({ baseURL: api.url });
  expect(Object.getOwnPropertyNames(EmbeddingsClient.prototype).sort()).toEqual([
    'close',
    'constructor',
    'off',
    'on',
    'toJSON',
  ]);
  expect(Object.keys(client).sort()).toEqual(['baseURL', 'batches', 'embeddings', 'files', 'maxConcurrency']);
});

test('a refused connection names the method and the URL tried, never the key or credentials', async () => {
  // A port that was just free on the loopback: nothing listens there any more.
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
  const client = new EmbeddingsClient({
    baseURL: `http://user:${KEY}@127.0.0.1:${port}/v1`,
    apiKey: KEY,
    maxRetries: 1,
  });
  const retries: number[] = [];
  const error = await createEmbeddings(client, params, undefined, {
    onRetry: ({ attempt }) => retries.push(attempt),
  }).catch((e) => e);
  expect(error).toBeInstanceOf(APIConnectionError);
  expect(error.message).toBe(`POST http://127.0.0.1:${port}/v1/embeddings: connection refused (ECONNREFUSED)`);
  expect(retries).toEqual([1]);
  expect(`${error.message} ${JSON.stringify(error)} ${String(error.stack)}`).not.toContain(KEY);
  await client.close();
});

test('keeps a non-JSON error body for diagnosis, cut to 2 kB', async () => {
  const page = `<html>${'x'.repeat(10_000)}</html>`;
  api.use(
    http.post('*/embeddings', () => new HttpResponse(page, { status: 502, headers: { 'content-type': 'text/html' } })),
  );
  const error = await new EmbeddingsClient({ baseURL: api.url, maxRetries: 0 }).embeddings
    .create(params)
    .catch((e) => e);
  expect(error).toBeInstanceOf(InternalServerError);
  expect(error.body).toBe(`${page.slice(0, 2048)}...`);
});

describe('an apiKey function that never answers', () => {
  const never = () => new Promise<string>(() => undefined);

  test("times out with the attempt's timeout, retried like one, and nothing is sent", async () => {
    const client = new EmbeddingsClient({ baseURL: api.url, apiKey: never, timeout: 50, maxRetries: 1 });
    const calls: number[] = [];
    const keyed = new EmbeddingsClient({
      baseURL: api.url,
      apiKey: () => {
        calls.push(calls.length);
        return never();
      },
      timeout: 50,
      maxRetries: 1,
    });
    await expect(client.embeddings.create(params)).rejects.toThrow(APITimeoutError);
    await expect(keyed.embeddings.create(params)).rejects.toThrow(APITimeoutError);
    // Asked again for the retry: a provider that hung once may answer the next time.
    expect(calls).toHaveLength(2);
    expect(api.requests).toHaveLength(0);
    await Promise.all([client.close(), keyed.close()]);
  });

  test('ends at once when the call is aborted', async () => {
    const client = new EmbeddingsClient({ baseURL: api.url, apiKey: never });
    const controller = new AbortController();
    const call = client.embeddings.create(params, { signal: controller.signal });
    setImmediate(() => controller.abort(new Error('stop')));
    await expect(call).rejects.toThrow(APIUserAbortError);
    expect(api.requests).toHaveLength(0);
    await client.close();
  });
});

describe('a server that echoes the credentials it got', () => {
  const echo = (status: number, json: boolean) =>
    http.post('*/embeddings', ({ request }) => {
      const sent = `${request.headers.get('authorization')} ${request.headers.get('api-key')}`;
      const text = `Incorrect API key provided: ${sent}`;
      return json
        ? HttpResponse.json(
            { error: { message: text, type: 'invalid_request_error', code: 'invalid_api_key' } },
            { status },
          )
        : new HttpResponse(text, { status, headers: { 'content-type': 'text/plain' } });
    });
  const GATEWAY_KEY = 'gw-key-ABCDEFGHIJ';
  const leaks = (error: Error & { body?: unknown }) =>
    [error.message, JSON.stringify(error), JSON.stringify(error.body), String(error.stack)].join(' ');

  test.each([
    [401, true, AuthenticationError],
    [502, false, InternalServerError],
  ])('a %i answer quoting the key shows [redacted] in its message and body', async (status, json, ErrorClass) => {
    api.use(echo(status, json));
    const client = new EmbeddingsClient({
      baseURL: api.url,
      apiKey: KEY,
      maxRetries: 0,
      defaultHeaders: { 'api-key': GATEWAY_KEY },
    });
    const error = await client.embeddings.create(params).catch((e) => e);
    expect(error).toBeInstanceOf(ErrorClass);
    expect(api.requests).toHaveLength(1);
    expect(api.requests[0]!.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(leaks(error)).toContain('[redacted]');
    expect(leaks(error)).not.toContain(KEY);
    expect(leaks(error)).not.toContain(GATEWAY_KEY);
    await client.close();
  });

  test('a 2xx body that is not JSON is previewed with the key masked', async () => {
    api.use(echo(200, false));
    const client = new EmbeddingsClient({ baseURL: api.url, apiKey: KEY });
    const error = await client.embeddings.create(params).catch((e) => e);
    expect(error).toBeInstanceOf(ResponseValidationError);
    expect(error.message).toContain('Incorrect API key provided: [redacted]');
    expect(leaks(error)).not.toContain(KEY);
    await client.close();
  });
});

describe('headers', () => {
  test.each([
    [{ apiKey: `${KEY}\n` }, '`apiKey` holds a character not allowed in an HTTP header (U+000A)'],
    [{ organization: 'org\r\n' }, '`organization` holds a character not allowed in an HTTP header (U+000D)'],
    [{ defaultHeaders: { 'X Team': 'a' } }, '`defaultHeaders`: "X Team" is not a valid header name'],
    [
      { defaultHeaders: { 'X-Key': `${KEY}\0` } },
      '`defaultHeaders` header "X-Key" holds a character not allowed in an HTTP header (U+0000)',
    ],
  ])('refuses %j when the client is made, never printing the value', (options, message) => {
    const make = () => new EmbeddingsClient({ baseURL: api.url, ...options });
    expect(make).toThrow(InvalidArgumentError);
    expect(make).toThrow(message);
  });

  test('refuses a per-call header undici cannot send, before any request and without retrying', async () => {
    const client = new EmbeddingsClient({ baseURL: api.url });
    const error = await client.embeddings
      .create(params, { headers: { 'X-Key': `${KEY}\r\nX-Evil: 1` } })
      .catch((e) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toBe('`headers` header "X-Key" holds a character not allowed in an HTTP header (U+000D)');
    expect(api.requests).toHaveLength(0);
  });

  test('sends auth, content type, accept, user agent, organization and project', async () => {
    const client = new EmbeddingsClient({ baseURL: api.url, apiKey: KEY, organization: 'org-1', project: 'proj-1' });
    await client.embeddings.create(params);
    const { headers, method, path } = api.requests[0]!;
    expect(method).toBe('POST');
    expect(path).toBe('/v1/embeddings');
    expect(headers).toMatchObject({
      authorization: `Bearer ${KEY}`,
      'content-type': 'application/json',
      accept: 'application/json',
      'user-agent': `embedrail/${VERSION} node/${process.version}`,
      'openai-organization': 'org-1',
      'openai-project': 'proj-1',
    });
  });

  test('merges defaultHeaders and per-call headers, and null removes one', async () => {
    const client = new EmbeddingsClient({
      baseURL: api.url,
      apiKey: KEY,
      defaultHeaders: { 'X-Team': 'search', 'X-Env': 'dev', 'User-Agent': null },
    });
    await client.embeddings.create(params, { headers: { 'x-env': 'prod', 'X-Team': null, Authorization: null } });
    const { headers } = api.requests[0]!;
    expect(headers['x-env']).toBe('prod');
    expect(headers).not.toHaveProperty('x-team');
    expect(headers).not.toHaveProperty('authorization');
    expect(headers['user-agent'] ?? '').not.toMatch(/embedrail/);
  });
});
