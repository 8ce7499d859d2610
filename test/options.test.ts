import { afterEach, describe, expect, test, vi } from 'vitest';
import { DEFAULTS, EmbeddingsClient, InvalidArgumentError, VERSION } from '../src/index.js';
import { useFakeApi } from './support/fake-api.js';
import { openAILike } from './support/openai-like.js';
import pkg from '../package.json' with { type: 'json' };

const api = useFakeApi(...openAILike().handlers);
afterEach(() => vi.unstubAllEnvs());

const params = { model: 'm', input: 'hello' };
const KEY = 'sk-test-SECRET-0123456789';

describe('options', () => {
  test('defaults match DEFAULTS and the README', () => {
    expect(DEFAULTS).toEqual({
      baseURL: 'https://api.openai.com/v1',
      timeout: 60000,
      maxResponseBytes: 268435456,
      maxRetries: 2,
      maxConcurrency: 8,
      normalize: true,
      vectorType: 'array',
      logLevel: 'warn',
      apiKeyHeader: 'authorization',
    });
    expect(Object.isFrozen(DEFAULTS)).toBe(true);
    expect(VERSION).toBe(pkg.version);
  });

  test('reads baseURL from EMBEDRAIL_BASE_URL, then OPENAI_BASE_URL, then the default', () => {
    vi.stubEnv('EMBEDRAIL_API_KEY', KEY);
    vi.stubEnv('EMBEDRAIL_BASE_URL', '');
    vi.stubEnv('OPENAI_BASE_URL', '');
    expect(new EmbeddingsClient().baseURL).toBe('https://api.openai.com/v1');
    vi.stubEnv('OPENAI_BASE_URL', 'http://openai-env.test/v1/');
    expect(new EmbeddingsClient().baseURL).toBe('http://openai-env.test/v1');
    vi.stubEnv('EMBEDRAIL_BASE_URL', 'http://embedrail-env.test/v1');
    expect(new EmbeddingsClient().baseURL).toBe('http://embedrail-env.test/v1');
    expect(new EmbeddingsClient({ baseURL: 'http://option.test' }).baseURL).toBe('http://option.test');
  });

  test('reads the key from EMBEDRAIL_API_KEY before OPENAI_API_KEY', async () => {
    vi.stubEnv('OPENAI_API_KEY', 'sk-openai');
    vi.stubEnv('EMBEDRAIL_API_KEY', 'sk-embedrail');
    await new EmbeddingsClient({ baseURL: api.url }).embeddings.create(params);
    vi.stubEnv('EMBEDRAIL_API_KEY', '');
    await new EmbeddingsClient({ baseURL: api.url }).embeddings.create(params);
    expect(api.requests.map((r) => r.headers.authorization)).toEqual(['Bearer sk-embedrail', 'Bearer sk-openai']);
  });

  test('without a key, OpenAI is refused naming the variables read; a local server gets no Authorization', async () => {
    vi.stubEnv('EMBEDRAIL_API_KEY', '');
    vi.stubEnv('OPENAI_API_KEY', '');
    vi.stubEnv('EMBEDRAIL_BASE_URL', '');
    vi.stubEnv('OPENAI_BASE_URL', '');
    expect(() => new EmbeddingsClient()).toThrow(InvalidArgumentError);
    expect(() => new EmbeddingsClient()).toThrow(/EMBEDRAIL_API_KEY or OPENAI_API_KEY/);
    await new EmbeddingsClient({ baseURL: api.url }).embeddings.create(params);
    expect(api.requests[0]!.headers).not.toHaveProperty('authorization');
  });

  test.each([
    [{ maxConcurrency: 0 }, '`maxConcurrency`', '(got 0)'],
    [{ maxRetries: -1 }, '`maxRetries`', '(got -1)'],
    [{ timeout: 0 }, '`timeout`', '(got 0)'],
    [{ timeout: 2 ** 31 }, '`timeout`', '(got 2147483648)'],
    [{ maxResponseBytes: 0 }, '`maxResponseBytes`', '(got 0)'],
    [{ maxResponseBytes: 2 ** 29 }, '`maxResponseBytes`', '(got 536870912)'],
    [{ vectorType: 'f64' }, '`vectorType`', '(got "f64")'],
    [{ baseURL: 'not a url' }, '`baseURL`', '(got "not a url")'],
    [{ baseURL: 'ftp://x' }, '`baseURL`', '(got "ftp://x")'],
    [
      { baseURL: 'http://127.0.0.1:8787/v1/embeddings/' },
      'drop the trailing /embeddings',
      '(got "http://127.0.0.1:8787/v1/embeddings")',
    ],
  ])('rejects client option %j naming it and its value', (options, field, value) => {
    const make = () => new EmbeddingsClient({ apiKey: KEY, ...(options as object) });
    expect(make).toThrow(InvalidArgumentError);
    expect(make).toThrow(field);
    expect(make).toThrow(value);
  });

  test('rejects a misspelt client option instead of falling back to api.openai.com', () => {
    const make = () => new EmbeddingsClient({ baseUrl: 'http://127.0.0.1:1/v1', apiKey: KEY } as never);
    expect(make).toThrow(InvalidArgumentError);
    expect(make).toThrow('Invalid EmbeddingsClient options: unknown field(s) `baseUrl` (got object)');
  });

  test('rejects bad per-call options before any request', async () => {
    const client = new EmbeddingsClient({ baseURL: api.url });
    await expect(client.embeddings.create(params, { timeout: -5 })).rejects.toThrow('`timeout`');
    await expect(client.embeddings.create(params, { signal: 'x' as never })).rejects.toThrow('`signal`');
    await expect(client.embeddings.create(params, { timeoutMs: 5 } as never)).rejects.toThrow(
      'unknown field(s) `timeoutMs`',
    );
    await expect(client.embeddings.create(params, { apiKey: KEY } as never)).rejects.toThrow(
      'unknown field(s) `apiKey`',
    );
    expect(api.requests).toHaveLength(0);
  });
});
