import { inspect } from 'node:util';
import { http, HttpResponse } from 'msw';
import { afterEach, describe, expect, test, vi } from 'vitest';
import {
  AuthenticationError,
  createAzureClient,
  EmbeddingsClient,
  InvalidArgumentError,
  NotFoundError,
  type ApiKeyRequest,
} from '../src/index.js';
import { useFakeApi } from './support/fake-api.js';
import { mismatchedIndexes, numberedTexts, openAILike } from './support/openai-like.js';

const KEY = 'azure-key-SECRET-0123456789abcdef';
const DEPLOYMENT = 'my-embeddings';

/** Tokens an Azure-like server was given, and what it did with each. */
interface TokenRecord {
  accepted: number;
  refused: number;
}

/**
 * Azure OpenAI in front of the fake backend: the v1 and the deployments URL forms (the latter
 * needs `api-version`), a resource key as `api-key` or a bearer token, each token accepted for
 * `tokenLifetimeRequests` requests after its first use and answered 401 after that, and
 * DeploymentNotFound for a deployment it does not have. What passes goes on to the backend.
 */
function azureGate(
  options: { tokenLifetimeRequests?: number; tokenRecord?: Map<string, TokenRecord>; gather?: number } = {},
) {
  const tokens = options.tokenRecord ?? new Map<string, TokenRecord>();
  const lifetime = options.tokenLifetimeRequests ?? Infinity;
  const error = (status: number, code: string, message: string) =>
    HttpResponse.json({ error: { code, message } }, { status });
  // The first `gather` requests are answered together, once all have arrived (5 s at most).
  let arrived = 0;
  let release!: () => void;
  const gathered = new Promise<void>((resolve) => (release = resolve));
  const handler = http.post('*', async ({ request }) => {
    if (options.gather !== undefined && arrived < options.gather) {
      if (++arrived === options.gather) release();
      await Promise.race([gathered, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
    }
    const url = new URL(request.url);
    const v1 = url.pathname === '/openai/v1/embeddings';
    const named = /^\/openai\/deployments\/([^/]+)\/embeddings$/.exec(url.pathname)?.[1];
    if (!v1 && named === undefined) return error(404, '404', 'Resource not found');
    if (named !== undefined && !url.searchParams.get('api-version')) return error(404, '404', 'Resource not found');
    const bearer = /^Bearer (.+)$/.exec(request.headers.get('authorization') ?? '')?.[1];
    if (request.headers.get('api-key') !== KEY) {
      const record = bearer === undefined ? undefined : tokens.get(bearer);
      if (!record) {
        return error(401, '401', 'Access denied due to invalid subscription key or wrong API endpoint.');
      }
      if (record.accepted >= lifetime) {
        record.refused++;
        return error(
          401,
          '401',
          'Unauthorized. Access token is missing, invalid, audience is incorrect (https://cognitiveservices.azure.com), or have expired.',
        );
      }
      record.accepted++;
    }
    const { model } = (await request.clone().json()) as { model?: string };
    if ((named === undefined ? model : decodeURIComponent(named)) !== DEPLOYMENT) {
      return error(
        404,
        'DeploymentNotFound',
        'The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.',
      );
    }
    return undefined;
  });
  return { handler, tokens };
}

/** A token provider as `getBearerTokenProvider` behaves: one cached token, a new one only when forced. */
function tokenProvider(tokens: Map<string, TokenRecord>) {
  const calls: ApiKeyRequest[] = [];
  let current = '';
  const issue = () => {
    current = `entra-token-SECRET-${tokens.size}-${'x'.repeat(24)}`;
    tokens.set(current, { accepted: 0, refused: 0 });
  };
  issue();
  const provider = async (request: ApiKeyRequest) => {
    calls.push(request);
    await Promise.resolve();
    if (request.forceRefresh) issue();
    return current;
  };
  return { provider, calls, forced: () => calls.filter((call) => call.forceRefresh).length };
}

const gate = azureGate();
const api = useFakeApi(...openAILike().handlers);
const endpoint = () => api.url.replace(/\/v1$/, '');
const params = { model: DEPLOYMENT, input: 'hello' };
afterEach(() => vi.unstubAllEnvs());

describe('createAzureClient: URL forms and headers at the wire', () => {
  test('the v1 form by default: ${endpoint}/openai/v1/embeddings, the key as api-key, no query, no Authorization', async () => {
    api.use(gate.handler);
    vi.stubEnv('OPENAI_API_KEY', 'sk-openai-must-not-travel');
    vi.stubEnv('OPENAI_API_VERSION', '2024-10-21');
    const client = createAzureClient({ endpoint: `${endpoint()}/`, apiKey: KEY });
    const res = await client.embeddings.create(params);
    expect(res.data).toHaveLength(1);
    const [request] = api.requests;
    expect(request!.path).toBe('/openai/v1/embeddings');
    expect(request!.headers['api-key']).toBe(KEY);
    expect(request!.headers).not.toHaveProperty('authorization');
    expect(request!.body.model).toBe(DEPLOYMENT);
    expect(client.baseURL).toBe(`${endpoint()}/openai/v1`);
    await client.close();
  });

  test('with a deployment: /openai/deployments/{deployment}/embeddings?api-version=..., the key as api-key', async () => {
    api.use(gate.handler);
    const client = createAzureClient({
      endpoint: endpoint(),
      deployment: DEPLOYMENT,
      apiVersion: '2024-10-21',
      apiKey: KEY,
    });
    await client.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'] });
    expect(api.requests[0]!.path).toBe(`/openai/deployments/${DEPLOYMENT}/embeddings?api-version=2024-10-21`);
    expect(api.requests[0]!.headers['api-key']).toBe(KEY);
    await client.close();
  });

  test('a token provider is sent as Authorization: Bearer, never as api-key, asked before each attempt', async () => {
    const tokens = new Map<string, TokenRecord>();
    api.use(azureGate({ tokenRecord: tokens }).handler);
    const entra = tokenProvider(tokens);
    const client = createAzureClient({ endpoint: endpoint(), tokenProvider: entra.provider });
    await client.embeddings.create(params);
    await client.embeddings.create(params);
    const [token] = tokens.keys();
    expect(api.requests.map((r) => r.headers.authorization)).toEqual([`Bearer ${token}`, `Bearer ${token}`]);
    expect(api.requests[0]!.headers).not.toHaveProperty('api-key');
    expect(entra.calls).toEqual([{ forceRefresh: false }, { forceRefresh: false }]);
    await client.close();
  });

  test('reads AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY and OPENAI_API_VERSION; options win over them', async () => {
    api.use(gate.handler);
    vi.stubEnv('AZURE_OPENAI_ENDPOINT', endpoint());
    vi.stubEnv('AZURE_OPENAI_API_KEY', KEY);
    vi.stubEnv('OPENAI_API_VERSION', '2024-06-01');
    const fromEnv = createAzureClient({ deployment: DEPLOYMENT });
    await fromEnv.embeddings.create(params);
    const explicit = createAzureClient({ deployment: DEPLOYMENT, apiVersion: '2024-10-21' });
    await explicit.embeddings.create(params);
    vi.stubEnv('AZURE_OPENAI_ENDPOINT', 'http://127.0.0.1:9');
    vi.stubEnv('AZURE_OPENAI_API_KEY', 'wrong-key-from-the-environment');
    await createAzureClient({ endpoint: endpoint(), apiKey: KEY }).embeddings.create(params);
    expect(api.requests.map((r) => [r.path, r.headers['api-key']])).toEqual([
      [`/openai/deployments/${DEPLOYMENT}/embeddings?api-version=2024-06-01`, KEY],
      [`/openai/deployments/${DEPLOYMENT}/embeddings?api-version=2024-10-21`, KEY],
      ['/openai/v1/embeddings', KEY],
    ]);
    await Promise.all([fromEnv.close(), explicit.close()]);
  });

  test('missing settings are refused before any request, naming the option and the variable', () => {
    vi.stubEnv('AZURE_OPENAI_ENDPOINT', '');
    vi.stubEnv('AZURE_OPENAI_API_KEY', '');
    vi.stubEnv('OPENAI_API_VERSION', '');
    vi.stubEnv('OPENAI_API_KEY', 'sk-openai-is-not-an-azure-key');
    expect(() => createAzureClient({ apiKey: KEY })).toThrow(/pass `endpoint` .* or set AZURE_OPENAI_ENDPOINT/);
    expect(() => createAzureClient({ endpoint: 'https://r.openai.azure.com' })).toThrow(
      /pass `apiKey` or `tokenProvider`, or set AZURE_OPENAI_API_KEY/,
    );
    expect(() => createAzureClient({ endpoint: 'https://r.openai.azure.com', apiKey: KEY, deployment: 'd' })).toThrow(
      /needs `apiVersion` .* or OPENAI_API_VERSION/,
    );
    expect(() => createAzureClient({ endpoint: 'https://r.openai.azure.com/openai/v1', apiKey: KEY })).toThrow(
      /`endpoint` is the resource's URL.*drop \/openai/,
    );
    expect(() =>
      createAzureClient({ endpoint: 'https://r.openai.azure.com', apiKey: KEY, tokenProvider: () => 't' }),
    ).toThrow(/`apiKey` and `tokenProvider` exclude each other/);
    const baseURL = { endpoint: 'https://r.openai.azure.com', apiKey: KEY, baseURL: 'https://x' } as object;
    expect(() => createAzureClient(baseURL)).toThrow(InvalidArgumentError);
    // A token passed where the provider goes is not printed back.
    const misplaced = { endpoint: 'https://r.openai.azure.com', tokenProvider: KEY } as object;
    expect(() => createAzureClient(misplaced)).toThrow(
      /`tokenProvider` must be a function returning a token \(got string\)/,
    );
  });
});

describe('createAzureClient: errors', () => {
  test('DeploymentNotFound says to pass the deployment name, in both URL forms', async () => {
    api.use(gate.handler);
    const v1 = createAzureClient({ endpoint: endpoint(), apiKey: KEY });
    const error = await v1.embeddings.create({ model: 'text-embedding-3-small', input: 'x' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as NotFoundError).code).toBe('DeploymentNotFound');
    expect((error as Error).message).toMatch(
      /^POST \/embeddings failed with status 404: The API deployment for this resource does not exist\..*the deployment name you chose, not the model name: pass it as `model`, or as `deployment` to createAzureClient\)$/,
    );
    const named = createAzureClient({
      endpoint: endpoint(),
      apiKey: KEY,
      deployment: 'text-embedding-3-small',
      apiVersion: 'v',
    });
    await expect(named.embeddings.create(params)).rejects.toThrow(/not the model name/);
    // Any other 404 is left as the server put it.
    const lost = new EmbeddingsClient({ baseURL: `${endpoint()}/elsewhere`, apiKey: KEY });
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
    const keyed = createAzureClient({ endpoint: endpoint(), apiKey: KEY });
    const tokened = createAzureClient({ endpoint: endpoint(), tokenProvider: () => token, maxRetries: 0 });
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
    // The token provider was asked twice: the 401 earned one fresh token and one more attempt.
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
    api.use(gate.handler);
    const client = createAzureClient({ endpoint: endpoint(), apiKey: 'not-the-key-0123456789' });
    await expect(client.embeddings.create(params)).rejects.toBeInstanceOf(AuthenticationError);
    expect(api.requests).toHaveLength(1);
  });

  test('a 401 gets one fresh token and one more attempt, outside maxRetries; a second 401 stands', async () => {
    const tokens = new Map<string, TokenRecord>();
    api.use(azureGate({ tokenRecord: tokens, tokenLifetimeRequests: 1 }).handler);
    const entra = tokenProvider(tokens);
    const client = createAzureClient({ endpoint: endpoint(), tokenProvider: entra.provider, maxRetries: 0 });
    await client.embeddings.create(params);
    await client.embeddings.create(params);
    expect(entra.forced()).toBe(1);
    expect(api.requests).toHaveLength(3);
    // A provider that hands back the refused token again: one more attempt, then the 401.
    const stale = vi.fn((_request: ApiKeyRequest) => [...tokens.keys()][0]!);
    const stuck = createAzureClient({ endpoint: endpoint(), tokenProvider: stale, maxRetries: 5 });
    await expect(stuck.embeddings.create(params)).rejects.toBeInstanceOf(AuthenticationError);
    expect(api.requests).toHaveLength(5);
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
    const tokens = new Map<string, TokenRecord>();
    api.use(azureGate({ tokenRecord: tokens, tokenLifetimeRequests: 100, gather: 8 }).handler);
    const entra = tokenProvider(tokens);
    tokens.get([...tokens.keys()][0]!)!.accepted = 100;
    // A limiter that never holds a request back: a client that knows no limits sends its first alone.
    const rateLimiter = { acquire: () => Promise.resolve({ complete: () => undefined, cancel: () => undefined }) };
    const client = createAzureClient({
      endpoint: endpoint(),
      tokenProvider: entra.provider,
      maxRetries: 0,
      rateLimiter,
    });
    const results = await Promise.all(Array.from({ length: 8 }, () => client.embeddings.create(params)));
    expect(results).toHaveLength(8);
    expect([...tokens.values()].map((t) => t.refused)).toEqual([8, 0]);
    expect(entra.forced()).toBe(1);
    expect(api.requests).toHaveLength(16);
    await client.close();
  });

  test('50,000 inputs under tokens that expire after 100 requests: every vector, each expired token refreshed once', async () => {
    const tokens = new Map<string, TokenRecord>();
    api.use(azureGate({ tokenRecord: tokens, tokenLifetimeRequests: 100 }).handler);
    const entra = tokenProvider(tokens);
    const client = createAzureClient({ endpoint: endpoint(), tokenProvider: entra.provider, vectorType: 'float32' });
    const input = numberedTexts(50_000);
    const res = await client.embeddings.createMany({ model: DEPLOYMENT, input }, { maxInputsPerRequest: 100 });
    expect(res.data).toHaveLength(50_000);
    expect(res.data.every((item, i) => item.index === i)).toBe(true);
    expect(mismatchedIndexes(res.data, input)).toEqual([]);
    const records = [...tokens.values()];
    const expired = records.filter((t) => t.refused > 0).length;
    // 500 requests, 100 per token: at least four tokens ran out, each replaced by one forced call.
    expect(expired).toBeGreaterThanOrEqual(4);
    expect(entra.forced()).toBe(expired);
    expect(records.length).toBe(expired + 1);
    expect(records.reduce((sum, t) => sum + t.accepted, 0)).toBe(500);
    expect(api.requests.length).toBe(500 + records.reduce((sum, t) => sum + t.refused, 0));
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
