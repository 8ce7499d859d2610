/**
 * Presets, pass-through fields and input types, at the wire: what each preset's server receives
 * for query and document, dimensions and encoding_format; extraBody as given; the preset's caps
 * and tokenizer in createMany(); its baseURL and key variables; usage as servers send it.
 */
import { createHash } from 'node:crypto';
import { http, HttpResponse } from 'msw';
import { afterEach, describe, expect, test } from 'vitest';
import { BATCH_DEFAULTS } from '../src/batch/defaults.js';
import { cacheKey, createMemoryCache } from '../src/batch/cache.js';
import {
  EmbeddingsClient,
  InvalidArgumentError,
  PRESETS,
  ResponseValidationError,
  type ClientOptions,
  type PresetName,
} from '../src/index.js';
import { resolveClientOptions } from '../src/options.js';
import { useFakeApi, type RecordedRequest } from './support/fake-api.js';
import { jsonHandler, mismatchedIndexes, numberedTexts, openAILike, vectorFor } from './support/openai-like.js';

const api = useFakeApi(...openAILike().handlers);
const clients: EmbeddingsClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

/** A client of `preset` on the fake API, closed after the test. */
function clientFor(preset: PresetName | undefined, options: ClientOptions = {}): EmbeddingsClient {
  const client = new EmbeddingsClient({ baseURL: api.url, apiKey: 'k', maxRetries: 0, preset, ...options });
  clients.push(client);
  return client;
}

/** The body fields beside `model` and `input`. */
const extras = (request: RecordedRequest) => {
  const { model: _model, input: _input, ...rest } = request.body as Record<string, unknown>;
  return rest;
};

describe('inputType at the wire', () => {
  test.each([
    ['voyage', { input_type: 'query' }, { input_type: 'document' }, { encoding_format: 'base64' }],
    ['cohere-compat', { input_type: 'search_query' }, { input_type: 'search_document' }, { encoding_format: 'base64' }],
    ['jina', { task: 'retrieval.query' }, { task: 'retrieval.passage' }, {}],
  ] as const)('%s receives its own field for query and for document', async (preset, query, document, format) => {
    const client = clientFor(preset);
    await client.embeddings.create({ model: 'm', input: ['a'], inputType: 'query' });
    await client.embeddings.create({ model: 'm', input: ['a'], inputType: 'document' });
    expect(api.requests.map(extras)).toEqual([
      { ...query, ...format },
      { ...document, ...format },
    ]);
    expect(api.requests.map((request) => request.body.input)).toEqual([['a'], ['a']]);
  });

  test.each([
    ['ollama', 'nomic-embed-text', 'search_query: ', 'search_document: '],
    ['tei', 'nomic-ai/nomic-embed-text-v1.5', 'search_query: ', 'search_document: '],
    ['vllm', 'intfloat/multilingual-e5-large', 'query: ', 'passage: '],
    ['lmstudio', 'text-embedding-e5-base-v2', 'query: ', 'passage: '],
  ] as const)("%s with %s puts the model's prompt prefix before each text", async (preset, model, query, document) => {
    const client = clientFor(preset);
    await client.embeddings.create({ model, input: ['a', 'b'], inputType: 'query' });
    await client.embeddings.create({ model, input: 'c', inputType: 'document' });
    expect(api.requests.map((request) => request.body.input)).toEqual([[`${query}a`, `${query}b`], `${document}c`]);
    const format = PRESETS[preset].base64 ? { encoding_format: 'base64' } : {};
    expect(api.requests.map(extras)).toEqual([format, format]);
  });

  test('token ids for a model that takes a prefix are refused before any request, not sent without it', async () => {
    const create = clientFor('ollama').embeddings.create({
      model: 'nomic-embed-text',
      input: [1, 2],
      inputType: 'query',
    });
    await expect(create).rejects.toThrow(
      new InvalidArgumentError(
        'Invalid embeddings params: `inputType` for nomic-embed-text is the prompt prefix "search_query: ", which cannot go before token ids: pass texts, or put the prefix\'s tokens first and leave inputType out (got token-id input)',
      ),
    );
    expect(api.requests).toHaveLength(0);
    await clientFor('voyage').embeddings.create({ model: 'm', input: [[1, 2]], inputType: 'query' });
    expect(api.requests[0]!.body).toMatchObject({ input: [[1, 2]], input_type: 'query' });
  });

  test.each(['mxbai-embed-large', 'intfloat/multilingual-e5-large-instruct', 'intfloat/e5-mistral-7b-instruct'])(
    'a self-hosted %s, which wants no such prefix, gets the texts as they are, and no field',
    async (model) => {
      await clientFor('ollama').embeddings.create({ model, input: ['a'], inputType: 'query' });
      expect(api.requests[0]!.body).toEqual({ model, input: ['a'] });
    },
  );

  test.each([undefined, 'openai', 'azure', 'gemini-openai', 'mistral'] as const)(
    'preset %s receives no trace of inputType, even for a model that takes prefixes',
    async (preset) => {
      const client = clientFor(preset);
      for (const inputType of ['query', 'document'] as const) {
        await client.embeddings.create({ model: 'nomic-embed-text', input: ['a'], inputType });
      }
      for (const request of api.requests) {
        expect(request.body.input).toEqual(['a']);
        expect(Object.keys(request.body).sort()).toEqual(
          PRESETS[preset ?? 'openai'].base64 ? ['encoding_format', 'input', 'model'] : ['input', 'model'],
        );
      }
    },
  );

  test('an inputType other than query or document is refused before any request', async () => {
    const create = clientFor('voyage').embeddings.create({
      model: 'm',
      input: 'a',
      inputType: 'passage' as 'query',
    });
    await expect(create).rejects.toThrow(
      new InvalidArgumentError('Invalid embeddings params: `inputType` must be "query" or "document" (got "passage")'),
    );
    expect(api.requests).toHaveLength(0);
  });
});

describe('dimensions and encoding_format per preset', () => {
  /** Answers with vectors of the size the request asked under either name, as floats. */
  const sized = http.post('*/embeddings', async ({ request }) => {
    const body = (await request.json()) as { input: string[]; dimensions?: number; output_dimension?: number };
    const size = body.output_dimension ?? body.dimensions ?? 8;
    const data = body.input.map((text, index) => ({ index, embedding: Array.from(vectorFor(text, size)) }));
    return HttpResponse.json({ data, model: 'm' });
  });

  test.each([
    ['voyage', 'output_dimension'],
    ['mistral', 'output_dimension'],
    ['openai', 'dimensions'],
    ['jina', 'dimensions'],
    ['vllm', 'dimensions'],
  ] as const)('%s receives dimensions as %s and the vectors are checked against it', async (preset, field) => {
    api.use(sized);
    const res = await clientFor(preset).embeddings.create({ model: 'm', input: ['a', 'b'], dimensions: 16 });
    expect(extras(api.requests[0]!)).toMatchObject({ [field]: 16 });
    expect(Object.keys(api.requests[0]!.body)).not.toContain(
      field === 'dimensions' ? 'output_dimension' : 'dimensions',
    );
    expect(res.data.map((item) => item.embedding.length)).toEqual([16, 16]);
  });

  test.each(['ollama', 'lmstudio', 'cohere-compat'] as const)(
    '%s ignores dimensions: it is refused before any request, by create() and createMany()',
    async (preset) => {
      const client = clientFor(preset);
      const refusal = new InvalidArgumentError(
        `Invalid embeddings params: \`dimensions\` is not sent to preset '${preset}', whose server answers the model's own length whatever is asked: leave it out, or pass \`extraBody: { dimensions: 16 }\` if yours takes it (got dimensions: 16)`,
      );
      await expect(client.embeddings.create({ model: 'm', input: ['a'], dimensions: 16 })).rejects.toThrow(refusal);
      // A job stops at it: every input fails with the refusal, none is sent.
      const res = await client.embeddings.createMany(
        { model: 'm', input: numberedTexts(50), dimensions: 16 },
        { onFailure: 'collect' },
      );
      expect(res.failures).toHaveLength(50);
      expect(new Set(res.failures.map((failure) => failure.error.message))).toEqual(new Set([refusal.message]));
      expect(api.requests).toHaveLength(0);
    },
  );

  test('dimensions passed through extraBody reach a preset that ignores it, and the answer is checked against it', async () => {
    api.use(sized);
    const client = clientFor('ollama', { extraBody: { dimensions: 16 } });
    const res = await client.embeddings.create({ model: 'm', input: ['a', 'b'], dimensions: 16 });
    expect(extras(api.requests[0]!)).toEqual({ dimensions: 16 });
    expect(res.data.map((item) => item.embedding.length)).toEqual([16, 16]);
  });

  test.each(Object.values(PRESETS).map((preset) => [preset.name, preset.base64] as const))(
    '%s: base64 asked for only where the server answers it (%s), floats otherwise',
    async (name, base64) => {
      const res = await clientFor(name).embeddings.create({ model: 'm', input: ['a'] }, { normalize: false });
      expect(api.requests[0]!.body.encoding_format).toBe(base64 ? 'base64' : undefined);
      expect(res.data[0]!.embedding).toEqual(Array.from(vectorFor('a')));
    },
  );

  test("the caller's encoding_format wins over the preset's", async () => {
    await clientFor('mistral').embeddings.create({ model: 'm', input: ['a'], encoding_format: 'base64' });
    await clientFor('voyage').embeddings.create({ model: 'm', input: ['a'], encoding_format: 'float' });
    expect(api.requests.map((request) => request.body.encoding_format)).toEqual(['base64', 'float']);
  });
});

describe('extraBody', () => {
  test("arrives as given, a call's fields merged over the client's and over the preset's mapping", async () => {
    const client = clientFor('voyage', { extraBody: { truncate: false, output_dtype: 'float', nested: { a: [1] } } });
    await client.embeddings.create({ model: 'm', input: ['a'], inputType: 'query' });
    await client.embeddings.create(
      { model: 'm', input: ['a'], inputType: 'query' },
      { extraBody: { truncate: true, input_type: null } },
    );
    expect(api.requests.map(extras)).toEqual([
      { encoding_format: 'base64', input_type: 'query', truncate: false, output_dtype: 'float', nested: { a: [1] } },
      { encoding_format: 'base64', input_type: null, truncate: true, output_dtype: 'float', nested: { a: [1] } },
    ]);
  });

  test('reaches every request of a batch job, with the call fields over the client fields', async () => {
    const client = clientFor('tei', { extraBody: { truncate: true, prompt_name: 'x' } });
    const input = numberedTexts(70);
    const res = await client.embeddings.createMany({ model: 'm', input }, { extraBody: { prompt_name: 'query' } });
    expect(mismatchedIndexes(res.data, input)).toEqual([]);
    expect(api.requests).toHaveLength(3);
    for (const request of api.requests) {
      expect(extras(request)).toEqual({ encoding_format: 'base64', truncate: true, prompt_name: 'query' });
    }
  });

  test.each(['model', 'input', 'encoding_format'])(
    'holding %s is refused before any request, on the client, the call and the batch',
    async (field) => {
      const extraBody = { [field]: 'x' };
      expect(() => clientFor('voyage', { extraBody })).toThrow(InvalidArgumentError);
      expect(() => clientFor('voyage', { extraBody })).toThrow(`\`extraBody.${field}\` is set from the params`);
      const client = clientFor('voyage');
      await expect(client.embeddings.create({ model: 'm', input: 'a' }, { extraBody })).rejects.toThrow(
        `Invalid request options: \`extraBody.${field}\` is set from the params; pass \`${field}\` there`,
      );
      await expect(client.embeddings.createMany({ model: 'm', input: ['a'] }, { extraBody })).rejects.toThrow(
        `Invalid batch options: \`extraBody.${field}\``,
      );
      expect(api.requests).toHaveLength(0);
    },
  );

  test('must be an object of fields', () => {
    expect(() => clientFor(undefined, { extraBody: ['x'] as unknown as Record<string, unknown> })).toThrow(
      'Invalid EmbeddingsClient options: `extraBody` must be an object of request fields',
    );
  });
});

describe('usage as servers send it', () => {
  const answer = (usage: unknown) =>
    jsonHandler({ data: [{ index: 0, embedding: Array.from(vectorFor('a')) }], model: 'voyage-3', usage });

  test.each([
    ['total_tokens alone (Voyage)', { total_tokens: 7 }, { prompt_tokens: 7, total_tokens: 7 }],
    ['prompt_tokens alone', { prompt_tokens: 5 }, { prompt_tokens: 5, total_tokens: 5 }],
    ['none', undefined, { prompt_tokens: 0, total_tokens: 0 }],
    ['null', null, { prompt_tokens: 0, total_tokens: 0 }],
  ])('%s is accepted', async (_what, usage, expected) => {
    api.use(answer(usage));
    const res = await clientFor('voyage').embeddings.create({ model: 'voyage-3', input: ['a'] });
    expect(res.usage).toEqual(expected);
  });

  test('every check on the vectors stays: one vector short is still refused', async () => {
    api.use(answer({ total_tokens: 7 }));
    const create = clientFor('voyage').embeddings.create({ model: 'voyage-3', input: ['a', 'b'] });
    await expect(create).rejects.toThrow(ResponseValidationError);
    await expect(create).rejects.toThrow('expected 2 embeddings, got 1');
  });
});

describe('preset options', () => {
  test('an unknown preset is refused, naming the value and the choices', () => {
    expect(() => new EmbeddingsClient({ preset: 'voyag' as PresetName, apiKey: 'k' })).toThrow(
      new InvalidArgumentError(
        `Invalid EmbeddingsClient options: \`preset\` must be one of ${Object.keys(PRESETS)
          .map((name) => `"${name}"`)
          .join(', ')} (got "voyag")`,
      ),
    );
  });

  test.each([
    ['voyage', 'https://api.voyageai.com/v1'],
    ['mistral', 'https://api.mistral.ai/v1'],
    ['jina', 'https://api.jina.ai/v1'],
    ['gemini-openai', 'https://generativelanguage.googleapis.com/v1beta/openai'],
    ['cohere-compat', 'https://api.cohere.ai/compatibility/v1'],
    ['ollama', 'http://127.0.0.1:11434/v1'],
    ['lmstudio', 'http://127.0.0.1:1234/v1'],
  ] as const)("%s's baseURL is %s, over OPENAI_BASE_URL; baseURL and EMBEDRAIL_BASE_URL win", (preset, url) => {
    const env = { OPENAI_BASE_URL: 'http://elsewhere/v1' };
    expect(resolveClientOptions({ preset, apiKey: 'k' }, env).baseURL).toBe(url);
    expect(resolveClientOptions({ preset, baseURL: 'http://mine/v1' }, env).baseURL).toBe('http://mine/v1');
    expect(
      resolveClientOptions({ preset, apiKey: 'k' }, { ...env, EMBEDRAIL_BASE_URL: 'http://ours/v1' }).baseURL,
    ).toBe('http://ours/v1');
  });

  test.each(['tei', 'vllm', 'azure'] as const)(
    '%s without a baseURL is refused: it has no root of its own',
    (preset) => {
      expect(() => resolveClientOptions({ preset }, {})).toThrow(
        `\`preset: '${preset}'\` has no API root of its own: pass \`baseURL\``,
      );
      expect(resolveClientOptions({ preset }, { OPENAI_BASE_URL: 'http://gpu:8080/v1' }).baseURL).toBe(
        'http://gpu:8080/v1',
      );
    },
  );

  test.each(['voyage', 'mistral', 'jina', 'gemini-openai', 'cohere-compat'] as const)(
    '%s reads only its own key variable: a key set for OpenAI, under either name, is not sent there',
    (preset) => {
      const env = { OPENAI_API_KEY: 'sk-openai', EMBEDRAIL_API_KEY: 'sk-openai-too' };
      const own = PRESETS[preset].apiKeyEnv;
      expect(own).toHaveLength(1);
      expect(() => resolveClientOptions({ preset }, env)).toThrow(
        new InvalidArgumentError(
          `No API key for ${PRESETS[preset].baseURL}: pass \`apiKey\` or set ${own[0]} (it was empty)`,
        ),
      );
      expect(resolveClientOptions({ preset }, { ...env, [own[0]!]: 'own' }).apiKey).toBe('own');
      expect(resolveClientOptions({ preset, apiKey: 'given' }, env).apiKey).toBe('given');
    },
  );

  test("a hosted provider's preset reads its own key variable and never OPENAI_API_KEY", () => {
    expect(() => resolveClientOptions({ preset: 'voyage' }, { OPENAI_API_KEY: 'sk-openai' })).toThrow(
      new InvalidArgumentError(
        'No API key for https://api.voyageai.com/v1: pass `apiKey` or set VOYAGE_API_KEY (it was empty)',
      ),
    );
    expect(resolveClientOptions({ preset: 'voyage' }, { VOYAGE_API_KEY: 'pa-v' }).apiKey).toBe('pa-v');
    expect(resolveClientOptions({ preset: 'mistral' }, { MISTRAL_API_KEY: 'm' }).apiKey).toBe('m');
    // A server on your machine needs no key, and takes OPENAI_API_KEY as it always did.
    expect(resolveClientOptions({ preset: 'ollama' }, {}).apiKey).toBeUndefined();
    expect(resolveClientOptions({ preset: 'ollama' }, { OPENAI_API_KEY: 'x' }).apiKey).toBe('x');
  });

  test('PRESETS is frozen, rows included, and openai holds the batch defaults', () => {
    expect(Object.isFrozen(PRESETS)).toBe(true);
    expect(Object.values(PRESETS).every(Object.isFrozen)).toBe(true);
    expect(PRESETS.openai).toMatchObject({
      maxInputsPerRequest: BATCH_DEFAULTS.maxInputsPerRequest,
      maxTokensPerRequest: BATCH_DEFAULTS.maxTokensPerRequest,
    });
  });
});

describe('createMany() and stream() with a preset', () => {
  test('stream() sends its inputType with every request', async () => {
    const input = numberedTexts(40);
    const items = [];
    for await (const item of clientFor('jina').embeddings.stream(
      { model: 'm', input, inputType: 'query' },
      {
        maxInputsPerRequest: 16,
      },
    )) {
      items.push(item);
    }
    expect(items).toHaveLength(40);
    expect(api.requests.map((request) => request.body.task)).toEqual(Array(3).fill('retrieval.query'));
  });

  test.each([
    ['tei', 32],
    ['cohere-compat', 96],
    ['gemini-openai', 100],
  ] as const)('%s: requests hold at most %i inputs; an explicit maxInputsPerRequest wins', async (preset, cap) => {
    const client = clientFor(preset);
    const input = numberedTexts(cap * 2 + 1);
    const res = await client.embeddings.createMany({ model: 'm', input });
    expect(mismatchedIndexes(res.data, input)).toEqual([]);
    expect(api.requests.map((request) => request.body.input.length)).toEqual([cap, cap, 1]);
    api.reset();
    await client.embeddings.createMany({ model: 'm', input: input.slice(0, 10) }, { maxInputsPerRequest: 4 });
    expect(api.requests.map((request) => request.body.input.length)).toEqual([4, 4, 2]);
  });

  test('mistral: requests hold at most 16,384 tokens counted as UTF-8 bytes, prefix included', async () => {
    const input = Array.from({ length: 600 }, (_, i) => `${String(i).padStart(4, '0')} ${'x'.repeat(95)}`);
    const res = await clientFor('mistral').embeddings.createMany({ model: 'mistral-embed', input });
    expect(mismatchedIndexes(res.data, input)).toEqual([]);
    for (const request of api.requests) {
      expect(Buffer.byteLength((request.body.input as string[]).join(''))).toBeLessThanOrEqual(16_384);
    }
    expect(api.requests.map((request) => request.body.input.length)).toEqual([163, 163, 163, 111]);
  });

  test('a prompt prefix counts toward the token cap of each request', async () => {
    const input = Array.from({ length: 20 }, (_, i) => `t${String(i).padStart(2, '0')}`);
    await clientFor('tei').embeddings.createMany(
      { model: 'nomic-embed-text', input, inputType: 'document' },
      { maxTokensPerRequest: 100, maxTokensPerInput: 100 },
    );
    // "search_document: t00" is 20 bytes: five to a request of 100, not 25.
    expect(api.requests.map((request) => request.body.input.length)).toEqual([5, 5, 5, 5]);
    expect(api.requests[0]!.body.input[0]).toBe('search_document: t00');
  });

  test('every request of a job carries its inputType; a query and a document of one text are cached apart', async () => {
    const client = clientFor('voyage');
    const cache = createMemoryCache();
    const input = numberedTexts(5);
    await client.embeddings.createMany({ model: 'm', input, inputType: 'query' }, { cache });
    await client.embeddings.createMany({ model: 'm', input, inputType: 'document' }, { cache });
    await client.embeddings.createMany({ model: 'm', input, inputType: 'query' }, { cache });
    expect(api.requests.map((request) => request.body.input_type)).toEqual(['query', 'document']);
  });

  test('fields in extraBody are part of the cache key, whatever the order of their keys', async () => {
    const client = clientFor('tei');
    const cache = createMemoryCache();
    const input = numberedTexts(5);
    await client.embeddings.createMany(
      { model: 'm', input },
      { cache, extraBody: { truncate: true, prompt_name: 'q' } },
    );
    await client.embeddings.createMany(
      { model: 'm', input },
      { cache, extraBody: { prompt_name: 'q', truncate: true } },
    );
    await client.embeddings.createMany({ model: 'm', input }, { cache, extraBody: { truncate: false } });
    await client.embeddings.createMany({ model: 'm', input }, { cache });
    // Each body its own vectors; the same body again, in another order, none sent.
    expect(api.requests.map((request) => request.body.truncate)).toEqual([true, false, undefined]);
  });

  test('a cache key without an input type is the one stored caches already hold', () => {
    const scope = { host: 'h', model: 'm', dimensions: 8 };
    expect(cacheKey(scope, 'hello')).toBe(createHash('sha256').update('h\0m\x008\0hello').digest('hex'));
    expect(cacheKey({ ...scope, inputType: 'query' }, 'hello')).not.toBe(cacheKey(scope, 'hello'));
  });
});
