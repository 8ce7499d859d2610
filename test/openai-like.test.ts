/**
 * The fake backend the client's tests lean on: were one of its options a no-op, the tests
 * using it (answers out of order, servers that ignore encoding_format) would pass without
 * checking anything.
 */
import { describe, expect, test } from 'vitest';
import { useFakeApi } from './support/fake-api.js';
import { OPENAI_LIMITS, openAILike, vectorFor, type OpenAILikeOptions } from './support/openai-like.js';

const api = useFakeApi();

async function post(body: object, options: OpenAILikeOptions = {}) {
  const server = openAILike(options);
  api.use(...server.handlers);
  const res = await fetch(`${api.url}/embeddings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any, seen: server.seen };
}

const base64Of = (vector: Float32Array) => Buffer.from(vector.buffer).toString('base64');

describe('openAILike()', () => {
  test.each([
    [undefined, 'float', 'float'],
    [undefined, 'base64', 'base64'],
    [undefined, undefined, 'float'],
    ['float', 'base64', 'float'],
    ['base64', 'float', 'base64'],
  ] as const)(
    'format %s with encoding_format %s answers %s, each vector derived from its own text',
    async (format, encoding, answered) => {
      const { status, body } = await post(
        { model: 'm', input: ['alpha', 'beta'], encoding_format: encoding, dimensions: 4 },
        { format },
      );
      expect(status).toBe(200);
      const expected = ['alpha', 'beta'].map((text) => vectorFor(text, 4));
      expect(body.data.map((d: { embedding: unknown }) => d.embedding)).toEqual(
        expected.map((vector) => (answered === 'base64' ? base64Of(vector) : Array.from(vector))),
      );
    },
  );

  test('shuffle answers data in reverse order with each index kept on its vector', async () => {
    const { body } = await post({ model: 'm', input: ['a', 'b', 'c'] }, { shuffle: true });
    expect(body.data.map((d: { index: number }) => d.index)).toEqual([2, 1, 0]);
    expect(body.data[0].embedding).toEqual(Array.from(vectorFor('c')));
  });

  test('rateLimit: two requests a minute pass, the third gets 429 with OpenAI headers', async () => {
    const server = openAILike({ rateLimit: { requestsPerMinute: 2, tokensPerMinute: 1_000_000 } });
    api.use(...server.handlers);
    const send = () =>
      fetch(`${api.url}/embeddings`, { method: 'POST', body: JSON.stringify({ model: 'm', input: 'a' }) });
    expect((await send()).status).toBe(200);
    expect((await send()).status).toBe(200);
    const refused = await send();
    expect(refused.status).toBe(429);
    expect(refused.headers.get('x-ratelimit-limit-requests')).toBe('2');
  });

  test("limits: the server's own emulation in Azure's style, remaining-only headers and retry-after-ms on a 429", async () => {
    const server = openAILike({ limits: { rpm: 60, tpm: undefined, burstSeconds: 1, headerStyle: 'azure' } });
    api.use(...server.handlers);
    const send = () =>
      fetch(`${api.url}/embeddings`, { method: 'POST', body: JSON.stringify({ model: 'm', input: 'a' }) });
    const first = await send();
    expect(first.status).toBe(200);
    expect(first.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(first.headers.get('x-ratelimit-limit-requests')).toBeNull();
    const refused = await send();
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after-ms'))).toBeGreaterThan(0);
  });

  test('a token array is one input and a list of them one input each, counted by their length', async () => {
    const single = await post({ model: 'm', input: [5, 6, 7] });
    expect(single.body.data).toHaveLength(1);
    expect(single.body.usage).toEqual({ prompt_tokens: 3, total_tokens: 3 });
    const many = await post({ model: 'm', input: [[1, 2], [3]] });
    expect(many.body.data).toHaveLength(2);
    expect(many.seen[0]).toMatchObject({ texts: ['1,2', '3'], tokens: 3 });
  });

  test.each([
    ['an empty string', { model: 'm', input: ['a', ''] }, {}],
    ['an empty token array', { model: 'm', input: [[]] }, {}],
    ['no model', { input: 'a' }, {}],
    [
      `${OPENAI_LIMITS.maxInputs + 1} inputs`,
      { model: 'm', input: Array.from({ length: OPENAI_LIMITS.maxInputs + 1 }, () => 'a') },
      {},
    ],
    ['a text failText picks', { model: 'm', input: ['fine', 'bad'] }, { failText: (text: string) => text === 'bad' }],
  ])('answers 400 with an OpenAI error body for %s', async (_name, request, options) => {
    const { status, body } = await post(request, options);
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ type: expect.any(String), message: expect.any(String) });
  });
});
