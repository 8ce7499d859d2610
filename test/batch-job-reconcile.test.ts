import { describe, expect, test } from 'vitest';
import { encodeFloat32Base64 } from '../src/decode.js';
import { reconcile } from '../src/batch-job/reconcile.js';
import type { BatchResultLine } from '../src/resources/lines.js';

const params = { model: 'text-embedding-3-small' };
const ok = (index: number, vector = [3, 4], job = 'j'): BatchResultLine => ({
  id: 'batch_req_1',
  custom_id: `${job}-0-${index}`,
  response: {
    status_code: 200,
    body: {
      object: 'list',
      data: [{ object: 'embedding', index: 0, embedding: encodeFloat32Base64(vector) }],
      model: 'text-embedding-3-small',
      usage: { prompt_tokens: 2, total_tokens: 2 },
    },
  },
  error: null,
});
const answered = (index: number, status: number, code = 'x'): BatchResultLine => ({
  id: 'batch_req_2',
  custom_id: `j-0-${index}`,
  response: {
    status_code: status,
    body: { error: { message: `failed ${status}`, type: 'invalid_request_error', code } },
  },
  error: null,
});
const documented = (index: number, code: string): BatchResultLine => ({
  id: 'batch_req_3',
  custom_id: `j-0-${index}`,
  response: null,
  error: { code, message: `${code} happened` },
});

/** Reconciles, keeping each vector handed over with its index, in the order they came. */
async function run(inputs: [number, number][], lines: Parameters<typeof reconcile>[2]) {
  const vectors: [number, Float32Array][] = [];
  const result = await reconcile('j', inputs, lines, params, (index, vector) => {
    vectors.push([index, vector]);
  });
  return { ...result, okIndices: vectors.map(([index]) => index), vectors: vectors.map(([, vector]) => vector) };
}

describe('reconcile', () => {
  test('sorts every input into ok, terminal or retryable, whatever order the lines come in', async () => {
    const lines = [ok(3), answered(1, 400), documented(4, 'batch_expired'), answered(0, 429), ok(2), answered(5, 503)];
    const result = await run([[0, 7]], lines);
    expect(result.ok).toBe(2);
    expect(result.okIndices).toEqual([3, 2]);
    expect(result.vectors).toEqual([Float32Array.of(3, 4), Float32Array.of(3, 4)]);
    expect(result.tokens).toBe(4);
    expect(result.terminal).toEqual([
      {
        index: 1,
        status: 400,
        code: 'x',
        message: 'failed 400',
        body: { error: { message: 'failed 400', type: 'invalid_request_error', code: 'x' } },
      },
    ]);
    expect(result.retryable.map((f) => [f.index, f.status ?? f.code])).toEqual([
      [4, 'batch_expired'],
      [0, 429],
      [5, 503],
      [6, 'missing_from_output'],
    ]);
  });

  test('reads vectors as create() does: raw float JSON is taken, NaN and wrong sizes are refused', async () => {
    const floats: BatchResultLine = {
      id: 'batch_req_4',
      error: null,
      custom_id: 'j-0-0',
      response: {
        status_code: 200,
        body: {
          object: 'list',
          data: [{ object: 'embedding', index: 0, embedding: [0.5, 1] }],
          model: 'm',
          usage: { prompt_tokens: 1, total_tokens: 1 },
        },
      },
    };
    const result = await run([[0, 3]], [floats, ok(1, [1, 2, 3]), ok(2, [NaN, 1])]);
    expect(result.okIndices).toEqual([0]);
    expect(result.vectors[0]).toEqual(Float32Array.of(0.5, 1));
    expect(result.terminal.map((f) => [f.index, f.code])).toEqual([
      [1, 'invalid_response'],
      [2, 'invalid_response'],
    ]);
    expect(result.terminal[0]!.message).toMatch(/has 3 dimensions, expected 2/);
    expect(result.terminal[1]!.message).toMatch(/is not a finite number/);
  });

  test('ignores lines of other jobs, inputs outside the batch, and a second line for one input', async () => {
    const result = await run([[0, 2]], [ok(0), answered(0, 400), ok(1, [1, 0], 'other'), ok(9)]);
    expect(result.okIndices).toEqual([0]);
    expect(result.terminal).toEqual([]);
    expect(result.retryable.map((f) => f.index)).toEqual([1]);
  });

  test('hands each vector over as its line is read, from an async iterable, before reading the next', async () => {
    const events: string[] = [];
    async function* lines() {
      events.push('line 1');
      yield ok(1);
      events.push('line 0');
      yield ok(0);
    }
    const result = await reconcile('j', [[0, 2]], lines(), params, async (index) => {
      events.push(`vector ${index}`);
    });
    expect(events).toEqual(['line 1', 'vector 1', 'line 0', 'vector 0']);
    expect(result.ok).toBe(2);
  });

  test('a vector the caller cannot store stops the reconciliation with its error', async () => {
    const full = new Error('no space left');
    await expect(
      reconcile('j', [[0, 2]], [ok(0), ok(1)], params, () => {
        throw full;
      }),
    ).rejects.toBe(full);
  });
});
