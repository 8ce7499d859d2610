/** The vector layouts at the wire: float32 rows own their memory, float32-view rows share one buffer per answer, createMany's matrix. */
import { describe, expect, test } from 'vitest';
import {
  InvalidArgumentError,
  ResponseValidationError,
  topK,
  type EmbeddingCache,
  type StreamOptions,
} from '../src/index.js';
import { useBatchApi } from './support/batch-api.js';
import { expectedVector, numberedTexts, vectorFor } from './support/openai-like.js';

const model = 'text-embedding-3-small';
const wire = useBatchApi();

const owns = (vector: Float32Array) => vector.byteOffset === 0 && vector.buffer.byteLength === vector.byteLength;

describe('vector layouts', () => {
  test("create() with 'float32-view': every row a view into one buffer for the answer, the same values", async () => {
    wire.serve();
    const input = numberedTexts(5);
    const res = await wire.client.embeddings.create({ model, input }, { vectorType: 'float32-view' });
    const rows = res.data.map((item) => item.embedding);
    expect(new Set(rows.map((row) => row.buffer)).size).toBe(1);
    rows.forEach((row, i) => {
      expect(row.byteOffset).toBe(i * 8 * 4);
      expect(Array.from(row)).toEqual(Array.from(Float32Array.from(expectedVector(input[i]!))));
    });
  });

  test.each(['createMany', 'stream'] as const)(
    "%s with 'float32': each vector owns its buffer; with 'float32-view' answers share theirs",
    async (method) => {
      wire.serve();
      const input = numberedTexts(3000);
      const run = async (vectorType: 'float32' | 'float32-view') => {
        if (method === 'createMany') {
          const res = await wire.client.embeddings.createMany({ model, input }, { vectorType });
          return res.data.map((item) => item.embedding);
        }
        const out: Float32Array[] = [];
        for await (const item of wire.client.embeddings.stream({ model, input }, { vectorType, ordered: true })) {
          out.push(item.embedding!);
        }
        return out;
      };
      const owned = await run('float32');
      expect(owned.every(owns)).toBe(true);
      const views = await run('float32-view');
      // Two requests (2,048 and 952 inputs): two buffers.
      expect(new Set(views.map((row) => row.buffer)).size).toBe(2);
      expect(views).toEqual(owned);
      owned.forEach((row, i) =>
        expect(Array.from(row)).toEqual(Array.from(Float32Array.from(expectedVector(input[i]!)))),
      );
    },
  );

  test('createMany({ matrix: true }): one Float32Array, row i the vector of input i, duplicates included, ready for topK', async () => {
    wire.serve();
    const input = numberedTexts(5000);
    input[4999] = input[7]!;
    const res = await wire.client.embeddings.createMany({ model, input }, { matrix: true });
    expect(res.object).toBe('matrix');
    expect(res).not.toHaveProperty('data');
    const { data, rows, dimensions } = res.matrix;
    expect([rows, dimensions, data.length]).toEqual([5000, 8, 40_000]);
    expect(wire.server.seen.map((r) => r.texts.length).sort((a, b) => b - a)).toEqual([2048, 2048, 903]);
    for (let i = 0; i < rows; i++) {
      expect(Array.from(data.subarray(i * 8, (i + 1) * 8))).toEqual(
        Array.from(Float32Array.from(expectedVector(input[i]!))),
      );
    }
    expect(topK(data.subarray(42 * 8, 43 * 8), data, 1)).toEqual([{ index: 42, score: expect.closeTo(1, 6) }]);
    expect(res.failures).toEqual([]);
    expect(res.usage.prompt_tokens).toBeGreaterThan(0);
  });

  test("matrix under onFailure: 'collect': a failed input's row stays zeros and is named in failures", async () => {
    wire.serve({ failText: (text) => text === 'text 2' });
    const input = ['text 0', 'text 1', 'text 2', 'text 3'];
    const res = await wire.client.embeddings.createMany({ model, input }, { matrix: true, onFailure: 'collect' });
    expect(res.failures.map((f) => f.index)).toEqual([2]);
    expect(Array.from(res.matrix.data.subarray(16, 24))).toEqual(new Array(8).fill(0));
    expect(Array.from(res.matrix.data.subarray(24, 32))).toEqual(
      Array.from(Float32Array.from(expectedVector('text 3'))),
    );
  });

  test('matrix: answers in any order land in the rows of their inputs, duplicates and the cache included', async () => {
    wire.serve({ shuffle: true });
    const input = numberedTexts(300);
    // A duplicate of an input of the fourth request, which goes once the row length is known:
    // its first copy is decoded straight into the matrix, and the duplicate's row copied from it.
    input[299] = input[200]!;
    const check = (data: Float32Array) => {
      for (let i = 0; i < input.length; i++) {
        expect(Array.from(data.subarray(i * 8, (i + 1) * 8))).toEqual(
          Array.from(Float32Array.from(expectedVector(input[i]!))),
        );
      }
    };
    const res = await wire.client.embeddings.createMany(
      { model, input },
      { matrix: true, maxInputsPerRequest: 64, maxConcurrency: 3 },
    );
    check(res.matrix.data);
    // With a cache, rows come from vectors of their own, copied in. A cache of one's own may keep
    // the very vectors it is given (this one does): they must not be rows of the first matrix,
    // which is overwritten before the second call reads them back.
    const kept = new Map<string, Float32Array>();
    const cache: EmbeddingCache = {
      get: async (keys) => keys.map((key) => kept.get(key)),
      set: async (entries) => {
        for (const [key, vector] of entries) kept.set(key, vector);
      },
    };
    const options = { matrix: true, cache, maxInputsPerRequest: 64, maxConcurrency: 1 } as const;
    const first = await wire.client.embeddings.createMany({ model, input }, options);
    check(first.matrix.data);
    first.matrix.data.fill(0);
    const again = await wire.client.embeddings.createMany({ model, input }, options);
    check(again.matrix.data);
    expect(wire.server.seen.length).toBe(5 + 5);
  });

  test('matrix: the rows of an answer that failed after part of it was read stay zeros', async () => {
    const body = (texts: string[]) =>
      JSON.stringify({
        object: 'list',
        data: texts.map((text, index) => ({
          object: 'embedding',
          index,
          embedding: Buffer.from(vectorFor(text).buffer).toString('base64'),
        })),
        model,
        usage: { prompt_tokens: texts.length, total_tokens: texts.length },
      });
    wire.serve({
      // The second answer stops after about three of its five vectors: read so far, then not JSON.
      intercept: (request, all) =>
        request === all[1]
          ? new Response(body(request.texts).slice(0, Math.floor(body(request.texts).length * 0.7)), {
              headers: { 'content-type': 'application/json' },
            })
          : undefined,
    });
    const input = numberedTexts(10);
    const res = await wire.client.embeddings.createMany(
      { model, input },
      { matrix: true, onFailure: 'collect', maxInputsPerRequest: 5, maxConcurrency: 1, maxRetries: 0 },
    );
    const failed = res.failures.map((f) => f.index);
    expect(failed).toEqual([5, 6, 7, 8, 9]);
    expect(res.failures[0]!.error).toBeInstanceOf(ResponseValidationError);
    expect(Array.from(res.matrix.data.subarray(5 * 8))).toEqual(new Array(5 * 8).fill(0));
    for (let i = 0; i < 5; i++) {
      expect(Array.from(res.matrix.data.subarray(i * 8, (i + 1) * 8))).toEqual(
        Array.from(Float32Array.from(expectedVector(input[i]!))),
      );
    }
  });

  test('matrix: a row decoded into the matrix, then read the full way at another length, is zeroed and reported', async () => {
    const base64 = (vector: Float32Array) => Buffer.from(vector.buffer).toString('base64');
    wire.serve({
      // Each item of the second answer names `embedding` twice: the reader decodes the first
      // item's first (of the matrix's length) into its row, then gives up at the second, and
      // JSON.parse keeps the second of each, one float longer.
      intercept: (request, all) => {
        if (request !== all[1]) return undefined;
        const longer = base64(new Float32Array(9).fill(1 / 3));
        const items = request.texts.map(
          (text, index) =>
            `{"object":"embedding","index":${index},"embedding":"${base64(vectorFor(text))}","embedding":"${longer}"}`,
        );
        const usage = { prompt_tokens: items.length, total_tokens: items.length };
        return new Response(
          `{"object":"list","data":[${items.join(',')}],"model":"${model}","usage":${JSON.stringify(usage)}}`,
          { headers: { 'content-type': 'application/json' } },
        );
      },
    });
    const input = numberedTexts(6);
    const res = await wire.client.embeddings.createMany(
      { model, input },
      { matrix: true, onFailure: 'collect', maxInputsPerRequest: 3, maxConcurrency: 1, maxRetries: 0 },
    );
    expect(wire.server.seen.length).toBe(2);
    expect(res.failures.map((f) => f.index)).toEqual([3, 4, 5]);
    for (const failure of res.failures) {
      expect(failure.error).toBeInstanceOf(ResponseValidationError);
      expect(failure.error.message).toContain(`input[${failure.index}] got 9 dimensions, the matrix has 8`);
    }
    expect(Array.from(res.matrix.data.subarray(3 * 8))).toEqual(new Array(3 * 8).fill(0));
    for (let i = 0; i < 3; i++) {
      expect(Array.from(res.matrix.data.subarray(i * 8, (i + 1) * 8))).toEqual(
        Array.from(Float32Array.from(expectedVector(input[i]!))),
      );
    }
  });

  test('matrix must be a boolean, and stream() has none; both refused before any request', async () => {
    wire.serve();
    await expect(
      wire.client.embeddings.createMany({ model, input: ['a'] }, { matrix: 'yes' as unknown as boolean }),
    ).rejects.toThrow(new InvalidArgumentError('Invalid batch options: `matrix` must be a boolean (got "yes")'));
    const stream = wire.client.embeddings.stream({ model, input: ['a'] }, { matrix: true } as unknown as StreamOptions);
    await expect(stream.next()).rejects.toThrow(InvalidArgumentError);
    expect(wire.server.seen).toHaveLength(0);
  });
});
