/**
 * Each preset against the local server playing its provider (`createServer({ style })`): a job of
 * 5,000 inputs with default options gets every vector right and no request refused, because the
 * preset already knows the provider's caps, field names and formats. The jobs ask for document
 * vectors, so a field a provider does not know would be refused by the strict ones (OpenAI,
 * Azure, Gemini, Mistral) and counted by every one.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { EmbeddingsClient, normalize, PRESETS, type PresetName } from '../src/index.js';
import { createServer, localHashEmbedding, SERVER_DEFAULTS, type LocalServer } from '../src/server/index.js';

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((item) => item.close()));
});

async function serve(style: PresetName): Promise<LocalServer> {
  const server = createServer({ style });
  opened.push(server);
  await server.listen(0);
  return server;
}

const input = Array.from({ length: 5000 }, (_, i) => `document ${i} about ${i % 7 === 0 ? 'apples' : 'pears'}`);

/** Indexes whose vector is not the local server's vector of their own text. */
function wrongVectors(data: { index: number; embedding: number[] }[]): number[] {
  return data
    .filter(({ index, embedding }) => {
      const expected = normalize(Array.from(localHashEmbedding(input[index]!, SERVER_DEFAULTS.dimensions)));
      return embedding.length !== expected.length || expected.some((x, k) => Math.abs(x - embedding[k]!) > 1e-6);
    })
    .map(({ index }) => index);
}

/** The field each preset sends the input type in, which the server counts as it reads it. */
const inputTypeField = (preset: PresetName) => PRESETS[preset].inputType?.field;

describe('createMany() of 5,000 inputs against the local server playing each preset', () => {
  test.each(Object.keys(PRESETS) as PresetName[])('%s: every vector right, nothing refused', async (preset) => {
    const server = await serve(preset);
    const client = new EmbeddingsClient({ preset, baseURL: server.url, apiKey: 'test-key' });
    opened.push(client);
    const res = await client.embeddings.createMany({
      model: SERVER_DEFAULTS.model,
      input,
      inputType: 'document',
    });

    expect(res.data).toHaveLength(input.length);
    expect(res.failures).toEqual([]);
    expect(wrongVectors(res.data)).toEqual([]);
    expect(server.stats.refused).toEqual({ inputs: 0, tokens: 0, field: 0, deployment: 0, auth: 0 });
    // Requests as full as the preset's cap allows: no more of them than the cap makes necessary.
    expect(server.stats.embeddings).toBe(Math.ceil(input.length / PRESETS[preset].maxInputsPerRequest));
    const field = inputTypeField(preset);
    expect(server.stats.fields).toEqual({
      ...(PRESETS[preset].base64 ? { encoding_format: server.stats.embeddings } : {}),
      ...(field === undefined ? {} : { [field]: server.stats.embeddings }),
    });
  });
});
