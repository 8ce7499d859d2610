import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { VectorType } from '../src/options.js';
import { readAnswerFast } from '../src/receive/answer.js';
import { EmbeddingsReader } from '../src/receive/reader.js';
import { parseResponse, readResponse } from '../src/response.js';
import type { EmbeddingCreateParams } from '../src/schemas.js';
import { answerFor, answerOf, base64Answer, requestOptions, splitAt } from './support/answers.js';

const recorded = readFileSync(new URL('./fixtures/openai-recorded/embeddings-base64-response.json', import.meta.url));
const recordedFloat = readFileSync(
  new URL('./fixtures/openai-recorded/embeddings-float-response.json', import.meta.url),
);
const LAYOUTS: VectorType[] = ['array', 'float32', 'float32-view'];

const params = (rows: number, dimensions?: number): EmbeddingCreateParams => ({
  model: 'text-embedding-3-small',
  input: Array.from({ length: rows }, (_, i) => `text ${i}`),
  ...(dimensions === undefined ? {} : { dimensions }),
});

const tagged = (_key: string, value: unknown) =>
  value instanceof Float32Array ? { float32: Array.from(value, (x) => (Object.is(x, -0) ? '-0' : x)) } : value;

/** What a call gives: its value, or its error's class and message. */
function outcome(read: () => unknown): unknown {
  try {
    return { value: read() };
  } catch (error) {
    return { error: (error as Error).constructor.name, message: (error as Error).message };
  }
}

/**
 * Reads `chunks` as `create()` does and checks it against the reference, the body as one
 * string through JSON.parse and every check; `fast` says whether the reader must have taken it.
 */
function expectAsReference(chunks: Buffer[], rows: number, layout: VectorType, fast?: boolean, dimensions?: number) {
  const request = params(rows, dimensions);
  const options = requestOptions(layout);
  const got = outcome(() => readResponse('/embeddings', answerFor(chunks, request, options), request, options));
  const reference = outcome(() => parseResponse('/embeddings', answerOf([Buffer.concat(chunks)]), request, options));
  // As text, typed arrays tagged: thousands of comparisons, each exact to the bit and kind.
  expect(JSON.stringify(got, tagged)).toBe(JSON.stringify(reference, tagged));
  if (fast !== undefined) expect(readAnswerFast(answerFor(chunks, request, options), options) !== undefined).toBe(fast);
  return got;
}

describe('the streaming reader', () => {
  test.each(LAYOUTS)('reads the recorded OpenAI answer split at every byte, as the full parse does (%s)', (layout) => {
    for (let cut = 0; cut <= recorded.length; cut++) expectAsReference(splitAt(recorded, [cut]), 1, layout, true);
  });

  test('reads the recorded answer one byte per chunk, and twice split at every pair of points a prime apart', () => {
    const bytes = Array.from({ length: recorded.length - 1 }, (_, i) => i + 1);
    expectAsReference(splitAt(recorded, bytes), 1, 'float32', true);
    for (let cut = 1; cut + 37 < recorded.length; cut += 3) {
      expectAsReference(splitAt(recorded, [cut, cut + 37]), 1, 'float32-view', true);
    }
  });

  test('leaves a float answer to the full parse, which reads it', () => {
    const result = expectAsReference([recordedFloat], 1, 'float32', false) as { value: { data: unknown[] } };
    expect(result.value.data).toHaveLength(1);
  });

  test('a generated answer of 3 rows, its keys in every order, whitespace and unknown members, split everywhere', () => {
    const { vectors } = base64Answer(3, 5);
    const b64 = vectors.map((v) => Buffer.from(v.buffer).toString('base64'));
    const items = [
      `{"embedding":"${b64[2]}", "index":2,"object":"embedding"}`,
      `{ "index" : 0 ,\n "embedding" : "${b64[0]}" }`,
      `{"object":"embedding","index":1,"embedding":"${b64[1]}"}`,
    ];
    const body = Buffer.from(
      `\r\n{ "usage": {"prompt_tokens": 3, "total_tokens": 3}, "extra": [1, {"a": "]}\\"\\\\"}, null], ` +
        `"data":\t[${items.join(' ,')}],"model":"m\\u00e9",  "object":"list", "n": -1.5e3 }  \n`,
    );
    for (let cut = 0; cut <= body.length; cut++) {
      const got = expectAsReference(splitAt(body, [cut]), 3, 'float32', true) as {
        value: { model: string; data: { embedding: Float32Array }[] };
      };
      expect(got.value.model).toBe('mé');
    }
  });

  // Each of these must go the full way, where JSON.parse and the checks decide.
  const vector = Buffer.from(new Float32Array([0.5, -0.25, 1, 2]).buffer).toString('base64');
  const item = (embedding: string, extra = '') => `{"object":"embedding","index":0${extra},"embedding":${embedding}}`;
  const body = (items: string, tail = ',"model":"m","usage":{"prompt_tokens":1,"total_tokens":1}}') =>
    `{"object":"list","data":[${items}]${tail}`;
  test.each([
    ['an escaped slash inside base64', item(`"${vector.slice(0, 3)}\\/${vector.slice(4)}"`)],
    ['a \\u escape inside base64', item(`"\\u0041${vector.slice(1)}"`)],
    ['an escape in a key', `{"ind\\u0065x":0,"embedding":"${vector}"}`],
    ['a repeated index', item(`"${vector}"`, ',"index":0')],
    ['a repeated embedding', `{"index":0,"embedding":"AAAAAA==","embedding":"${vector}"}`],
    ['a look-alike key', `{"index":0,"embeddings":"${vector}"}`],
    ['an unknown item key', `{"index":0,"embedding":"${vector}","norm":1}`],
    ['an index of 0.0', `{"index":0.0,"embedding":"${vector}"}`],
    ['an index of -0', `{"index":-0,"embedding":"${vector}"}`],
    ['an index of 00', `{"index":00,"embedding":"${vector}"}`],
    ['a float array', item('[0.5,-0.25,1,2]')],
    ['a NaN in the vector', item(`"${Buffer.from(new Float32Array([0.5, NaN]).buffer).toString('base64')}"`)],
    ['an Infinity in the vector', item(`"${Buffer.from(new Float32Array([Infinity]).buffer).toString('base64')}"`)],
    ['base64url characters', item(`"${vector.replace(/.$/, '-')}"`)],
    ['a character outside the alphabet', item(`"${vector.slice(0, -1)}*"`)],
    ['a 4k+1 length', item(`"${vector.replace(/=+$/, '')}AAA"`)],
    ['padding in the middle', item(`"AA==${vector}"`)],
    ['an empty vector', item('""')],
    ['a byte length not a multiple of 4', item('"AAAAAAA="')],
    ['a control character in the object', `{"object":"emb\tedding","index":0,"embedding":"${vector}"}`],
  ])('%s: the full parse decides', (_name, items) => {
    for (const layout of LAYOUTS) expectAsReference([Buffer.from(body(items))], 1, layout, false);
  });

  test("base64url's - and _ inside a vector go the full way wherever the chunks split, a - before them in the model or not", () => {
    // Node's decoder reads both as base64 and writes as many bytes as the length promises: only
    // looking for them tells a base64url vector, a wrong one, from the vector.
    const texts = [...'-_'].flatMap((c) => [`${c}${vector.slice(1)}`, `${vector.slice(0, 9)}${c}${vector.slice(10)}`]);
    for (const text of texts) {
      const answers = [
        body(item(`"${text}"`)),
        `{"model":"text-embedding-3-small","object":"list","data":[${item(`"${text}"`)}],"usage":{"prompt_tokens":1,"total_tokens":1}}`,
        body(`${item(`"${vector}"`)},${item(`"${text}"`).replace('"index":0', '"index":1')}`),
      ];
      for (const answer of answers) {
        const bytes = Buffer.from(answer);
        const rows = answer.includes('"index":1') ? 2 : 1;
        for (let cut = 0; cut <= bytes.length; cut++) {
          const got = expectAsReference(splitAt(bytes, [cut]), rows, 'float32', false);
          expect(got).toHaveProperty('error', 'ResponseValidationError');
        }
      }
    }
    // The same answers with the vector whole are the reader's, the model's - before it or not.
    const valid = Buffer.from(
      `{"model":"text-embedding-3-small","object":"list","data":[${item(`"${vector}"`)},${item(`"${vector}"`).replace('"index":0', '"index":1')}],"usage":{"prompt_tokens":1,"total_tokens":1}}`,
    );
    for (let cut = 0; cut <= valid.length; cut++) expectAsReference(splitAt(valid, [cut]), 2, 'float32', true);
  });

  test.each([
    ['a truncated body', body(item(`"${vector}"`)).slice(0, -9)],
    ['trailing garbage', `${body(item(`"${vector}"`))}x`],
    ['two data members', body(item(`"${vector}"`), `,"data":[],"model":"m"}`)],
    ['no model', body(item(`"${vector}"`), '}')],
    ['a model that is not a string', body(item(`"${vector}"`), ',"model":5}')],
    ['two items for one input', body(`${item(`"${vector}"`)},${item(`"${vector}"`).replace('0', '1')}`)],
    ['a byte-order mark', `\ufeff${body(item(`"${vector}"`))}`],
    ['an array at the top', `[${body(item(`"${vector}"`))}]`],
  ])('%s: the full parse decides, with its error', (_name, text) => {
    const got = expectAsReference([Buffer.from(text)], 1, 'float32', false);
    expect(got).toHaveProperty('error', 'ResponseValidationError');
  });

  test('vectors longer than the dimensions asked for go the full way, which names them', () => {
    const got = expectAsReference([Buffer.from(body(item(`"${vector}"`)))], 1, 'float32', false, 3);
    expect(got).toHaveProperty('message', expect.stringContaining('has 4 dimensions, expected 3'));
  });

  test('rows that came out of index order are put in order', () => {
    const { body: text, vectors } = base64Answer(4, 8);
    const json = JSON.parse(text) as { data: unknown[] };
    json.data.reverse();
    const got = expectAsReference([Buffer.from(JSON.stringify(json))], 4, 'float32-view', true) as {
      value: { data: { index: number; embedding: Float32Array }[] };
    };
    got.value.data.forEach((item, i) => {
      expect(item.index).toBe(i);
      const norm = Math.hypot(...vectors[i]!);
      expect(Array.from(item.embedding)).toEqual(Array.from(vectors[i]!.map((x) => Math.fround(x / norm))));
    });
  });

  test('float32-view rows share one buffer per answer; float32 rows own theirs', () => {
    const { body: text } = base64Answer(3, 4);
    const read = (layout: VectorType) =>
      readResponse(
        '/embeddings',
        answerFor([Buffer.from(text)], params(3), requestOptions(layout)),
        params(3),
        requestOptions(layout),
      ).data.map((item) => item.embedding as Float32Array);
    const views = read('float32-view');
    expect(views[1]!.buffer).toBe(views[0]!.buffer);
    expect(views[2]!.byteOffset).toBe(2 * 4 * 4);
    const owned = read('float32');
    expect(owned[1]!.buffer).not.toBe(owned[0]!.buffer);
    expect(owned[1]!.buffer.byteLength).toBe(16);
    expect(owned).toEqual(views);
  });

  test("an into target: each row decoded straight into the caller's memory at the row it names, in any arrival order", () => {
    const { body: text, vectors } = base64Answer(3, 4);
    const json = JSON.parse(text) as { data: unknown[] };
    json.data.reverse();
    // The caller's memory: five rows of 4, answer row k going to row 4 - k, the others untouched.
    const memory = new Float32Array(5 * 4).fill(7);
    const reader = new EmbeddingsReader({
      rows: 3,
      dimensions: undefined,
      normalize: true,
      maxBytes: 1 << 20,
      ownRows: false,
      into: { reserve: (dimensions) => (dimensions === 4 ? memory : undefined), rowOf: (row) => 4 - row },
    });
    reader.write(Buffer.from(JSON.stringify(json)));
    const answer = reader.end();
    expect(answer).toBeDefined();
    answer!.vectors.forEach((row, index) => {
      expect(row.buffer).toBe(memory.buffer);
      expect(row.byteOffset).toBe((4 - index) * 4 * 4);
      const norm = Math.hypot(...vectors[index]!);
      expect(Array.from(row)).toEqual(Array.from(vectors[index]!, (x) => Math.fround(x / norm)));
    });
    expect(Array.from(memory.subarray(0, 8))).toEqual(Array(8).fill(7));
  });

  test('a body that cannot hold as many rows as asked is not reserved for', () => {
    const { body: text } = base64Answer(1, 64);
    const options = { ...requestOptions('float32'), maxResponseBytes: 1000 };
    // 1,000 rows of 64 floats need 341 kB of base64: no memory is set aside for them.
    expect(readAnswerFast(answerFor([Buffer.from(text)], params(1000), options), options)).toBeUndefined();
    // A billion rows of 64 floats would be 256 GB: reserved from the first vector's length,
    // the Float32Array alone would throw a RangeError. The bound leaves it to the full parse.
    const reader = new EmbeddingsReader({
      rows: 1e9,
      dimensions: undefined,
      normalize: false,
      maxBytes: 1 << 28,
      ownRows: false,
    });
    expect(() => reader.write(Buffer.from(text))).not.toThrow();
    expect(reader.end()).toBeUndefined();
  });
});

describe('the streaming reader against JSON.parse (mutations)', () => {
  const MUTATION_BYTES = '"\\{}[],:. 0123456789-+eE=/_AQgw\tnul';
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 3 }) }),
    fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(),
      text: fc.string({ unit: fc.constantFrom(...MUTATION_BYTES), minLength: 1, maxLength: 3 }),
    }),
    fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), text: fc.constantFrom(...MUTATION_BYTES) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  );

  test('any mutation of a generated answer, split anywhere, reads exactly as the full parse does', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 6 }),
        fc.array(mutation, { maxLength: 3 }),
        fc.array(fc.nat(), { maxLength: 4 }),
        fc.constantFrom(...LAYOUTS),
        (rows, dimensions, mutations, cuts, layout) => {
          let text = base64Answer(rows, dimensions, rows * 10 + dimensions).body;
          for (const m of mutations) {
            const at = m.at % (text.length + 1);
            if (m.kind === 'delete') text = text.slice(0, at) + text.slice(at + m.length);
            else if (m.kind === 'insert') text = text.slice(0, at) + m.text + text.slice(at);
            else if (m.kind === 'replace') text = text.slice(0, at) + m.text + text.slice(at + 1);
            else text = text.slice(0, at);
          }
          const bytes = Buffer.from(text);
          const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
          expectAsReference(splitAt(bytes, points), rows, layout);
        },
      ),
      { numRuns: 3000, seed: 11 },
    );
  });

  test('unmutated generated answers are all taken by the reader', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 300 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (rows, dimensions, cuts) => {
          const bytes = Buffer.from(base64Answer(rows, dimensions).body);
          const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
          expectAsReference(splitAt(bytes, points), rows, 'float32', true);
        },
      ),
      { numRuns: 200, seed: 7 },
    );
  });
});
