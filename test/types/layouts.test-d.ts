// Type tests of the float32-view layout and createMany's matrix. Checked by `tsc` in vitest's
// typecheck mode (and by `npm run typecheck`), never run.
import { describe, expectTypeOf, test } from 'vitest';
import {
  EmbeddingsClient,
  topK,
  type CreateManyMatrixResponse,
  type CreateManyResponse,
  type EmbeddingMatrix,
  type StreamOptions,
  type VectorType,
} from '../../src/index.js';

const model = 'text-embedding-3-small';

describe("vectorType: 'float32-view'", () => {
  test('is a VectorType whose vectors are Float32Array, on the client or per call', async () => {
    expectTypeOf<'float32-view'>().toExtend<VectorType>();
    const views = new EmbeddingsClient({ vectorType: 'float32-view' });
    expectTypeOf(views).toEqualTypeOf<EmbeddingsClient<'float32-view'>>();
    const res = await views.embeddings.create({ model, input: 'a' });
    expectTypeOf(res.data[0]!.embedding).toEqualTypeOf<Float32Array>();
    const perCall = await new EmbeddingsClient().embeddings.create(
      { model, input: 'a' },
      { vectorType: 'float32-view' },
    );
    expectTypeOf(perCall.data[0]!.embedding).toEqualTypeOf<Float32Array>();
    const many = await views.embeddings.createMany({ model, input: ['a'] });
    expectTypeOf(many.data[0]!.embedding).toEqualTypeOf<Float32Array>();
    for await (const item of views.embeddings.stream({ model, input: ['a'] })) {
      expectTypeOf(item.embedding).toEqualTypeOf<Float32Array | undefined>();
    }
  });

  test('base64 asked for stays a string', async () => {
    const views = new EmbeddingsClient({ vectorType: 'float32-view' });
    const res = await views.embeddings.create({ model, input: 'a', encoding_format: 'base64' });
    expectTypeOf(res.data[0]!.embedding).toEqualTypeOf<string>();
  });
});

describe('createMany({ matrix: true })', () => {
  test('resolves with one EmbeddingMatrix that topK takes', async () => {
    const client = new EmbeddingsClient();
    const res = await client.embeddings.createMany({ model, input: ['a', 'b'] }, { matrix: true });
    expectTypeOf(res).toEqualTypeOf<CreateManyMatrixResponse>();
    expectTypeOf(res.matrix).toEqualTypeOf<EmbeddingMatrix>();
    expectTypeOf(res.matrix.data).toEqualTypeOf<Float32Array>();
    expectTypeOf(res).not.toHaveProperty('data');
    expectTypeOf(topK(res.matrix.data.subarray(0, res.matrix.dimensions), res.matrix.data, 1)).toBeArray();
  });

  test('matrix: false or none keeps the per-input shape', async () => {
    const client = new EmbeddingsClient();
    const off = await client.embeddings.createMany({ model, input: ['a'] }, { matrix: false, vectorType: 'float32' });
    expectTypeOf(off).toEqualTypeOf<CreateManyResponse<Float32Array>>();
  });

  test('stream() has no matrix option', () => {
    expectTypeOf<StreamOptions>().not.toHaveProperty('matrix');
  });
});
