// Type tests of presets, inputType and extraBody: checked by `tsc` in vitest's typecheck mode, never run.
import { describe, expectTypeOf, test } from 'vitest';
import {
  EmbeddingsClient,
  PRESETS,
  type ClientOptions,
  type CreateManyOptions,
  type InputType,
  type Preset,
  type PresetName,
  type RequestOptions,
  type StreamParams,
} from '../../src/index.js';

const model = 'voyage-3';

describe('presets', () => {
  test('preset takes the known names only', () => {
    expectTypeOf<{ preset: 'voyage' }>().toExtend<ClientOptions>();
    expectTypeOf<{ preset: 'voyag' }>().not.toExtend<ClientOptions>();
    expectTypeOf(PRESETS.tei).toEqualTypeOf<Preset>();
    expectTypeOf<keyof typeof PRESETS>().toEqualTypeOf<PresetName>();
  });

  test('PRESETS cannot be written to', () => {
    // @ts-expect-error: the table is read-only
    PRESETS.tei = PRESETS.openai;
    // @ts-expect-error: so are its rows
    PRESETS.tei.maxInputsPerRequest = 64;
  });
});

describe('inputType', () => {
  test("is 'query' or 'document' on create(), createMany() and stream()", async () => {
    const client = new EmbeddingsClient({ preset: 'voyage', apiKey: 'k' });
    expectTypeOf<InputType>().toEqualTypeOf<'query' | 'document'>();
    await client.embeddings.create({ model, input: 'a', inputType: 'query' });
    await client.embeddings.createMany({ model, input: ['a'], inputType: 'document' });
    expectTypeOf<{ model: string; input: string[]; inputType: 'query' }>().toExtend<StreamParams>();
    // @ts-expect-error: a provider's own word is not the portable one
    await client.embeddings.create({ model, input: 'a', inputType: 'search_query' });
  });
});

describe('extraBody', () => {
  test('is an object of any fields on the client, a call and a batch', () => {
    expectTypeOf<ClientOptions['extraBody']>().toEqualTypeOf<Record<string, unknown> | undefined>();
    expectTypeOf<RequestOptions['extraBody']>().toEqualTypeOf<Record<string, unknown> | undefined>();
    expectTypeOf<CreateManyOptions['extraBody']>().toEqualTypeOf<Record<string, unknown> | undefined>();
    expectTypeOf<{ extraBody: { truncate: 'END'; output_dtype: 'int8' } }>().toExtend<RequestOptions>();
    expectTypeOf<{ extraBody: string }>().not.toExtend<RequestOptions>();
  });

  test('provider fields outside extraBody stay misspellings', async () => {
    const client = new EmbeddingsClient({ preset: 'voyage', apiKey: 'k' });
    // @ts-expect-error: input_type is not a param; use inputType, or extraBody to opt in knowingly
    await client.embeddings.create({ model, input: 'a', input_type: 'query' });
  });
});
