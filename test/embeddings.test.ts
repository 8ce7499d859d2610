import { readFileSync } from 'node:fs';
import { http, HttpResponse } from 'msw';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { EmbeddingsClient, InvalidArgumentError, ResponseValidationError } from '../src/index.js';
import { encodeFloat32Base64 } from '../src/decode.js';
import { useFakeApi } from './support/fake-api.js';
import { jsonHandler, openAILike, vectorFor } from './support/openai-like.js';
import { norm } from './support/vector-math.js';

const api = useFakeApi(...openAILike().handlers);
let client: EmbeddingsClient;
beforeAll(() => {
  client = new EmbeddingsClient({ baseURL: api.url, maxRetries: 0 });
});
afterAll(() => client.close());

const raw = { normalize: false } as const;
const recorded = (name: string) => readFileSync(new URL(`./fixtures/openai-recorded/${name}`, import.meta.url), 'utf8');

describe('wire format', () => {
  test('asks for base64 when the caller sets no encoding_format, and decodes it to the exact floats', async () => {
    const res = await client.embeddings.create({ model: 'm', input: ['alpha', 'beta'] }, raw);
    expect(api.requests).toHaveLength(1);
    expect(api.requests[0]!.body).toEqual({ model: 'm', input: ['alpha', 'beta'], encoding_format: 'base64' });
    expect(res.data.map((d) => d.embedding)).toEqual([Array.from(vectorFor('alpha')), Array.from(vectorFor('beta'))]);
    expect(res).toMatchObject({ object: 'list', model: 'm', usage: { prompt_tokens: 2, total_tokens: 2 } });
  });

  test('takes the floats when a server ignores encoding_format (never dims/4 garbage)', async () => {
    api.use(...openAILike({ format: 'float' }).handlers);
    const res = await client.embeddings.create({ model: 'm', input: 'alpha', dimensions: 12 }, raw);
    expect(api.requests[0]!.body.encoding_format).toBe('base64');
    expect(res.data[0]!.embedding).toHaveLength(12);
    expect(res.data[0]!.embedding).toEqual(Array.from(vectorFor('alpha', 12)));
  });

  test("decodes OpenAI's recorded base64 answer to its recorded float answer", async () => {
    api.use(
      http.post(
        '*/embeddings',
        () =>
          new HttpResponse(recorded('embeddings-base64-response.json'), {
            headers: { 'content-type': 'application/json' },
          }),
      ),
    );
    const floats = JSON.parse(recorded('embeddings-float-response.json')).data[0].embedding as number[];
    const res = await client.embeddings.create({ model: 'text-embedding-3-large', input: 'h', dimensions: 256 }, raw);
    res.data[0]!.embedding.forEach((x, i) => expect(Math.abs(x - floats[i]!)).toBeLessThan(5e-9));
  });

  test('returns base64 strings untouched when the caller asks for base64', async () => {
    const res = await client.embeddings.create({ model: 'm', input: ['alpha'], encoding_format: 'base64' });
    expect(api.requests[0]!.body.encoding_format).toBe('base64');
    expect(res.data[0]!.embedding).toBe(encodeFloat32Base64(vectorFor('alpha')));
  });

  test('encodes a float answer to base64 when the caller asked for base64 and the server ignored it', async () => {
    api.use(...openAILike({ format: 'float' }).handlers);
    const res = await client.embeddings.create({ model: 'm', input: 'alpha', encoding_format: 'base64' });
    expect(res.data[0]!.embedding).toBe(encodeFloat32Base64(vectorFor('alpha')));
  });

  test("requests floats when the caller asks for 'float'", async () => {
    const res = await client.embeddings.create({ model: 'm', input: 'alpha', encoding_format: 'float' }, raw);
    expect(api.requests[0]!.body.encoding_format).toBe('float');
    expect(res.data[0]!.embedding).toEqual(Array.from(vectorFor('alpha')));
  });

  test('sends token arrays as given and expects one vector per token array', async () => {
    const res = await client.embeddings.create({ model: 'm', input: [[1, 2], [3]] }, raw);
    expect(api.requests[0]!.body.input).toEqual([[1, 2], [3]]);
    expect(res.data).toHaveLength(2);
    const single = await client.embeddings.create({ model: 'm', input: [5, 6, 7] }, raw);
    expect(single.data).toHaveLength(1);
  });

  test('returns data sorted by index when the server answers out of order', async () => {
    api.use(...openAILike({ shuffle: true }).handlers);
    const res = await client.embeddings.create({ model: 'm', input: ['a', 'b', 'c'] }, raw);
    expect(res.data.map((d) => d.index)).toEqual([0, 1, 2]);
    expect(res.data[2]!.embedding).toEqual(Array.from(vectorFor('c')));
  });
});

describe('normalisation and vector type', () => {
  test('normalises every vector to L2 norm 1 by default', async () => {
    const res = await client.embeddings.create({ model: 'm', input: ['alpha', 'beta', 'gamma'] });
    for (const { embedding } of res.data) expect(Math.abs(norm(embedding) - 1)).toBeLessThan(1e-6);
  });

  test('normalize: false on the client returns raw vectors; a call can turn it back on', async () => {
    const rawClient = new EmbeddingsClient({ baseURL: api.url, normalize: false });
    const res = await rawClient.embeddings.create({ model: 'm', input: 'alpha' });
    expect(res.data[0]!.embedding).toEqual(Array.from(vectorFor('alpha')));
    const perCall = await rawClient.embeddings.create({ model: 'm', input: 'alpha' }, { normalize: true });
    expect(Math.abs(norm(perCall.data[0]!.embedding) - 1)).toBeLessThan(1e-6);
    await rawClient.close();
  });

  test('leaves a zero vector zero, never NaN', async () => {
    api.use(
      jsonHandler({
        object: 'list',
        model: 'm',
        data: [{ object: 'embedding', index: 0, embedding: encodeFloat32Base64(new Float32Array(4)) }],
      }),
    );
    const res = await client.embeddings.create({ model: 'm', input: 'x' });
    expect(res.data[0]!.embedding).toEqual([0, 0, 0, 0]);
  });

  test("returns Float32Array for vectorType 'float32', per call over the client's setting", async () => {
    const res = await client.embeddings.create(
      { model: 'm', input: 'alpha' },
      { vectorType: 'float32', normalize: false },
    );
    expect(res.data[0]!.embedding).toBeInstanceOf(Float32Array);
    expect(res.data[0]!.embedding).toEqual(vectorFor('alpha'));
    const f32 = new EmbeddingsClient({ baseURL: api.url, vectorType: 'float32' });
    const fromClient = await f32.embeddings.create({ model: 'm', input: 'alpha' });
    expect(fromClient.data[0]!.embedding).toBeInstanceOf(Float32Array);
    expect(Math.abs(norm(fromClient.data[0]!.embedding) - 1)).toBeLessThan(1e-6);
    const perCall = await f32.embeddings.create({ model: 'm', input: 'alpha' }, { vectorType: 'array' });
    expect(Array.isArray(perCall.data[0]!.embedding)).toBe(true);
  });

  test('converts a float answer to Float32Array too', async () => {
    api.use(...openAILike({ format: 'float' }).handlers);
    const res = await client.embeddings.create(
      { model: 'm', input: 'alpha' },
      { vectorType: 'float32', normalize: false },
    );
    expect(res.data[0]!.embedding).toEqual(vectorFor('alpha'));
  });
});

describe('response validation', () => {
  const item = (index: number, embedding: unknown) => ({ object: 'embedding', index, embedding });
  const list = (...data: unknown[]) => ({
    object: 'list',
    model: 'm',
    data,
    usage: { prompt_tokens: 1, total_tokens: 1 },
  });
  const b64 = (...values: number[]) => encodeFloat32Base64(Float32Array.from(values));

  test.each([
    ['too few embeddings', list(item(0, b64(1, 2))), 'expected 2 embeddings, got 1'],
    ['too many embeddings', list(item(0, b64(1)), item(1, b64(1)), item(2, b64(1))), 'expected 2 embeddings, got 3'],
    ['a duplicate index', list(item(0, b64(1, 2)), item(0, b64(1, 2))), 'expected indexes 0..1, got 0,0'],
    ['an index out of range', list(item(0, b64(1, 2)), item(2, b64(1, 2))), 'expected indexes 0..1, got 0,2'],
    [
      'vectors of different lengths',
      list(item(0, b64(1, 2)), item(1, b64(1, 2, 3))),
      'data[1].embedding has 3 dimensions, expected 2',
    ],
    [
      'a byte length that is not a multiple of 4',
      list(item(0, b64(1)), item(1, Buffer.alloc(6).toString('base64'))),
      'data[1].embedding: base64 vector has 6 bytes, not a multiple of 4',
    ],
    [
      'a non-number in a float vector',
      list(item(0, [1, 2]), item(1, [1, 'x'])),
      'data[1].embedding[1] is not a finite number ("x")',
    ],
    ['an empty vector', list(item(0, []), item(1, [])), 'data[0].embedding is empty'],
    [
      'NaN spelt in base64 bytes',
      list(item(0, b64(1, 2)), item(1, b64(1, Number.NaN))),
      'data[1].embedding[1] is not a finite number (NaN)',
    ],
    [
      'Infinity spelt in base64 bytes',
      list(item(0, b64(Infinity, 2)), item(1, b64(1, 2))),
      'data[0].embedding[0] is not a finite number (Infinity)',
    ],
    [
      'text where a base64 vector belongs',
      list(item(0, b64(1, 2)), item(1, 'model overloaded')),
      'data[1].embedding: not base64 ("model overloaded")',
    ],
    ['a missing data field', { object: 'list', model: 'm' }, '`data`'],
    ['an embedding of the wrong type', list(item(0, 5), item(1, 5)), '`data.0.embedding`'],
  ])('rejects %s', async (_name, body, reason) => {
    api.use(jsonHandler(body, 200, { 'x-request-id': 'req_bad' }));
    const error = await client.embeddings.create({ model: 'm', input: ['a', 'b'] }).catch((e) => e);
    expect(error).toBeInstanceOf(ResponseValidationError);
    expect(error.message).toContain('POST /embeddings returned status 200 with an invalid body');
    expect(error.message).toContain(reason);
    expect(error.requestId).toBe('req_bad');
  });

  test('keeps the index list in the message short for a large answer', async () => {
    const inputs = Array.from({ length: 500 }, (_, i) => `t${i}`);
    api.use(jsonHandler(list(...inputs.map(() => item(0, b64(1)))))); // every index 0
    const error = await client.embeddings.create({ model: 'm', input: inputs }).catch((e) => e);
    expect(error).toBeInstanceOf(ResponseValidationError);
    expect(error.message).toMatch(/expected indexes 0\.\.499, got 0,0,0.*\.\.\.$/);
    expect(error.message.length).toBeLessThan(200);
  });

  test('rejects vectors whose length differs from the requested dimensions', async () => {
    api.use(jsonHandler(list(item(0, b64(1, 2, 3)))));
    await expect(client.embeddings.create({ model: 'm', input: 'a', dimensions: 2 })).rejects.toThrow(
      'data[0].embedding has 3 dimensions, expected 2',
    );
  });

  test.each([
    [
      'a byte length that is not a multiple of 4',
      list(item(0, b64(1, 2)), item(1, Buffer.alloc(6).toString('base64'))),
      'data[1].embedding: base64 vector has 6 bytes, not a multiple of 4',
    ],
    [
      'vectors of different lengths',
      list(item(0, b64(1, 2)), item(1, b64(1, 2, 3))),
      'data[1].embedding has 3 dimensions, expected 2',
    ],
  ])('rejects %s even when the caller asked for base64 strings', async (_name, body, reason) => {
    api.use(jsonHandler(body));
    const error = await client.embeddings
      .create({ model: 'm', input: ['a', 'b'], encoding_format: 'base64' })
      .catch((e) => e);
    expect(error).toBeInstanceOf(ResponseValidationError);
    expect(error.message).toContain(reason);
  });

  test('rejects a float answer beyond the float32 range when asked for unnormalised Float32Array', async () => {
    api.use(jsonHandler(list(item(0, [1, 1e39]))));
    await expect(
      client.embeddings.create({ model: 'm', input: 'a' }, { vectorType: 'float32', normalize: false }),
    ).rejects.toThrow('data[0].embedding[1] is outside the float32 range (1e+39)');
  });

  test('normalises a float answer beyond the float32 range before making it a Float32Array', async () => {
    api.use(jsonHandler(list(item(0, [3e200, 4e200]))));
    const res = await client.embeddings.create({ model: 'm', input: 'a' }, { vectorType: 'float32' });
    expect(res.data[0]!.embedding).toEqual(Float32Array.from([0.6, 0.8]));
  });

  test('rejects malformed JSON', async () => {
    api.use(
      http.post(
        '*/embeddings',
        () => new HttpResponse('{"object":"list","data":[', { headers: { 'content-type': 'application/json' } }),
      ),
    );
    const error = await client.embeddings.create({ model: 'm', input: 'a' }).catch((e) => e);
    expect(error).toBeInstanceOf(ResponseValidationError);
    expect(error.message).toContain('body is not JSON');
  });
});

describe('parameter validation, before any request', () => {
  test.each([
    ['missing model', { input: 'a' }, '`model`', 'undefined'],
    ['empty model', { model: '', input: 'a' }, '`model`', '""'],
    ['empty input list', { model: 'm', input: [] }, '`input` must hold at least one item', '[]'],
    ['empty text', { model: 'm', input: '' }, '`input` must not be an empty string', '""'],
    ['empty text in a list', { model: 'm', input: ['a', ''] }, '`input[1]` must not be an empty string', '""'],
    ['empty token array', { model: 'm', input: [[1], []] }, '`input[1]`', '[]'],
    [
      'a number as input',
      { model: 'm', input: 5 },
      '`input` must be a string, an array of strings, an array of token ids or an array of token-id arrays',
      '5',
    ],
    ['no params at all', null, 'Invalid embeddings params: must be an object (got null)', 'null'],
    ['mixed input list', { model: 'm', input: ['a', 1] }, '`input`', '["a",1]'],
    ['negative token', { model: 'm', input: [1, -2] }, '`input[1]`', '-2'],
    ['zero dimensions', { model: 'm', input: 'a', dimensions: 0 }, '`dimensions`', '0'],
    ['fractional dimensions', { model: 'm', input: 'a', dimensions: 1.5 }, '`dimensions`', '1.5'],
    ['NaN dimensions', { model: 'm', input: 'a', dimensions: Number.NaN }, '`dimensions`', 'NaN'],
    ['unknown encoding', { model: 'm', input: 'a', encoding_format: 'hex' }, '`encoding_format`', '"hex"'],
    ['non-string user', { model: 'm', input: 'a', user: 7 }, '`user`', '7'],
    ['unknown field', { model: 'm', input: 'a', inputs: ['b'] }, 'unknown field(s) `inputs`', 'object'],
    // A list of texts is checked apart from the other fields: each of those is still checked.
    ['empty model beside a list of texts', { model: '', input: ['a', 'b'] }, '`model`', '""'],
    ['zero dimensions beside a list of texts', { model: 'm', input: ['a', 'b'], dimensions: 0 }, '`dimensions`', '0'],
    ['unknown field beside a list of texts', { model: 'm', input: ['a', 'b'], inputs: ['c'] }, '`inputs`', 'object'],
    // eslint-disable-next-line no-sparse-arrays
    ['a hole in a list of texts', { model: 'm', input: ['a', , 'b'] }, '`input`', '["a",null,"b"]'],
    ['undefined in a list of texts', { model: 'm', input: ['a', 'b', undefined] }, '`input`', '["a","b",null]'],
  ])('rejects %s naming the field and the value', async (_name, params, field, value) => {
    const error = await client.embeddings.create(params as never).catch((e) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toContain(field);
    expect(error.message).toContain(`(got ${value})`);
    expect(api.requests).toHaveLength(0);
  });
});
