/**
 * Caps learnt from refusals (src/batch/refusal-caps.ts, src/batch/job-errors.ts): the words of
 * real servers, and jobs at the wire against the local server playing TEI, Azure and Mistral.
 */
import { HttpResponse } from 'msw';
import { afterEach, describe, expect, test } from 'vitest';
import { BadRequestError, EmbeddingsClient, UnprocessableEntityError } from '../src/index.js';
import { readStatedCap } from '../src/batch/refusal-caps.js';
import { createServer, localHashEmbedding, type LocalServer, type ServerOptions } from '../src/server/index.js';
import { useBatchApi } from './support/batch-api.js';
import { numberedTexts } from './support/openai-like.js';

describe('readStatedCap reads the cap real servers state', () => {
  test.each([
    // text-embeddings-inference, and gateways in front of it
    ['batch size 60 > maximum allowed batch size 32', 'inputs', 32],
    ['input batch size 473 > maximum allowed batch size 64', 'inputs', 64],
    // Azure OpenAI, older deployments
    [
      'Too many inputs. The max number of inputs is 16.  We hope to increase the number of inputs per request soon.',
      'inputs',
      16,
    ],
    ['Too many inputs for model None. The max number of inputs is 1.', 'inputs', 1],
    // Gemini's OpenAI endpoint
    ['* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n', 'inputs', 100],
    // Cohere
    ['invalid request: total number of texts must be at most 96 - received 100', 'inputs', 96],
    // pydantic validation (FastAPI servers)
    ['List should have at most 512 items after validation, not 600', 'inputs', 512],
    ['`input` must have less than 512 items', 'inputs', 511],
    // OpenAI
    [
      "Invalid 'input': array too long. Expected an array with maximum length 2048, but got an array with length 3000 instead.",
      'inputs',
      2048,
    ],
    // DashScope
    [
      '<400> InternalError.Algo.InvalidParameter: Value error, batch size is invalid, it should not be larger than 10.: input.contents',
      'inputs',
      10,
    ],
    // Voyage, as the local server words it
    ['The max allowed batch size is 1000. Your batch has 1001 inputs. Please lower the batch size.', 'inputs', 1000],
    // token caps of a whole request
    ['Requested 310000 tokens, max 300000 tokens per request', 'tokens', 300_000],
    ['Too many tokens in batch. Max is 16384 got 17555', 'tokens', 16_384],
    [
      "Request to model 'voyage-3-large' failed. The max allowed tokens per submitted batch is 120000. Your batch has 124302 tokens after truncation.",
      'tokens',
      120_000,
    ],
    ['at most 8,192 tokens per request', 'tokens', 8192],
    // the kind without a number: Mistral
    ['Too many inputs in request, split into more batches.', 'inputs', undefined],
    ['Too many tokens overall, split into more batches.', 'tokens', undefined],
  ] as const)('%j: %s, %s', (message, kind, max) => {
    expect(readStatedCap(`POST /embeddings failed with status 400: ${message}`)).toEqual({ kind, max });
  });

  test.each([
    // caps of one input, not of the request: splitting finds the long input instead
    'Input validation error: `inputs` must have less than 512 tokens. Given: 600',
    "This model's maximum context length is 8192 tokens, however you requested 9000 tokens in 'input[3]'.",
    "Invalid 'dimensions': integer above maximum value. Expected a value <= 3072, but got 4000 instead.",
    'Invalid content in input at index 3',
    'Rate limit reached for requests',
    'at most 0 inputs',
  ])('%j states no cap of a request', (message) => {
    expect(readStatedCap(message)).toBeUndefined();
  });
});

const servers: LocalServer[] = [];
const clients: EmbeddingsClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

const DIMENSIONS = 8;
const MODEL = 'local-hash-embedding';

async function serving(options: ServerOptions): Promise<{ server: LocalServer; client: EmbeddingsClient }> {
  const server = createServer({ dimensions: DIMENSIONS, ...options });
  servers.push(server);
  const { url } = await server.listen(0);
  // The azure style takes a bearer token, which an API key is sent as.
  const client = new EmbeddingsClient({ baseURL: url, apiKey: 'test-key' });
  clients.push(client);
  return { server, client };
}

/** Every input has its own vector, in input order. */
function expectEveryVector(data: { index: number; embedding: number[] | Float32Array }[], input: string[]): void {
  expect(data.map((item) => item.index)).toEqual(input.map((_, i) => i));
  // One assertion for the lot: an expect() per float made a 10,000-input check take seconds.
  const wrong = data.filter(({ index, embedding }) => {
    const expected = localHashEmbedding(input[index]!, DIMENSIONS);
    return embedding.length !== DIMENSIONS || expected.some((value, k) => !(Math.abs(embedding[k]! - value) < 1e-6));
  });
  expect(wrong.map((item) => item.index)).toEqual([]);
}

describe('a job learns the cap a refusal states and is refused once', () => {
  test.each([
    ['tei (422, cap 32)', { style: 'tei' }, 32],
    ['azure (400, the old message, cap 16)', { style: 'azure', maxInputsPerRequest: 16 }, 16],
  ] as const)(
    '10,000 inputs against %s: every vector, in order, one refusal',
    async (_name, options, cap) => {
      const { server, client } = await serving(options);
      const input = numberedTexts(10_000);
      const res = await client.embeddings.createMany({ model: MODEL, input });
      expect(res.failures).toEqual([]);
      expectEveryVector(res.data, input);
      expect(server.stats.refused.inputs).toBe(1);
      expect(server.stats.inputs).toBe(10_000);
      expect(server.stats.embeddings).toBe(
        10_000 / cap === Math.floor(10_000 / cap) ? 10_000 / cap : Math.ceil(10_000 / cap),
      );
      // Hundreds of requests through a server in this process: seconds alone, more beside other files.
    },
    60_000,
  );

  test('100 inputs against TEI with default options: 100 vectors, not 100 failures', async () => {
    const { server, client } = await serving({ style: 'tei' });
    const input = numberedTexts(100);
    const res = await client.embeddings.createMany({ model: MODEL, input }, { onFailure: 'collect' });
    expect(res.failures).toEqual([]);
    expectEveryVector(res.data, input);
    expect(server.stats.refused.inputs).toBe(1);
  });

  test("the client's later jobs start at the learnt cap: no second refusal", async () => {
    const { server, client } = await serving({ style: 'tei' });
    await client.embeddings.createMany({ model: MODEL, input: numberedTexts(200, 'first') });
    const input = numberedTexts(300, 'second');
    const res = await client.embeddings.createMany({ model: MODEL, input });
    expectEveryVector(res.data, input);
    const items = [];
    for await (const item of client.embeddings.stream({ model: MODEL, input: numberedTexts(100, 'third') })) {
      items.push(item);
    }
    expect(items).toHaveLength(100);
    expect(server.stats.refused.inputs).toBe(1);
  });

  test("a refusal that names no number halves the cap: Mistral's 512 costs two refusals, not one per request", async () => {
    const { server, client } = await serving({ style: 'mistral' });
    const input = numberedTexts(5_000);
    const res = await client.embeddings.createMany({ model: MODEL, input });
    expectEveryVector(res.data, input);
    // 2048 refused (cap 1024), 1024 refused (cap 512), then every request fits.
    expect(server.stats.refused.inputs).toBe(2);
  });

  test("a token cap is learnt too: Mistral's 16,384 tokens a request, one refusal", async () => {
    const { server, client } = await serving({ style: 'mistral', maxInputsPerRequest: 2048 });
    const input = Array.from({ length: 400 }, (_, i) => `passage ${i}: ${'lorem ipsum dolor sit amet '.repeat(40)}`);
    const res = await client.embeddings.createMany({ model: MODEL, input }, { maxInputsPerRequest: 400 });
    expectEveryVector(res.data, input);
    expect(server.stats.refused.tokens).toBe(1);
    expect(server.stats.refused.inputs).toBe(0);
  });
});

describe('422 at the wire', () => {
  const wire = useBatchApi();
  const model = 'text-embedding-3-small';

  test('a 422 about one input is bisected like a 400, so only that input fails', async () => {
    wire.serve({
      intercept: (request) =>
        request.texts.includes('text number 7')
          ? HttpResponse.json(
              {
                error: 'Input validation error: `inputs` must have less than 512 tokens. Given: 600',
                error_type: 'Validation',
              },
              { status: 422 },
            )
          : undefined,
    });
    const input = numberedTexts(32);
    const res = await wire.client.embeddings.createMany({ model, input }, { onFailure: 'collect' });
    expect(res.failures.map((failure) => failure.index)).toEqual([7]);
    expect(res.failures[0]!.error).toBeInstanceOf(UnprocessableEntityError);
    expect(res.data).toHaveLength(31);
    // 32 → 16 → 8 → 4 → 2 → 1: five splits, two requests each, and the first.
    expect(wire.server.seen.length).toBeLessThanOrEqual(1 + 2 * 5);
  });

  test('a 400 stating a cap the request already met is split as before, and teaches nothing', async () => {
    wire.serve({
      intercept: (request) =>
        request.texts.includes('text number 3')
          ? HttpResponse.json({ error: { message: 'at most 100 inputs, and this one is bad' } }, { status: 400 })
          : undefined,
    });
    const res = await wire.client.embeddings.createMany(
      { model, input: numberedTexts(20) },
      { onFailure: 'collect', maxConcurrency: 1 },
    );
    expect(res.failures.map((failure) => failure.index)).toEqual([3]);
    expect(res.failures[0]!.error).toBeInstanceOf(BadRequestError);
    // The next job still sends all 20 at once.
    wire.server.seen.length = 0;
    await wire.client.embeddings.createMany({ model, input: numberedTexts(20, 'other') });
    expect(wire.server.seen.map((request) => request.texts.length)).toEqual([20]);
  });
});
