import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { encodeFloat32Base64 } from '../src/index.js';
import { formatFloat32 } from '../src/server/encode.js';
import { spread } from '../src/server/embedding.js';
import { localHashEmbedding, localHashEmbeddingOfTokens } from '../src/server/index.js';
import { norm } from './support/vector-math.js';

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i]! * b[i]!;
  return dot;
}

/** Digits of a decimal's mantissa without leading or trailing zeros: 1000 has 1, 0.0120 has 2. */
function significantDigits(text: string): number {
  return text.replace(/e.*$/, '').replace(/[-.]/g, '').replace(/^0+/, '').replace(/0+$/, '').length;
}

describe('localHashEmbedding', () => {
  test('is deterministic: the same text gives the same vector, known bytes included', () => {
    const a = localHashEmbedding('The quick brown fox', 16);
    expect(localHashEmbedding('The quick brown fox', 16)).toEqual(a);
    // Pinned so a change to the features shows up here, not as silently different vectors.
    expect(encodeFloat32Base64(a)).toMatchInlineSnapshot(
      `"s53nPnky072RItM+qVnQvnulQLyFX6c+w5EAv/twcD1veJw9lRupvYN+LT7g0Zw9OoQqvmQPiTyPrc084jPSvQ=="`,
    );
  });

  test('texts that share words are closer than texts that share none', () => {
    const d = 384;
    const query = localHashEmbedding('how to bake sourdough bread at home', d);
    const related = localHashEmbedding('Sourdough bread needs a long bake in a hot oven.', d);
    const unrelated = localHashEmbedding('The telescope observed a distant galaxy cluster.', d);
    expect(cosine(query, related)).toBeGreaterThan(0.3);
    expect(Math.abs(cosine(query, unrelated))).toBeLessThan(0.15);
    expect(cosine(query, related)).toBeGreaterThan(cosine(query, unrelated) + 0.2);
  });

  test('function words weigh little: sharing nouns beats sharing "the", "and" and "with"', () => {
    const d = 384;
    const query = localHashEmbedding('bread dough rises with yeast', d);
    const nouns = localHashEmbedding(
      'Sourdough bread is leavened by a starter of wild yeast and lactic acid bacteria.',
      d,
    );
    const glue = localHashEmbedding('Brushing teeth twice a day with fluoride toothpaste helps prevent cavities.', d);
    expect(cosine(query, nouns)).toBeGreaterThan(cosine(query, glue) + 0.1);
    // Still a vector of its own, not the fallback every empty text shares.
    const hamlet = localHashEmbedding('to be or not to be', d);
    expect(Math.abs(norm(hamlet) - 1)).toBeLessThan(1e-6);
    expect(cosine(hamlet, localHashEmbedding('it is what it is', d))).toBeLessThan(0.5);
  });

  test('case, Unicode compatibility forms and punctuation do not change the words', () => {
    const d = 128;
    expect(localHashEmbedding('Hello, World!', d)).toEqual(localHashEmbedding('hello world', d));
    expect(localHashEmbedding('ｆｕｌｌｗｉｄｔｈ', d)).toEqual(localHashEmbedding('fullwidth', d));
  });

  test('word pieces count: a word is closer to its inflections than to an unrelated word', () => {
    const d = 256;
    const embed = localHashEmbedding('embedding', d);
    expect(cosine(embed, localHashEmbedding('embeddings', d))).toBeGreaterThan(
      cosine(embed, localHashEmbedding('telescope', d)) + 0.25,
    );
  });

  test('word order matters through bigrams, but only a little', () => {
    const d = 384;
    const ab = localHashEmbedding('red apple green pear', d);
    const ba = localHashEmbedding('green pear red apple', d);
    expect(ab).not.toEqual(ba);
    expect(cosine(ab, ba)).toBeGreaterThan(0.8);
  });

  test('text without letters or digits still gets its own unit vector', () => {
    const bang = localHashEmbedding('!!!', 32);
    const space = localHashEmbedding(' ', 32);
    expect(Math.abs(norm(bang) - 1)).toBeLessThan(1e-6);
    expect(Math.abs(norm(space) - 1)).toBeLessThan(1e-6);
    expect(bang).not.toEqual(space);
  });

  test('even a one-word text uses every dimension, as a dense model does', () => {
    for (const d of [384, 1536, 1000]) {
      const v = localHashEmbedding('hello', d);
      expect(v.filter((x) => x === 0).length).toBeLessThan(d * 0.01);
    }
  });

  test('every vector has L2 norm 1 and finite values, for any text and dimensions (property)', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, unit: 'grapheme' }), fc.integer({ min: 1, max: 512 }), (text, d) => {
        const v = localHashEmbedding(text, d);
        expect(v).toHaveLength(d);
        for (const x of v) expect(Number.isFinite(x)).toBe(true);
        expect(Math.abs(norm(v) - 1)).toBeLessThan(1e-5);
      }),
    );
  });

  test.each([0, -1, 1.5, Number.NaN])('dimensions %s throws naming the value', (d) => {
    expect(() => localHashEmbedding('x', d)).toThrow(`\`dimensions\` must be an integer >= 1 (got ${d})`);
  });
});

describe('spread', () => {
  test('is orthogonal for any length: dot products and norms are kept (property)', () => {
    const vectors = fc
      .integer({ min: 1, max: 300 })
      .chain((n) =>
        fc.tuple(
          fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: n, maxLength: n }),
          fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: n, maxLength: n }),
        ),
      );
    fc.assert(
      fc.property(vectors, ([a, b]) => {
        const dot = (x: ArrayLike<number>, y: ArrayLike<number>) => Array.from(x).reduce((s, v, i) => s + v * y[i]!, 0);
        const sa = Float64Array.from(a);
        const sb = Float64Array.from(b);
        spread(sa);
        spread(sb);
        expect(Math.abs(dot(sa, sb) - dot(a, b))).toBeLessThan(1e-9);
        expect(Math.abs(dot(sa, sa) - dot(a, a))).toBeLessThan(1e-9);
      }),
    );
  });
});

describe('localHashEmbeddingOfTokens', () => {
  test('token arrays sharing ids are closer than disjoint ones, with norm 1', () => {
    const a = localHashEmbeddingOfTokens([10, 20, 30, 40], 256);
    const b = localHashEmbeddingOfTokens([10, 20, 30, 99], 256);
    const c = localHashEmbeddingOfTokens([1, 2, 3, 4], 256);
    expect(Math.abs(norm(a) - 1)).toBeLessThan(1e-6);
    expect(cosine(a, b)).toBeGreaterThan(cosine(a, c) + 0.3);
  });
});

describe('formatFloat32', () => {
  test('prints the shortest decimal that reads back as the same float32 (property)', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), (x) => {
        const text = formatFloat32(x);
        expect(Math.fround(Number(text))).toBe(Math.fround(x) === 0 ? 0 : x);
        expect(significantDigits(text)).toBeLessThanOrEqual(9);
      }),
    );
  });

  test('prints the same number as the shortest toPrecision search, in the fast range too (property)', () => {
    const shortest = (x: number) => {
      for (let d = 1; d <= 9; d++) if (Math.fround(Number(x.toPrecision(d))) === x) return Number(x.toPrecision(d));
      return Number.NaN;
    };
    const embeddingLike = fc.float({ min: -1, max: 1, noNaN: true });
    const powersOfTen = fc.integer({ min: -6, max: 6 }).map((e) => Math.fround(10 ** e));
    fc.assert(
      fc.property(fc.oneof(embeddingLike, powersOfTen, fc.float({ noNaN: true, noDefaultInfinity: true })), (x) => {
        expect(Number(formatFloat32(x))).toBe(shortest(x) || 0);
      }),
      { numRuns: 5000 },
    );
  });

  test.each([
    [Math.fround(-0.099287055), '-0.099287055'],
    [Math.fround(9.9999995), '9.999999'],
    [Math.fround(0.00999999977), '0.01'],
    [Math.fround(123.456), '123.456'],
    [Math.fround(0.5), '0.5'],
    [Math.fround(1e-7), '1e-7'],
  ])('%d is written %s', (x, text) => {
    expect(formatFloat32(x)).toBe(text);
  });
});
