import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { InvalidArgumentError } from '../src/errors.js';
import { cosineSimilarity, dot, normalize, topK } from '../src/vector.js';
import type { Vector } from '../src/vector.js';
import { norm } from './support/vector-math.js';

const f32 = (...values: number[]) => new Float32Array(values);

/** Finite doubles over the whole range, so overflow and underflow paths are exercised. */
const anyDouble = fc.double({ noNaN: true, noDefaultInfinity: true });
const vectorPair = fc
  .integer({ min: 1, max: 24 })
  .chain((n) =>
    fc.tuple(fc.array(anyDouble, { minLength: n, maxLength: n }), fc.array(anyDouble, { minLength: n, maxLength: n })),
  );
const isNonZero = (v: Vector) => Array.from(v).some((x) => x !== 0);

describe('dot', () => {
  test.each<[string, Vector, Vector, number]>([
    ['number[] · number[]', [1, 2, 3], [4, 5, 6], 32],
    ['Float32Array · number[]', f32(1, 2, 3), [4, 5, 6], 32],
    ['Float32Array · Float32Array', f32(0.5, -2), f32(4, 1), 0],
    ['zero vector', [0, 0, 0], [1, 2, 3], 0],
    ['empty vectors', [], [], 0],
  ])('computes the sum of products (%s)', (_, a, b, expected) => {
    expect(dot(a, b)).toBe(expected);
  });
});

describe('cosineSimilarity', () => {
  test.each<[string, Vector, Vector, number]>([
    ['same direction', [1, 2, 3], [2, 4, 6], 1],
    ['opposite direction', [1, 2, 3], f32(-1, -2, -3), -1],
    ['orthogonal', [1, 0], [0, 1], 0],
    ['known angle', f32(1, 0), [0.6, 0.8], 0.6],
    ['components near overflow', [1e200, 1e200], [1e200, 0], Math.SQRT1_2],
    ['components near underflow', [1e-200, 1e-200], [1e-200, 0], Math.SQRT1_2],
  ])('measures the angle, not the length (%s)', (_, a, b, expected) => {
    expect(cosineSimilarity(a, b)).toBeCloseTo(expected, 6);
  });

  test.each<[string, Vector, Vector, number]>([
    ['a vector with itself', [9.8, 8.3, 3.4], [9.8, 8.3, 3.4], 1],
    ['a vector with its opposite', [6.4, 7.9], [-6.4, -7.9], -1],
  ])('clamps rounding overshoot to exactly ±1 (%s)', (_, a, b, expected) => {
    // Unclamped, these give ±1.0000000000000002.
    expect(cosineSimilarity(a, b)).toBe(expected);
  });

  test.each<[string, Vector, Vector]>([
    ['first is zero', [0, 0, 0], [1, 2, 3]],
    ['second is zero', f32(1, 2, 3), f32(0, 0, 0)],
    ['both are zero', [0, 0], f32(0, 0)],
    ['both are empty', [], []],
  ])('gives 0, never NaN, for a zero vector (%s)', (_, a, b) => {
    expect(cosineSimilarity(a, b)).toBe(0);
  });

  test('stays in [-1, 1] for any finite vectors', () => {
    fc.assert(
      fc.property(vectorPair, ([a, b]) => {
        const score = cosineSimilarity(a, b);
        expect(Number.isNaN(score)).toBe(false);
        expect(score).toBeGreaterThanOrEqual(-1);
        expect(score).toBeLessThanOrEqual(1);
      }),
    );
  });

  test('is symmetric', () => {
    fc.assert(
      fc.property(vectorPair, ([a, b]) => {
        expect(cosineSimilarity(a, b)).toBe(cosineSimilarity(b, a));
      }),
    );
  });

  test('of a non-zero vector with itself is 1', () => {
    fc.assert(
      fc.property(fc.float32Array({ noNaN: true, noDefaultInfinity: true, minLength: 1 }), (v) => {
        fc.pre(isNonZero(v));
        expect(cosineSimilarity(v, v)).toBeCloseTo(1, 12);
      }),
    );
  });
});

describe('length and content checks', () => {
  test.each<[string, (a: Vector, b: Vector) => number]>([
    ['dot', dot],
    ['cosineSimilarity', cosineSimilarity],
  ])('%s throws InvalidArgumentError naming both lengths when they differ', (name, fn) => {
    expect(() => fn([1, 2, 3], f32(1, 2, 3, 4))).toThrow(InvalidArgumentError);
    expect(() => fn([1, 2, 3], f32(1, 2, 3, 4))).toThrow(
      `${name}: \`a\` and \`b\` must have the same length (got 3 and 4)`,
    );
  });

  test.each<[string, () => unknown, string]>([
    ['dot with NaN', () => dot([1, Number.NaN], [1, 1]), 'dot: `a[1]` must be a finite number (got NaN)'],
    ['dot with Infinity', () => dot([1, 1], [Infinity, 1]), 'dot: `b[0]` must be a finite number (got Infinity)'],
    [
      'cosine with NaN',
      () => cosineSimilarity([1, 1], [1, Number.NaN]),
      'cosineSimilarity: `b[1]` must be a finite number (got NaN)',
    ],
    [
      'normalize with -Infinity',
      () => normalize([0, -Infinity]),
      'normalize: `v[1]` must be a finite number (got -Infinity)',
    ],
    [
      'a hole',
      () => dot(Array.from<number>({ length: 2 }), [1, 1]),
      'dot: `a[0]` must be a finite number (got undefined)',
    ],
    [
      'a string vector',
      () => dot('abc' as unknown as number[], [1, 2, 3]),
      'dot: `a` must be a number[] or Float32Array (got string)',
    ],
    [
      'a Float64Array',
      () => normalize(new Float64Array(2) as unknown as number[]),
      'normalize: `v` must be a number[] or Float32Array (got Float64Array)',
    ],
  ])('rejects a bad element or vector with InvalidArgumentError naming it (%s)', (_, call, message) => {
    expect(call).toThrow(InvalidArgumentError);
    expect(call).toThrow(message);
  });
});

describe('normalize', () => {
  test('returns a new number[] for a number[], leaving the input untouched', () => {
    const input = [3, 4];
    const out = normalize(input);
    expect(Array.isArray(out)).toBe(true);
    expect(out).not.toBe(input);
    expect(out[0]).toBeCloseTo(0.6, 15);
    expect(out[1]).toBeCloseTo(0.8, 15);
    expect(input).toEqual([3, 4]);
  });

  test('returns a new Float32Array for a Float32Array, leaving the input untouched', () => {
    const input = f32(3, 4);
    const out = normalize(input);
    expect(out).toBeInstanceOf(Float32Array);
    expect(out).not.toBe(input);
    expect(out.buffer).not.toBe(input.buffer);
    expect(Array.from(out)).toEqual([Math.fround(0.6), Math.fround(0.8)]);
    expect(Array.from(input)).toEqual([3, 4]);
  });

  test.each<[string, Vector]>([
    ['number[]', [0, 0, 0]],
    ['Float32Array', f32(0, 0, 0)],
    ['negative zeros', [-0, -0]],
    ['empty', []],
  ])('keeps a zero vector zero, never NaN (%s)', (_, v) => {
    const out = normalize(v);
    expect(out).not.toBe(v);
    expect(out.length).toBe(v.length);
    expect(Array.from(out).every((x) => x === 0)).toBe(true);
  });

  test.each<[string, number[]]>([
    ['near overflow', [3e300, 4e300]],
    ['near underflow', [3e-300, 4e-300]],
    ['subnormal', [3 * Number.MIN_VALUE, 4 * Number.MIN_VALUE]],
  ])('keeps precision for extreme magnitudes (%s)', (_, v) => {
    const out = normalize(v);
    expect(out[0]).toBeCloseTo(0.6, 12);
    expect(out[1]).toBeCloseTo(0.8, 12);
  });

  test('gives L2 norm 1 for any non-zero number[]', () => {
    fc.assert(
      fc.property(fc.array(anyDouble, { minLength: 1, maxLength: 64 }), (v) => {
        fc.pre(isNonZero(v));
        expect(Math.abs(norm(normalize(v)) - 1)).toBeLessThan(1e-12);
      }),
    );
  });

  test('gives L2 norm 1 (float32 precision) for any non-zero Float32Array', () => {
    fc.assert(
      fc.property(fc.float32Array({ noNaN: true, noDefaultInfinity: true, minLength: 1, maxLength: 64 }), (v) => {
        fc.pre(isNonZero(v));
        expect(Math.abs(norm(normalize(v)) - 1)).toBeLessThan(1e-6);
      }),
    );
  });

  test('keeps the direction: cosine with the input is 1', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 64 }), (v) => {
        fc.pre(isNonZero(v));
        expect(cosineSimilarity(normalize(v), v)).toBeCloseTo(1, 12);
      }),
    );
  });
});

describe('topK', () => {
  // Three 2-d rows: along x, along y, and at 53° from x.
  const matrix = f32(1, 0, 0, 1, 0.6, 0.8);

  test('returns the k most similar rows best first, scored by cosine', () => {
    const hits = topK([2, 0], matrix, 2);
    expect(hits.map((h) => h.index)).toEqual([0, 2]);
    expect(hits[0]!.score).toBe(1);
    expect(hits[1]!.score).toBeCloseTo(0.6, 6);
  });

  test('accepts a Float32Array query as well as a number[]', () => {
    expect(topK(f32(0, 3), matrix, 3)).toEqual(topK([0, 3], matrix, 3));
  });

  test('returns every row when k exceeds the row count', () => {
    expect(topK([1, 1], matrix, 10).map((h) => h.index)).toEqual([2, 0, 1]);
  });

  test('returns nothing for a matrix with no rows', () => {
    expect(topK([1, 1], new Float32Array(0), 3)).toEqual([]);
  });

  test('puts the lower index first when scores tie', () => {
    const tied = f32(0, 1, 1, 0, 2, 0, 0, 0, 3, 0);
    expect(topK([1, 0], tied, 4)).toEqual([
      { index: 1, score: 1 },
      { index: 2, score: 1 },
      { index: 4, score: 1 },
      { index: 0, score: 0 },
    ]);
  });

  test('scores a zero query or a zero row 0, never NaN', () => {
    expect(topK([0, 0], matrix, 3).map((h) => h.score)).toEqual([0, 0, 0]);
    expect(topK([1, 0], f32(0, 0, -1, 0), 2)).toEqual([
      { index: 0, score: 0 },
      { index: 1, score: -1 },
    ]);
  });

  test.each<[string, () => unknown, string]>([
    ['k = 0', () => topK([1, 0], matrix, 0), 'topK: `k` must be an integer ≥ 1 (got 0)'],
    ['k negative', () => topK([1, 0], matrix, -2), 'topK: `k` must be an integer ≥ 1 (got -2)'],
    ['k fractional', () => topK([1, 0], matrix, 1.5), 'topK: `k` must be an integer ≥ 1 (got 1.5)'],
    ['k NaN', () => topK([1, 0], matrix, Number.NaN), 'topK: `k` must be an integer ≥ 1 (got NaN)'],
    ['k Infinity', () => topK([1, 0], matrix, Infinity), 'topK: `k` must be an integer ≥ 1 (got Infinity)'],
    ['k a string', () => topK([1, 0], matrix, '2' as unknown as number), 'topK: `k` must be an integer ≥ 1 (got 2)'],
    ['empty query', () => topK([], matrix, 1), 'topK: `query` must not be empty (got length 0)'],
    [
      'matrix not whole rows',
      () => topK([1, 0, 0, 0], matrix, 1),
      'topK: `matrix` length must be a multiple of the `query` length 4 (got matrix length 6)',
    ],
    [
      'matrix a number[]',
      () => topK([1, 0], [1, 0] as unknown as Float32Array, 1),
      'topK: `matrix` must be a Float32Array (got Array)',
    ],
    [
      'query a string',
      () => topK('ab' as unknown as number[], matrix, 1),
      'topK: `query` must be a number[] or Float32Array (got string)',
    ],
    [
      'NaN in the matrix',
      () => topK([1, 0], f32(1, 0, Number.NaN, 0), 1),
      'topK: `matrix[2]` must be a finite number (got NaN)',
    ],
    ['NaN in the query', () => topK([Number.NaN, 0], matrix, 1), 'topK: `query[0]` must be a finite number (got NaN)'],
  ])('rejects bad arguments with InvalidArgumentError naming them (%s)', (_, call, message) => {
    expect(call).toThrow(InvalidArgumentError);
    expect(call).toThrow(message);
  });

  test('equals a brute-force sort of cosineSimilarity over every row', () => {
    // Small integers make ties frequent, so the tie order is exercised too.
    const component = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.double({ min: -10, max: 10, noNaN: true }));
    const scenario = fc.integer({ min: 1, max: 6 }).chain((dim) =>
      fc.record({
        query: fc.array(component, { minLength: dim, maxLength: dim }),
        rows: fc.array(fc.array(component, { minLength: dim, maxLength: dim }), { maxLength: 40 }),
        k: fc.integer({ min: 1, max: 50 }),
      }),
    );
    fc.assert(
      fc.property(scenario, ({ query, rows, k }) => {
        const dim = query.length;
        const flat = new Float32Array(rows.flat());
        const expected = rows
          .map((_, index) => ({ index, score: cosineSimilarity(query, flat.subarray(index * dim, (index + 1) * dim)) }))
          .sort((x, y) => y.score - x.score || x.index - y.index)
          .slice(0, k);
        expect(topK(query, flat, k)).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });
});
