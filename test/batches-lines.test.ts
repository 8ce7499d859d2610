import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  BatchDocumentedErrorLine,
  BatchErrorLine,
  BatchInputLine,
  BatchLineError,
  BatchObservedErrorLine,
  BatchOutputLine,
  BatchResultLine,
  batchLineFailure,
  decodeBatchEmbeddings,
  decodeBase64Float32,
  isBatchOutputLine,
  readBatchLines,
  ResponseValidationError,
} from '../src/index.js';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'openai-batch');

/** Every line of a fixture file, parsed as `schema`. */
async function read<T>(name: string, schema: Parameters<typeof readBatchLines<T>>[1]) {
  const out: T[] = [];
  for await (const { value } of readBatchLines(createReadStream(join(FIXTURES, name)), schema)) out.push(value);
  return out;
}

/** Chunks of `text` split every `size` bytes, wherever that falls (inside a character too). */
async function* split(text: string, size: number) {
  const bytes = Buffer.from(text, 'utf8');
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

describe('line schemas against the published shapes', () => {
  test('the input lines are BatchInputLine', async () => {
    const lines = await read('input.jsonl', BatchInputLine);
    expect(lines.map((line) => line.custom_id)).toEqual(['request-1', 'request-2']);
    expect(lines[0]).toMatchObject({ method: 'POST', url: '/v1/embeddings', body: { input: 'h', dimensions: 256 } });
  });

  test('output lines are BatchOutputLine, and not error lines', async () => {
    const lines = await read('output.jsonl', BatchResultLine);
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(BatchOutputLine.safeParse(line).success).toBe(true);
      expect(BatchErrorLine.safeParse(line).success).toBe(false);
      expect(isBatchOutputLine(line)).toBe(true);
    }
  });

  test('the documented error line (response null, error { code, message }) is read, its code kept', async () => {
    const [line] = await read('error-documented.jsonl', BatchResultLine);
    expect(BatchDocumentedErrorLine.safeParse(line).success).toBe(true);
    expect(isBatchOutputLine(line!)).toBe(false);
    expect(batchLineFailure(line as BatchErrorLine)).toEqual({
      status: undefined,
      code: 'batch_expired',
      message: 'This request could not be executed before the completion window expired.',
      type: null,
      param: null,
      requestId: null,
    });
  });

  test('the observed error line (error null, the status and error body in response) is read, its status kept', async () => {
    const [line] = await read('error-observed.jsonl', BatchResultLine);
    expect(BatchObservedErrorLine.safeParse(line).success).toBe(true);
    expect(BatchOutputLine.safeParse(line).success).toBe(false);
    expect(isBatchOutputLine(line!)).toBe(false);
    expect(batchLineFailure(line as BatchErrorLine)).toMatchObject({
      status: 400,
      code: 'context_length_exceeded',
      type: 'invalid_request_error',
      param: 'messages',
      requestId: '0538a1cc8f8f8500bbe07250e6aa2b26',
    });
  });

  test.each([
    ['an output line without custom_id', { id: 'a', response: { status_code: 200, body: {} }, error: null }],
    ['a line with neither response nor error', { id: 'a', custom_id: 'b', response: null, error: null }],
    [
      'a 200 beside an error',
      { id: 'a', custom_id: 'b', response: { status_code: 200, body: {} }, error: { message: 'x' } },
    ],
    [
      'a status that is no HTTP status',
      { id: 'a', custom_id: 'b', response: { status_code: 42, body: {} }, error: null },
    ],
  ])('%s is no result line', (_, value) => {
    expect(BatchResultLine.safeParse(value).success).toBe(false);
  });
});

describe('decodeBatchEmbeddings', () => {
  test("decodes an output line's float and base64 bodies as create() would, to the same float32 vector", async () => {
    const [float, base64] = (await read('output.jsonl', BatchResultLine)) as BatchOutputLine[];
    const params = { model: 'text-embedding-3-large', input: 'h', dimensions: 256 };
    const fromFloat = decodeBatchEmbeddings(float!, params, { vectorType: 'float32', normalize: false });
    const fromBase64 = decodeBatchEmbeddings(base64!, params, { vectorType: 'float32', normalize: false });
    expect(fromFloat.data).toHaveLength(1);
    expect(fromFloat.usage).toEqual({ prompt_tokens: 1, total_tokens: 1 });
    const a = fromFloat.data[0]!.embedding as Float32Array;
    const b = fromBase64.data[0]!.embedding as Float32Array;
    expect(a).toHaveLength(256);
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(5e-9);
    // Asked for base64, it hands the server's string back untouched, as create() does.
    const raw = decodeBatchEmbeddings(base64!, { ...params, encoding_format: 'base64' });
    const body = base64!.response.body as { data: { embedding: string }[] };
    expect(raw.data[0]!.embedding).toBe(body.data[0]!.embedding);
    expect(decodeBase64Float32(raw.data[0]!.embedding as string)).toEqual(b);
  });

  test('normalises by default, as create() does', async () => {
    const [float] = (await read('output.jsonl', BatchResultLine)) as BatchOutputLine[];
    const vector = decodeBatchEmbeddings(float!, { model: 'm', input: 'h' }).data[0]!.embedding as number[];
    expect(Math.hypot(...vector)).toBeCloseTo(1, 6);
  });

  test.each([
    ['dimensions other than asked', { dimensions: 128 }, 'has 256 dimensions, expected 128'],
    ['more inputs than the body holds', { input: ['h', 'i'] }, 'expected 2 embeddings, got 1'],
  ])('%s is a ResponseValidationError naming the custom_id', async (_, change, reason) => {
    const [float] = (await read('output.jsonl', BatchResultLine)) as BatchOutputLine[];
    const error = (() => {
      try {
        decodeBatchEmbeddings(float!, { model: 'm', input: 'h', ...change });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ResponseValidationError);
    expect((error as Error).message).toContain('batch line "request-1": ');
    expect((error as Error).message).toContain(reason);
  });

  test('a vector holding a string is refused, naming its place', () => {
    const line = BatchOutputLine.parse({
      id: 'a',
      custom_id: 'x',
      response: {
        status_code: 200,
        request_id: 'r',
        body: { data: [{ index: 0, embedding: [0.1, 'no'] }], model: 'm' },
      },
      error: null,
    });
    expect(() => decodeBatchEmbeddings(line, { model: 'm', input: 'h' })).toThrow(
      'data[0].embedding[1] is not a finite number ("no")',
    );
  });
});

describe('readBatchLines', () => {
  test('reads lines split across chunks anywhere, even mid-character, with CRLF endings and blank lines', async () => {
    const text = await readFile(join(FIXTURES, 'output.jsonl'), 'utf8');
    const withCrlf = `\r\n${text.replace(/\n/g, '\r\n')}\n{"id":"é","custom_id":"ü","response":null,"error":{"message":"ß"}}`;
    for (const size of [1, 3, 7, 1000]) {
      const lines = [];
      for await (const { line, value } of readBatchLines(split(withCrlf, size), BatchResultLine))
        lines.push([line, value.custom_id]);
      expect(lines).toEqual([
        [2, 'request-1'],
        [3, 'request-2'],
        [5, 'ü'],
      ]);
    }
  });

  test.each([
    [
      'a line that is not JSON',
      '{"custom_id":"a","method":"POST","url":"/v1/embeddings","body":{"model":"m","input":"x"}}\n{nope\n',
      2,
      'Batch file line 2: not JSON ("{nope")',
    ],
    [
      'a line of the wrong shape',
      `${'\n'.repeat(2)}{"custom_id":"a","method":"GET","url":"/v1/embeddings","body":{}}`,
      3,
      '`method`',
    ],
  ])('%s fails with BatchLineError naming its number', async (_, text, line, message) => {
    const error = await (async () => {
      for await (const value of readBatchLines(split(text, 4), BatchInputLine)) void value;
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BatchLineError);
    expect((error as BatchLineError).line).toBe(line);
    expect((error as Error).message).toContain(message);
  });

  test('a line longer than maxLineBytes fails before it is held whole', async () => {
    async function* endless() {
      for (;;) yield Buffer.alloc(1024, 0x61);
    }
    const error = await (async () => {
      for await (const value of readBatchLines(endless(), BatchInputLine, { maxLineBytes: 64 * 1024 })) void value;
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BatchLineError);
    expect((error as Error).message).toBe('Batch file line 1: longer than maxLineBytes (65536 bytes)');
  });
});
