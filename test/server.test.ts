import { connect } from 'node:net';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { InvalidArgumentError } from '../src/index.js';
import { cl100kTokenizer } from '../src/tokenizer.js';
import {
  createServer,
  localHashEmbedding,
  localHashEmbeddingOfTokens,
  SERVER_DEFAULTS,
  type ServerOptions,
} from '../src/server/index.js';

const server = createServer();
let url: string;

beforeAll(async () => {
  ({ url } = await server.listen(0));
});
afterAll(() => server.close());

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

const errorOf = async (res: Response) => ((await res.json()) as ErrorBody).error;

async function post(body: unknown, path = '/embeddings', raw = false) {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: raw ? (body as string) : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
}

function decodeBase64(text: string): Float32Array {
  const bytes = Buffer.from(text, 'base64');
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
}

describe('listen and url', () => {
  test('listen(0) binds a free loopback port and reports the /v1 base URL', () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    expect(server.url).toBe(url);
    expect(Number(new URL(url).port)).toBeGreaterThan(0);
  });

  test('url before listen() throws instead of returning a wrong address', () => {
    expect(() => createServer().url).toThrow(/listen/);
  });

  test('defaults: 384 dimensions, port 8787 on 127.0.0.1, 8 MiB bodies, model local-hash-embedding', () => {
    expect(SERVER_DEFAULTS).toMatchObject({
      dimensions: 384,
      port: 8787,
      host: '127.0.0.1',
      maxBodyBytes: 8 * 1024 * 1024,
      model: 'local-hash-embedding',
    });
  });

  test.each([
    [{ dimensions: 0 }, /`dimensions` must be an integer from 1 to 3072 \(got 0\)/],
    [{ dimensions: 1.5 }, /`dimensions`.*got 1\.5/],
    [{ latency: -1 }, /`latency` must be a number from 0 to 2147483647 \(got -1\)/],
    [{ latency: 2 ** 31 }, /`latency` must be a number from 0 to 2147483647 \(got 2147483648\)/],
    [{ rpm: 0 }, /`rpm`.*got 0/],
    [{ tpm: Number.NaN }, /`tpm`.*got NaN/],
    [{ failRate: 1.5 }, /`failRate` must be a number from 0 to 1 \(got 1\.5\)/],
    [{ seed: 0.5 }, /`seed`.*got 0\.5/],
    [{ maxBodyBytes: 0 }, /`maxBodyBytes`.*got 0/],
    [{ model: '' }, /`model` must be a non-empty string/],
    [{ dimension: 8 }, /^Invalid createServer options: unknown field\(s\) `dimension` \(got object\)$/],
  ])('createServer(%o) throws InvalidArgumentError naming the option and value', (options, message) => {
    expect(() => createServer(options as ServerOptions)).toThrow(InvalidArgumentError);
    expect(() => createServer(options as ServerOptions)).toThrow(message);
  });

  test('listen() refuses a port out of range before binding anything', () => {
    const server = createServer();
    expect(() => server.listen(70_000)).toThrow(InvalidArgumentError);
    expect(() => server.listen(70_000)).toThrow(
      'Invalid listen() arguments: `port` must be an integer from 0 to 65535 (got 70000)',
    );
  });
});

describe('POST /v1/embeddings', () => {
  test('answers a string input with one float vector of 384 dimensions, the hash embedding of the text', async () => {
    const res = await post({ model: 'local-hash-embedding', input: 'the quick brown fox' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    const body = res.json();
    expect(body).toMatchObject({
      object: 'list',
      model: 'local-hash-embedding',
      data: [{ object: 'embedding', index: 0 }],
    });
    expect(body.data[0].embedding).toHaveLength(384);
    const expected = localHashEmbedding('the quick brown fox', 384);
    expect(Float32Array.from(body.data[0].embedding)).toEqual(expected);
  });

  test('float JSON prints each float32 in its shortest exact form (at most 9 digits), as OpenAI does', async () => {
    const res = await post({ model: 'm', input: 'shortest form', dimensions: 64 });
    const list = /"embedding":\[([^\]]*)\]/.exec(res.text)![1]!.split(',');
    const expected = localHashEmbedding('shortest form', 64);
    expect(list).toHaveLength(64);
    for (const [i, text] of list.entries()) {
      const digits = text.replace(/e.*$/, '').replace(/[-.]/g, '').replace(/^0+/, '');
      expect(digits.length).toBeLessThanOrEqual(9);
      expect(Math.fround(Number(text))).toBe(expected[i]);
    }
  });

  test('base64 is little-endian float32 bytes that decode to exactly the float answer', async () => {
    const input = ['base64 and float agree', 'a second text'];
    const floats = (await post({ model: 'm', input, encoding_format: 'float' })).json();
    const base64 = (await post({ model: 'm', input, encoding_format: 'base64' })).json();
    for (const i of [0, 1]) {
      expect(typeof base64.data[i].embedding).toBe('string');
      const bytes = Buffer.from(base64.data[i].embedding, 'base64');
      expect(bytes.length).toBe(384 * 4);
      expect(decodeBase64(base64.data[i].embedding)).toEqual(Float32Array.from(floats.data[i].embedding));
    }
  });

  test('dimensions sets the vector length, and the vector has L2 norm 1', async () => {
    const body = (await post({ model: 'm', input: 'seven', dimensions: 7 })).json();
    const v: number[] = body.data[0].embedding;
    expect(v).toHaveLength(7);
    expect(Math.abs(Math.hypot(...v) - 1)).toBeLessThan(1e-6);
  });

  test('usage counts equal the cl100k token counts of the inputs', async () => {
    const input = ['hello world', 'Tokenisation: ünïcödé and <|endoftext|> count as plain text', 'x'];
    const expected = input.reduce((sum, text) => sum + cl100kTokenizer.count(text), 0);
    const body = (await post({ model: 'm', input })).json();
    expect(body.usage).toEqual({ prompt_tokens: expected, total_tokens: expected });
    expect(body.data.map((d: { index: number }) => d.index)).toEqual([0, 1, 2]);
  });

  test('token-array inputs embed the ids as tokens and count their length as usage', async () => {
    const body = (await post({ model: 'm', input: [[15339, 1917], [15339]], dimensions: 32 })).json();
    expect(body.usage.prompt_tokens).toBe(3);
    expect(Float32Array.from(body.data[0].embedding)).toEqual(localHashEmbeddingOfTokens([15339, 1917], 32));
    const flat = (await post({ model: 'm', input: [15339, 1917], dimensions: 32 })).json();
    expect(flat.data).toHaveLength(1);
    expect(flat.data[0].embedding).toEqual(body.data[0].embedding);
  });

  test('accepts 2048 inputs and exactly 8192 tokens in one input', async () => {
    const many = await post({ model: 'm', input: Array.from({ length: 2048 }, (_, i) => `text ${i}`), dimensions: 4 });
    expect(many.status).toBe(200);
    expect(many.json().data).toHaveLength(2048);
    const long = await post({ model: 'm', input: [Array.from({ length: 8192 }, () => 1)], dimensions: 4 });
    expect(long.status).toBe(200);
  });

  test('null optional fields are treated as absent, and user is accepted', async () => {
    const res = await post({ model: 'm', input: 'x', encoding_format: null, dimensions: null, user: 'u1' });
    expect(res.status).toBe(200);
    expect(res.json().data[0].embedding).toHaveLength(384);
  });

  test('every response carries an x-request-id of the form req_<32 hex>, unique per request', async () => {
    const ids = new Set<string>();
    for (const res of [await post({ model: 'm', input: 'a' }), await post({}), await post({}, '/nope')]) {
      const id = res.headers.get('x-request-id');
      expect(id).toMatch(/^req_[0-9a-f]{32}$/);
      ids.add(id!);
    }
    expect(ids.size).toBe(3);
  });
});

describe('routes and limits', () => {
  test('unknown routes get 404 naming the method and path', async () => {
    const res = await fetch(`${url}/completions`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(404);
    expect(await errorOf(res)).toEqual({
      message: 'Invalid URL (POST /v1/completions)',
      type: 'invalid_request_error',
      param: null,
      code: null,
    });
  });

  test('a known route with the wrong method gets 405 and an allow header', async () => {
    const res = await fetch(`${url}/embeddings`);
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    expect((await errorOf(res)).message).toBe('Invalid method for URL (GET /v1/embeddings)');
  });

  test('GET /v1/models lists its model, and /v1/models/<id> retrieves it or answers 404', async () => {
    const list = await (await fetch(`${url}/models`)).json();
    expect(list).toEqual({
      object: 'list',
      data: [{ id: 'local-hash-embedding', object: 'model', created: 0, owned_by: 'embedrail' }],
    });
    expect(((await (await fetch(`${url}/models/local-hash-embedding`)).json()) as { id: string }).id).toBe(
      'local-hash-embedding',
    );
    for (const id of ['gpt-x', '%zz']) {
      const missing = await fetch(`${url}/models/${id}`);
      expect(missing.status).toBe(404);
      expect(await errorOf(missing)).toMatchObject({ param: 'model', code: 'model_not_found' });
    }
  });

  test('a body over maxBodyBytes gets 413 without being read, and the connection closes', async () => {
    const small = createServer({ maxBodyBytes: 1024 });
    const { url: smallUrl } = await small.listen(0);
    try {
      const body = JSON.stringify({ model: 'm', input: 'x'.repeat(4096) });
      const res = await request(`${smallUrl}/embeddings`, { method: 'POST', body });
      expect(res.statusCode).toBe(413);
      expect(res.headers.connection).toBe('close');
      expect(res.headers['x-request-id']).toMatch(/^req_/);
      expect(((await res.body.json()) as { error: unknown }).error).toEqual({
        message: `Request body too large: ${Buffer.byteLength(body)} bytes exceeds the limit of 1024 bytes.`,
        type: 'invalid_request_error',
        param: null,
        code: 'request_too_large',
      });
      // A chunked upload with no content-length is cut off as soon as it passes the cap.
      const chunks = async function* () {
        for (let i = 0; i < 10_000; i++) yield Buffer.alloc(1000, 97);
      };
      const chunked = await request(`${smallUrl}/embeddings`, { method: 'POST', body: Readable.from(chunks()) });
      expect(chunked.statusCode).toBe(413);
      const { error } = (await chunked.body.json()) as { error: { message: string } };
      expect(Number(/: (\d+) bytes/.exec(error.message)![1])).toBeLessThan(10_000_000);
      expect(
        (await request(`${smallUrl}/embeddings`, { method: 'POST', body: '{"model":"m","input":"ok"}' })).statusCode,
      ).toBe(200);
    } finally {
      await small.close();
    }
  });

  test('any JSON body gets 200 or a 4xx with an OpenAI error body, never a 500 (property, 150 bodies)', async () => {
    const field = fc.oneof(
      fc.constantFrom('model', 'input', 'encoding_format', 'dimensions', 'user'),
      fc.string({ maxLength: 8 }),
    );
    const value = fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.array(fc.integer({ min: -5, max: 200_000 }), { maxLength: 5 }),
      fc.array(fc.string({ maxLength: 12 }), { maxLength: 5 }),
    );
    const body = fc.oneof(fc.dictionary(field, value, { maxKeys: 6 }), fc.jsonValue({ maxDepth: 2 }));
    await fc.assert(
      fc.asyncProperty(body, async (json) => {
        const res = await post(json);
        if (res.status === 200) {
          expect(res.json().object).toBe('list');
          return;
        }
        expect(res.status).toBe(400);
        const { error } = res.json() as ErrorBody;
        expect(typeof error.message).toBe('string');
        expect(error.type).toBe('invalid_request_error');
      }),
      { numRuns: 150 },
    );
  });

  test('garbage that is not HTTP does not take the server down', async () => {
    const { port } = new URL(url);
    await new Promise<void>((resolve) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.end('NOT HTTP AT ALL\r\n\r\n'));
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
      socket.resume();
    });
    expect((await post({ model: 'm', input: 'alive' })).status).toBe(200);
  });

  test('close() ends a response still waiting on latency instead of hanging', async () => {
    const slow = createServer({ latency: 60_000 });
    const { url: slowUrl } = await slow.listen(0);
    const pending = fetch(`${slowUrl}/models`).then(
      () => 'answered',
      () => 'closed',
    );
    while (slow.stats.requests === 0) await new Promise((r) => setImmediate(r));
    await slow.close();
    expect(await pending).toBe('closed');
  });

  test('latency delays every answer, counted at the wire by requests seen before any answer', async () => {
    const slow = createServer({ latency: 1000 });
    const { url: slowUrl } = await slow.listen(0);
    try {
      let answered = 0;
      const calls = [1, 2, 3].map(() => fetch(`${slowUrl}/models`).then(() => answered++));
      while (slow.stats.requests < 3) await new Promise((r) => setImmediate(r));
      expect(answered).toBe(0);
      await Promise.all(calls);
      expect(answered).toBe(3);
    } finally {
      await slow.close();
    }
  });
});
