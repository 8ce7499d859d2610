/**
 * Presets, pass-through fields and input types, at the wire: what each preset's server receives
 * for query and document, dimensions and encoding_format; extraBody as given; the preset's caps
 * and tokenizer in createMany(); its baseURL and key variables; usage as servers send it.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { EmbeddingsClient, ResponseValidationError } from '../src/index.js';
import { useFakeApi } from './support/fake-api.js';
import { jsonHandler, openAILike, vectorFor } from './support/openai-like.js';

const api = useFakeApi(...openAILike().handlers);
const clients: EmbeddingsClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

function clientFor(): EmbeddingsClient {
  const client = new EmbeddingsClient({ baseURL: api.url, apiKey: 'k', maxRetries: 0 });
  clients.push(client);
  return client;
}

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
    const res = await clientFor().embeddings.create({ model: 'voyage-3', input: ['a'] });
    expect(res.usage).toEqual(expected);
  });

  test('every check on the vectors stays: one vector short is still refused', async () => {
    api.use(answer({ total_tokens: 7 }));
    const create = clientFor().embeddings.create({ model: 'voyage-3', input: ['a', 'b'] });
    await expect(create).rejects.toThrow(ResponseValidationError);
    await expect(create).rejects.toThrow('expected 2 embeddings, got 1');
  });
});
