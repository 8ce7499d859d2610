import { inspect } from 'node:util';
import { http, HttpResponse } from 'msw';
import { afterEach, describe, expect, test, vi } from 'vitest';
import {
  AuthenticationError,
  createAzureClient,
  DEFAULTS,
  EmbeddingsClient,
  InvalidArgumentError,
  NotFoundError,
  type ApiKeyRequest,
} from '../src/index.js';
import { createServer, localHashEmbedding, type LocalServer, type ServerOptions } from '../src/server/index.js';
import { useFakeApi } from './support/fake-api.js';
import { numberedTexts, openAILike } from './support/openai-like.js';

const KEY = 'azure-key-SECRET-0123456789abcdef';
const DEPLOYMENT = 'my-embeddings';

const servers: LocalServer[] = [];
afterEach(async () => {
  vi.unstubAllEnvs();
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

/** The local server playing Azure OpenAI, serving DEPLOYMENT; its URL without /openai/v1 is the endpoint. */
async function azureServer(options: ServerOptions = {}): Promise<{ server: LocalServer; endpoint: string }> {
  const server = createServer({ style: 'azure', deployments: [DEPLOYMENT], dimensions: 16, ...options });
  servers.push(server);
  await server.listen(0);
  return { server, endpoint: server.url.replace(/\/openai\/v1$/, '') };
}

/** Whether `vector` is the local server's (unit) vector of `text`. */
const isVectorOf = (vector: ArrayLike<number>, text: string) =>
  localHashEmbedding(text, 16).every((x, k) => Math.abs(x - vector[k]!) < 1e-6);

/**
 * A token provider as `getBearerTokenProvider` behaves: one cached token, a new one only when
 * forced. `issued` lists every token it gave out, in order.
 */
function tokenProvider() {
  const calls: ApiKeyRequest[] = [];
  const issued: string[] = [];
  const issue = () => issued.push(`entra-token-SECRET-${issued.length}-${'x'.repeat(24)}`);
  issue();
  const provider = async (request: ApiKeyRequest) => {
    calls.push(request);
    await Promise.resolve();
    if (request.forceRefresh) issue();
    return issued.at(-1)!;
  };
  return { provider, calls, issued, forced: () => calls.filter((call) => call.forceRefresh).length };
}

const api = useFakeApi(...openAILike().handlers);
const fakeEndpoint = () => api.url.replace(/\/v1$/, '');
const params = { model: DEPLOYMENT, input: 'hello' };

describe('createAzureClient: URL forms and headers at the wire', () => {
  test('the v1 form by default: ${endpoint}/openai/v1/embeddings, the key as api-key, no query, no Authorization', async () => {
    vi.stubEnv('OPENAI_API_KEY', 'sk-openai-must-not-travel');
    vi.stubEnv('OPENAI_API_VERSION', '2024-10-21');
    const client = createAzureClient({ endpoint: `${fakeEndpoint()}/`, apiKey: KEY });
    expect((await client.embeddings.create(params)).data).toHaveLength(1);
    const [request] = api.requests;
    expect(request!.path).toBe('/openai/v1/embeddings');
    expect(request!.headers['api-key']).toBe(KEY);
    expect(request!.headers).not.toHaveProperty('authorization');
    expect(request!.body.model).toBe(DEPLOYMENT);
    expect(client.baseURL).toBe(`${fakeEndpoint()}/openai/v1`);
    await client.close();
  });

  test('with a deployment: /openai/deployments/{deployment}/embeddings?api-version=..., the key as api-key', async () => {
    const client = createAzureClient({
      endpoint: fakeEndpoint(),
      deployment: 'my deployment',
      apiVersion: '2024-10-21',
      apiKey: KEY,
    });
    await client.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'] });
    expect(api.requests[0]!.path).toBe('/openai/deployments/my%20deployment/embeddings?api-version=2024-10-21');
    expect(api.requests[0]!.headers['api-key']).toBe(KEY);
    await client.close();
  });

  test("new EmbeddingsClient({ preset: 'azure' }) sends its key as api-key; an explicit apiKeyHeader wins", async () => {
    const baseURL = `${fakeEndpoint()}/openai/v1`;
    const preset = new EmbeddingsClient({ preset: 'azure', baseURL, apiKey: KEY });
    const bearer = new EmbeddingsClient({ preset: 'azure', baseURL, apiKey: KEY, apiKeyHeader: 'authorization' });
    await preset.embeddings.create(params);
    await bearer.embeddings.create(params);
    expect(api.requests.map((request) => [request.headers['api-key'], request.headers.authorization])).toEqual([
      [KEY, undefined],
      [undefined, `Bearer ${KEY}`],
    ]);
    await Promise.all([preset.close(), bearer.close()]);
  });

  test('a token provider is sent as Authorization: Bearer, never as api-key, asked before each attempt', async () => {
    const entra = tokenProvider();
    const client = createAzureClient({ endpoint: fakeEndpoint(), tokenProvider: entra.provider });
    await client.embeddings.create(params);
    await client.embeddings.create(params);
    const bearer = `Bearer ${entra.issued[0]}`;
    expect(api.requests.map((r) => r.headers.authorization)).toEqual([bearer, bearer]);
    expect(api.requests[0]!.headers).not.toHaveProperty('api-key');
    expect(entra.calls).toEqual([{ forceRefresh: false }, { forceRefresh: false }]);
    await client.close();
  });

  test('the local Azure server answers both forms, with a key and with a token', async () => {
    const { server, endpoint } = await azureServer();
    const clients = [
      createAzureClient({ endpoint, apiKey: KEY }),
      createAzureClient({ endpoint, apiKey: KEY, deployment: DEPLOYMENT, apiVersion: '2024-10-21' }),
      createAzureClient({ endpoint, tokenProvider: tokenProvider().provider }),
      createAzureClient({ endpoint, tokenProvider: tokenProvider().provider, deployment: DEPLOYMENT, apiVersion: 'v' }),
    ];
    for (const client of clients) {
      const res = await client.embeddings.create({ model: DEPLOYMENT, input: 'hello world' });
      expect(isVectorOf(res.data[0]!.embedding, 'hello world')).toBe(true);
      await client.close();
    }
    expect(server.stats.requests).toBe(4);
    expect(server.stats.refused).toEqual({ inputs: 0, tokens: 0, field: 0, deployment: 0, auth: 0 });
  });

  test('reads AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY and OPENAI_API_VERSION; options win over them', async () => {
    vi.stubEnv('AZURE_OPENAI_ENDPOINT', fakeEndpoint());
    vi.stubEnv('AZURE_OPENAI_API_KEY', KEY);
    vi.stubEnv('OPENAI_API_VERSION', '2024-06-01');
    const fromEnv = createAzureClient({ deployment: DEPLOYMENT });
    await fromEnv.embeddings.create(params);
    const explicit = createAzureClient({ deployment: DEPLOYMENT, apiVersion: '2024-10-21' });
    await explicit.embeddings.create(params);
    vi.stubEnv('AZURE_OPENAI_ENDPOINT', 'http://127.0.0.1:9');
    vi.stubEnv('AZURE_OPENAI_API_KEY', 'wrong-key-from-the-environment');
    const given = createAzureClient({ endpoint: fakeEndpoint(), apiKey: `${KEY}-given` });
    await given.embeddings.create(params);
    expect(api.requests.map((r) => [r.path, r.headers['api-key']])).toEqual([
      [`/openai/deployments/${DEPLOYMENT}/embeddings?api-version=2024-06-01`, KEY],
      [`/openai/deployments/${DEPLOYMENT}/embeddings?api-version=2024-10-21`, KEY],
      ['/openai/v1/embeddings', `${KEY}-given`],
    ]);
    await Promise.all([fromEnv.close(), explicit.close(), given.close()]);
  });

  test('missing settings are refused before any request, naming the option and the variable', () => {
    vi.stubEnv('AZURE_OPENAI_ENDPOINT', '');
    vi.stubEnv('AZURE_OPENAI_API_KEY', '');
    vi.stubEnv('OPENAI_API_VERSION', '');
    vi.stubEnv('OPENAI_API_KEY', 'sk-openai-is-not-an-azure-key');
    const resource = 'https://r.openai.azure.com';
    expect(() => createAzureClient({ apiKey: KEY })).toThrow(/pass `endpoint` .* or set AZURE_OPENAI_ENDPOINT/);
    expect(() => createAzureClient({ endpoint: resource })).toThrow(
      /pass `apiKey` or `tokenProvider`, or set AZURE_OPENAI_API_KEY/,
    );
    expect(() => createAzureClient({ endpoint: resource, apiKey: KEY, deployment: 'd' })).toThrow(
      /needs `apiVersion` .* or OPENAI_API_VERSION/,
    );
    expect(() => createAzureClient({ endpoint: 'my-resource', apiKey: KEY })).toThrow(
      '`endpoint` must be an absolute http(s) URL (got "my-resource")',
    );
    expect(() => createAzureClient({ endpoint: `${resource}/openai/v1`, apiKey: KEY })).toThrow(
      /`endpoint` is the resource's URL.*drop \/openai/,
    );
    // A URL pasted with its query may carry a key or a SAS signature: the refusal shows origin and path only.
    const pasted = `${resource}/openai/deployments/d/embeddings?api-version=2024-10-21&api-key=${KEY}&sig=s1gn4ture`;
    expect(() => createAzureClient({ endpoint: pasted, apiKey: KEY })).toThrow(
      new InvalidArgumentError(
        "`endpoint` is the resource's URL, e.g. 'https://my-resource.openai.azure.com': drop /openai/... and any query, which createAzureClient adds (got \"https://r.openai.azure.com/openai/deployments/d/embeddings\" and a query, not shown: it may hold a key)",
      ),
    );
    expect(() => createAzureClient({ endpoint: `${resource}?sig=s1gn4ture`, apiKey: KEY })).toThrow(
      /\(got "https:\/\/r\.openai\.azure\.com\/" and a query, not shown: it may hold a key\)$/,
    );
    expect(() => createAzureClient({ endpoint: resource, apiKey: KEY, tokenProvider: () => 't' })).toThrow(
      /`apiKey` and `tokenProvider` exclude each other/,
    );
    expect(() => createAzureClient({ endpoint: resource, apiKey: KEY, baseURL: 'https://x' } as object)).toThrow(
      /`baseURL` is not an option of createAzureClient/,
    );
    // A token passed where the provider goes is not printed back.
    expect(() => createAzureClient({ endpoint: resource, tokenProvider: KEY } as object)).toThrow(
      /`tokenProvider` must be a function returning a token \(got string\)/,
    );
  });
});

describe('createAzureClient: errors', () => {
  test('DeploymentNotFound says to pass the deployment name, in both URL forms', async () => {
    const { server, endpoint } = await azureServer();
    const v1 = createAzureClient({ endpoint, apiKey: KEY });
    const error = await v1.embeddings.create({ model: 'text-embedding-3-small', input: 'x' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as NotFoundError).code).toBe('DeploymentNotFound');
    expect((error as Error).message).toMatch(
      /^POST \/embeddings failed with status 404: The API deployment for this resource does not exist\..*the deployment name you chose, not the model name: pass it as `model`, or as `deployment` to createAzureClient\)$/,
    );
    const named = createAzureClient({ endpoint, apiKey: KEY, deployment: 'text-embedding-3-small', apiVersion: 'v' });
    await expect(named.embeddings.create(params)).rejects.toThrow(/not the model name/);
    expect(server.stats.refused.deployment).toBe(2);
    // Any other 404 is left as the server put it.
    const lost = new EmbeddingsClient({ baseURL: `${endpoint}/openai/deployments/${DEPLOYMENT}`, apiKey: KEY });
    await expect(lost.embeddings.create(params)).rejects.toThrow(
      /^POST \/embeddings failed with status 404: Resource not found$/,
    );
    await Promise.all([v1.close(), named.close(), lost.close()]);
  });

  test('neither the key nor a token shows in messages, bodies, inspect or JSON, even when the server quotes them', async () => {
    const echo = http.post('*', ({ request }) =>
      HttpResponse.json(
        {
          error: {
            code: '401',
            message: `Bad credentials ${request.headers.get('api-key') ?? request.headers.get('authorization')}`,
          },
        },
        { status: 401 },
      ),
    );
    api.use(echo);
    const token = 'entra-token-SECRET-abcdefghijklmnop';
    const keyed = createAzureClient({ endpoint: fakeEndpoint(), apiKey: KEY });
    const tokened = createAzureClient({ endpoint: fakeEndpoint(), tokenProvider: () => token, maxRetries: 0 });
    for (const client of [keyed, tokened]) {
      const error = await client.embeddings.create(params).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AuthenticationError);
      const shown = [
        (error as Error).message,
        inspect(error, { depth: 10, showHidden: true }),
        JSON.stringify(error),
        inspect(client, { depth: 10, showHidden: true }),
        JSON.stringify(client),
      ].join('\n');
      expect(shown).toContain('Bad credentials [redacted]');
      expect(shown).not.toContain('SECRET');
      await client.close();
    }
    // The token's 401 earned one fresh token and one more attempt.
    expect(api.requests).toHaveLength(3);
  });
});

describe('a key function', () => {
  test('a bad value it returns is refused without being printed', async () => {
    for (const [value, got] of [
      ['', 'an empty string'],
      [undefined, 'undefined'],
      ['token-SECRET-with-a-newline\n', 'U+000A'],
    ] as const) {
      const client = new EmbeddingsClient({ baseURL: api.url, apiKey: () => value as string });
      const error = await client.embeddings.create(params).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as Error).message).toContain(got);
      expect((error as Error).message).not.toContain('SECRET');
    }
    expect(api.requests).toHaveLength(0);
  });

  test('a static key answered 401 fails at once: nothing to refresh', async () => {
    const { server, endpoint } = await azureServer();
    // The server knows no key sent nowhere: Azure's 401 for a missing or wrong key.
    const keyless = createAzureClient({ endpoint, apiKey: KEY, defaultHeaders: { 'api-key': null } });
    await expect(keyless.embeddings.create(params)).rejects.toBeInstanceOf(AuthenticationError);
    expect(server.stats.requests).toBe(1);
    expect(server.stats.refused.auth).toBe(1);
    await keyless.close();
  });

  test('a 401 gets one fresh token and one more attempt, outside maxRetries; a second 401 stands', async () => {
    const { server, endpoint } = await azureServer({ tokenLifetimeRequests: 1 });
    const entra = tokenProvider();
    const client = createAzureClient({ endpoint, tokenProvider: entra.provider, maxRetries: 0 });
    await client.embeddings.create(params);
    await client.embeddings.create(params);
    expect(entra.forced()).toBe(1);
    expect(server.stats.requests).toBe(3);
    expect(server.stats.refused.auth).toBe(1);
    // A provider that hands back the refused token again: one more attempt, then the 401.
    const stale = vi.fn((_request: ApiKeyRequest) => entra.issued[0]!);
    const stuck = createAzureClient({ endpoint, tokenProvider: stale, maxRetries: 5 });
    await expect(stuck.embeddings.create(params)).rejects.toBeInstanceOf(AuthenticationError);
    expect(server.stats.requests).toBe(5);
    expect(stale.mock.calls.map(([request]) => request)).toEqual([
      { forceRefresh: false },
      { forceRefresh: true },
      { forceRefresh: false },
    ]);
    await Promise.all([client.close(), stuck.close()]);
  });
});

describe('token refresh in a job', () => {
  test('requests refused together with one expired token share one refresh', async () => {
    const entra = tokenProvider();
    // The first 8 requests are answered together once all have arrived: 401 to the first token.
    let arrived = 0;
    let release!: () => void;
    const gathered = new Promise<void>((resolve) => (release = resolve));
    api.use(
      http.post('*', async ({ request }) => {
        if (arrived >= 8) return undefined;
        if (++arrived === 8) release();
        await Promise.race([gathered, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
        const expired = request.headers.get('authorization') === `Bearer ${entra.issued[0]}`;
        return expired ? HttpResponse.json({ error: { code: '401', message: 'expired' } }, { status: 401 }) : undefined;
      }),
    );
    // A limiter that never holds a request back: a client that knows no limits sends its first alone.
    const rateLimiter = { acquire: () => Promise.resolve({ complete: () => undefined, cancel: () => undefined }) };
    const client = createAzureClient({ endpoint: fakeEndpoint(), tokenProvider: entra.provider, rateLimiter });
    const results = await Promise.all(Array.from({ length: 8 }, () => client.embeddings.create(params)));
    expect(results).toHaveLength(8);
    expect(entra.forced()).toBe(1);
    const bearers = api.requests.map((r) => r.headers.authorization);
    expect(bearers).toEqual([
      ...Array(8).fill(`Bearer ${entra.issued[0]}`),
      ...Array(8).fill(`Bearer ${entra.issued[1]}`),
    ]);
    await client.close();
  });

  test('50,000 inputs under tokens that expire after 100 requests: every vector, each expired token refreshed once', async () => {
    const { server, endpoint } = await azureServer({ tokenLifetimeRequests: 100 });
    const entra = tokenProvider();
    const client = createAzureClient({ endpoint, tokenProvider: entra.provider, vectorType: 'float32' });
    const input = numberedTexts(50_000);
    const res = await client.embeddings.createMany({ model: DEPLOYMENT, input }, { maxInputsPerRequest: 100 });
    expect(res.data).toHaveLength(50_000);
    const wrong = res.data.filter((item, i) => item.index !== i || !isVectorOf(item.embedding, input[i]!));
    expect(wrong).toEqual([]);
    // Each token serves exactly 100 requests, then the one forced call replaces it, however many
    // requests in flight it was refused for: 500 requests need 5 tokens, so 4 forced calls.
    const answered = server.stats.requests - server.stats.refused.auth;
    expect(answered).toBe(500);
    expect(entra.forced()).toBe(Math.ceil(answered / 100) - 1);
    expect(entra.issued).toHaveLength(entra.forced() + 1);
    expect(server.stats.refused.auth).toBeGreaterThanOrEqual(entra.forced());
    // At most the requests in flight when a token expires are refused with it: a refresh
    // wasted per request would refuse far more.
    expect(server.stats.refused.auth).toBeLessThanOrEqual(entra.forced() * DEFAULTS.maxConcurrency);
    expect(res.usage.prompt_tokens).toBeGreaterThan(0);
    await client.close();
  }, 60_000);
});

describe('query parameters', () => {
  test('defaultQuery and a call query reach the URL; null removes a default', async () => {
    const client = new EmbeddingsClient({ baseURL: api.url, defaultQuery: { 'api-version': '1', keep: 'a b' } });
    await client.embeddings.create(params);
    await client.embeddings.create(params, { query: { 'api-version': null, extra: '2' } });
    expect(api.requests.map((r) => r.path)).toEqual([
      '/v1/embeddings?api-version=1&keep=a+b',
      '/v1/embeddings?keep=a+b&extra=2',
    ]);
  });

  test('a secret in the query never shows in an error, nor a bad query value in a validation message', async () => {
    const secret = 'query-SECRET-0123456789';
    api.use(
      http.post('*', ({ request }) =>
        HttpResponse.json({ error: { message: `denied for ${request.url}` } }, { status: 403 }),
      ),
    );
    const client = new EmbeddingsClient({ baseURL: api.url, defaultQuery: { key: secret } });
    const denied = await client.embeddings.create(params).catch((e: unknown) => e);
    expect((denied as Error).message).toMatch(/denied for .*key=\[redacted\]/);
    const refused = await new EmbeddingsClient({
      baseURL: 'http://127.0.0.1:9/v1',
      defaultQuery: { key: secret },
      maxRetries: 0,
    }).embeddings
      .create(params)
      .catch((e: unknown) => e);
    expect((refused as Error).message).toBe('POST http://127.0.0.1:9/v1/embeddings: connection refused (ECONNREFUSED)');
    expect(() => new EmbeddingsClient({ baseURL: api.url, defaultQuery: { key: [secret] as never } })).toThrow(
      /`defaultQuery.key` must be a string \(got object\)/,
    );
    expect(inspect(denied, { depth: 10 }) + inspect(refused, { depth: 10 })).not.toContain('SECRET');
  });
});
