/**
 * Property tests for the batch engine at the wire: for random corpora, random failing
 * inputs, random transient server errors and random limits and concurrency, every input
 * ends exactly once as its own vector or as a failure, order is kept, and no request the
 * server saw exceeds a limit.
 */
import fc from 'fast-check';
import { HttpResponse } from 'msw';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BadRequestError, EmbeddingsClient, InternalServerError, type StreamItem } from '../src/index.js';
import { prepareText } from '../src/batch/planner.js';
import { cl100kTokenizer } from '../src/tokenizer.js';
import { startFakeApi, type FakeApi } from './support/fake-api.js';
import { expectedVector, openAILike } from './support/openai-like.js';

const model = 'text-embedding-3-small';
let api: FakeApi;
let client: EmbeddingsClient;
beforeAll(async () => {
  api = await startFakeApi();
  client = new EmbeddingsClient({ baseURL: api.url, maxConcurrency: 8, maxRetries: 1 });
});
afterAll(async () => {
  await client.close();
  await api.close();
});

const scenario = fc.record({
  corpus: fc.array(
    fc.oneof(
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }),
      fc.constantFrom('repeated text', 'another repeat', 'bad one'),
    ),
    { minLength: 1, maxLength: 120 },
  ),
  failing: fc.uniqueArray(fc.nat(), { maxLength: 4 }),
  flakyEvery: fc.option(fc.integer({ min: 2, max: 7 }), { nil: undefined }),
  maxConcurrency: fc.integer({ min: 1, max: 6 }),
  maxInputsPerRequest: fc.integer({ min: 1, max: 40 }),
  maxTokensPerRequest: fc.integer({ min: 30, max: 400 }),
  maxTokensPerInput: fc.integer({ min: 4, max: 30 }),
  dedupe: fc.boolean(),
  ordered: fc.boolean(),
});
type Scenario = typeof scenario extends fc.Arbitrary<infer T> ? T : never;

/** Serves one scenario and returns what to expect of it. */
function setUp(s: Scenario) {
  api.reset();
  const rules = { tokenizer: cl100kTokenizer, maxTokensPerInput: s.maxTokensPerInput, truncate: true };
  const sent = s.corpus.map((text, i) => prepareText(text, `input[${i}]`, rules).text);
  const failingTexts = new Set(
    s.failing.map((k) => sent[k % sent.length]!).concat(sent.filter((t) => t === 'bad one')),
  );
  let requestNumber = 0;
  const server = openAILike({
    failText: (text) => failingTexts.has(text),
    intercept: () =>
      s.flakyEvery !== undefined && ++requestNumber % s.flakyEvery === 0
        ? HttpResponse.json({ error: { message: 'flaky' } }, { status: 500, headers: { 'retry-after-ms': '0' } })
        : undefined,
  });
  api.use(...server.handlers);
  const options = {
    maxConcurrency: s.maxConcurrency,
    maxInputsPerRequest: s.maxInputsPerRequest,
    maxTokensPerRequest: s.maxTokensPerRequest,
    maxTokensPerInput: s.maxTokensPerInput,
    truncate: true,
    dedupe: s.dedupe,
    onFailure: 'collect' as const,
  };
  return { sent, failingTexts, server, options };
}

/** The shared invariants, for createMany's data + failures or stream's items. */
function check(
  s: Scenario,
  { sent, failingTexts, server }: ReturnType<typeof setUp>,
  vectors: { index: number; embedding: number[] | Float32Array }[],
  failures: { index: number; error: Error }[],
  wholeJobDedupe: boolean,
) {
  const seen = [...vectors.map((v) => v.index), ...failures.map((f) => f.index)].sort((a, b) => a - b);
  expect(seen).toEqual(sent.map((_, i) => i));
  for (const { index, embedding } of vectors) {
    expect(failingTexts.has(sent[index]!)).toBe(false);
    const expected = expectedVector(sent[index]!);
    expect(expected.every((x, k) => Math.abs(x - embedding[k]!) <= 1e-6)).toBe(true);
  }
  const failed = new Set(failures.map((f) => f.index));
  for (const { index, error } of failures) {
    // A bad input fails with the server's 400, unless a transient 500 outlasted its retries first.
    if (failingTexts.has(sent[index]!)) expect([BadRequestError, InternalServerError]).toContain(error.constructor);
    else expect(error).toBeInstanceOf(InternalServerError);
  }
  // Bisection isolates bad inputs: with no transient errors, exactly the bad inputs fail.
  if (s.flakyEvery === undefined) expect([...failed].every((i) => failingTexts.has(sent[i]!))).toBe(true);
  sent.forEach((text, i) => {
    if (failingTexts.has(text)) expect(failed.has(i)).toBe(true);
  });
  expect(api.maxInFlight).toBeLessThanOrEqual(s.maxConcurrency);
  for (const request of server.seen) {
    expect(request.texts.length).toBeLessThanOrEqual(s.maxInputsPerRequest);
    expect(request.tokens).toBeLessThanOrEqual(Math.max(s.maxTokensPerRequest, s.maxTokensPerInput));
    for (const text of request.texts) expect(cl100kTokenizer.count(text)).toBeLessThanOrEqual(s.maxTokensPerInput);
    if (s.dedupe) expect(new Set(request.texts).size).toBe(request.texts.length);
  }
  if (wholeJobDedupe && s.dedupe && s.flakyEvery === undefined) {
    // createMany sees its whole input first: successful requests carry each distinct text once.
    const ok = server.seen.filter((r) => r.status === 200).flatMap((r) => r.texts);
    expect(new Set(ok).size).toBe(ok.length);
  }
}

describe('batch invariants', () => {
  test('createMany: every input exactly once in data or failures, data in input order, no request over a limit', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const setup = setUp(s);
        const res = await client.embeddings.createMany({ model, input: s.corpus }, setup.options);
        const indexes = res.data.map((d) => d.index);
        expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
        check(s, setup, res.data, res.failures, true);
        expect(res.failures.map((f) => f.index)).toEqual(res.failures.map((f) => f.index).sort((a, b) => a - b));
      }),
      { numRuns: 40 },
    );
  }, 120_000);

  test('stream: every input exactly once as a vector or a failure item, in input order when ordered', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const setup = setUp(s);
        async function* source() {
          for (const text of s.corpus) yield text;
        }
        const items: StreamItem<number[] | Float32Array>[] = [];
        for await (const item of client.embeddings.stream(
          { model, input: source() },
          { ...setup.options, ordered: s.ordered },
        )) {
          items.push(item);
        }
        if (s.ordered) expect(items.map((item) => item.index)).toEqual(s.corpus.map((_, i) => i));
        const vectors = items.flatMap((item) =>
          item.embedding ? [{ index: item.index, embedding: item.embedding }] : [],
        );
        const failures = items.flatMap((item) => (item.error ? [{ index: item.index, error: item.error }] : []));
        // stream() merges duplicates only among inputs not yet answered, so texts may repeat across requests.
        check(s, setup, vectors, failures, false);
      }),
      { numRuns: 40 },
    );
  }, 120_000);
});
