import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { createServer } from '../src/server/index.js';
import { startBpeWatch } from './support/bpe-watch.js';

// POST /v1/embeddings checks its body as OpenAI's endpoint does (src/server/validate.ts).
const server = createServer();
let url: string;

beforeAll(async () => {
  ({ url } = await server.listen(0, '127.0.0.1'));
});
afterAll(() => server.close());

async function post(body: unknown, raw = false) {
  const res = await fetch(`${url}/embeddings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: raw ? (body as string) : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: () => JSON.parse(text) };
}

const tooLong = 'word '.repeat(8200);
const validationCases: [
  string,
  unknown,
  { message: RegExp | string; param: string | null; code: string | null; type?: string },
][] = [
  [
    'an unknown field',
    { model: 'm', input: 'x', temperature: 1 },
    { message: 'Unrecognized request argument supplied: temperature', param: null, code: null },
  ],
  ['no model', { input: 'x' }, { message: 'you must provide a model parameter', param: null, code: null }],
  [
    'an empty model',
    { model: '', input: 'x' },
    { message: 'you must provide a model parameter', param: null, code: null },
  ],
  [
    'a model that is not a string',
    { model: 3, input: 'x' },
    {
      message: "Invalid type for 'model': expected a string, but got an integer instead.",
      param: 'model',
      code: 'invalid_type',
    },
  ],
  [
    'no input',
    { model: 'm' },
    { message: "Missing required parameter: 'input'.", param: 'input', code: 'missing_required_parameter' },
  ],
  [
    'an empty string',
    { model: 'm', input: '' },
    { message: /Invalid 'input': string too short.*empty string/, param: 'input', code: 'string_below_min_length' },
  ],
  [
    'an empty string in an array',
    { model: 'm', input: ['a', ''] },
    { message: /Invalid 'input\[1\]': string too short/, param: 'input[1]', code: 'string_below_min_length' },
  ],
  [
    'an empty array',
    { model: 'm', input: [] },
    { message: /Invalid 'input': empty array/, param: 'input', code: 'empty_array' },
  ],
  [
    '2049 inputs',
    { model: 'm', input: Array.from({ length: 2049 }, () => 'a') },
    { message: /array too long.*maximum length 2048.*length 2049/, param: 'input', code: 'array_above_max_length' },
  ],
  [
    'an object input',
    { model: 'm', input: { text: 'a' } },
    {
      message: /Invalid type for 'input': expected a string, an array of strings.*got an object instead/,
      param: 'input',
      code: 'invalid_type',
    },
  ],
  [
    'mixed strings and numbers',
    { model: 'm', input: ['a', 1] },
    {
      message: "Invalid type for 'input[1]': expected a string, but got an integer instead.",
      param: 'input[1]',
      code: 'invalid_type',
    },
  ],
  [
    'a decimal token id',
    { model: 'm', input: [1, 2.5] },
    { message: /Invalid type for 'input\[1\]'.*got a decimal/, param: 'input[1]', code: 'invalid_type' },
  ],
  [
    'a token id out of range',
    { model: 'm', input: [[1], [-3]] },
    {
      message: /Invalid 'input\[1\]\[0\]': token id out of range.*got -3/,
      param: 'input[1][0]',
      code: 'invalid_value',
    },
  ],
  [
    'an empty token array',
    { model: 'm', input: [[1], []] },
    { message: /Invalid 'input\[1\]': empty array/, param: 'input[1]', code: 'empty_array' },
  ],
  [
    'an input over 8192 tokens',
    { model: 'm', input: ['ok', tooLong] },
    {
      message: /maximum context length is 8192 tokens, however you requested 8201 tokens in 'input\[1\]'/,
      param: 'input[1]',
      code: 'context_length_exceeded',
    },
  ],
  [
    'a token array over 8192 ids',
    { model: 'm', input: Array.from({ length: 8193 }, () => 1) },
    { message: /requested 8193 tokens/, param: 'input', code: 'context_length_exceeded' },
  ],
  [
    'more than 300,000 tokens in the request',
    { model: 'm', input: Array.from({ length: 40 }, () => Array.from({ length: 8000 }, () => 1)) },
    {
      message: 'Requested 320000 tokens, max 300000 tokens per request',
      param: null,
      code: 'max_tokens_per_request',
      type: 'max_tokens_per_request',
    },
  ],
  [
    'a bad encoding_format',
    { model: 'm', input: 'x', encoding_format: 'int8' },
    {
      message: "Invalid value for 'encoding_format': 'int8'. Supported values are: 'float' and 'base64'.",
      param: 'encoding_format',
      code: 'invalid_value',
    },
  ],
  [
    'a non-string encoding_format',
    { model: 'm', input: 'x', encoding_format: 1 },
    { message: /Invalid type for 'encoding_format'/, param: 'encoding_format', code: 'invalid_type' },
  ],
  [
    'dimensions 0',
    { model: 'm', input: 'x', dimensions: 0 },
    {
      message: "Invalid 'dimensions': integer below minimum value. Expected a value >= 1, but got 0 instead.",
      param: 'dimensions',
      code: 'integer_below_min_value',
    },
  ],
  [
    'dimensions 3073',
    { model: 'm', input: 'x', dimensions: 3073 },
    {
      message: /integer above maximum value. Expected a value <= 3072, but got 3073/,
      param: 'dimensions',
      code: 'integer_above_max_value',
    },
  ],
  [
    'decimal dimensions',
    { model: 'm', input: 'x', dimensions: 1.5 },
    {
      message: "Invalid type for 'dimensions': expected an integer, but got a decimal instead.",
      param: 'dimensions',
      code: 'invalid_type',
    },
  ],
  [
    'string dimensions',
    { model: 'm', input: 'x', dimensions: '8' },
    { message: /expected an integer, but got a string/, param: 'dimensions', code: 'invalid_type' },
  ],
  [
    'a non-string user',
    { model: 'm', input: 'x', user: 7 },
    {
      message: "Invalid type for 'user': expected a string, but got an integer instead.",
      param: 'user',
      code: 'invalid_type',
    },
  ],
  [
    'a JSON array body',
    [1, 2],
    { message: /request body: expected an object, but got an array/, param: null, code: null },
  ],
];

describe('validation: 400 with an OpenAI error body naming the parameter', () => {
  test.each(validationCases)('rejects %s', async (_name, body, expected) => {
    const res = await post(body);
    expect(res.status).toBe(400);
    expect(res.headers.get('x-request-id')).toMatch(/^req_/);
    const { error } = res.json();
    expect(Object.keys(error).sort()).toEqual(['code', 'message', 'param', 'type']);
    if (typeof expected.message === 'string') expect(error.message).toBe(expected.message);
    else expect(error.message).toMatch(expected.message);
    expect(error.param).toBe(expected.param);
    expect(error.code).toBe(expected.code);
    expect(error.type).toBe(expected.type ?? 'invalid_request_error');
  });

  test.each([['{"model": "m", "input": '], ['not json'], ['']])(
    'malformed JSON %j gets 400 with an OpenAI body',
    async (raw) => {
      const res = await post(raw, true);
      expect(res.status).toBe(400);
      const { error } = res.json();
      expect(error.message).toMatch(/^We could not parse the JSON body of your request/);
      expect(error).toMatchObject({ type: 'invalid_request_error', param: null, code: null });
      // and the server is still serving
      expect((await post({ model: 'm', input: 'still up' })).status).toBe(200);
    },
  );
});

describe('token counting stays bounded whatever the input', () => {
  afterEach(() => vi.restoreAllMocks());

  test("an input of 160,000 × 'a' gets its 400 after counting a bounded stretch in pieces of at most 512", async () => {
    const watch = startBpeWatch();
    const res = await post({ model: 'm', input: ['hello', 'a'.repeat(160_000)] });
    const seen = watch.stop();
    expect(res.status).toBe(400);
    expect(res.json().error).toMatchObject({
      message:
        "This model's maximum context length is 8192 tokens, however you requested more than 9216 tokens in 'input[1]'. Please reduce your prompt.",
      param: 'input[1]',
      code: 'context_length_exceeded',
    });
    expect(seen.longestPiece).toBeLessThanOrEqual(512);
  });

  test('texts past 300,000 tokens in one request are left uncounted: "Requested more than"', async () => {
    const input = Array.from({ length: 2048 }, (_, i) => `${i} ${'word '.repeat(200)}`);
    const watch = startBpeWatch();
    const res = await post({ model: 'm', input });
    const seen = watch.stop();
    expect(res.status).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'max_tokens_per_request', type: 'max_tokens_per_request' });
    expect(res.json().error.message).toMatch(/^Requested more than 30\d{4} tokens, max 300000 tokens per request$/);
    expect(seen.charactersCounted).toBeLessThan(0.8 * input.join('').length);
  });
});
