import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { cl100kTokenizer, tokenizerForModel, utf8ByteTokenizer } from '../src/index.js';
import { CL100K_MAX_PIECE, CL100K_TOKENS_PER_CUT } from '../src/tokenizer.js';
import { exactCl100kCount, watchBpe } from './support/bpe-watch.js';

describe('cl100kTokenizer', () => {
  test.each([
    ['hello world', 2],
    ['', 0],
    ['The quick brown fox jumps over the lazy dog.', 10],
  ])('counts %j as %i tokens', (text, tokens) => {
    expect(cl100kTokenizer.count(text)).toBe(tokens);
  });

  test('counts special-token text as plain text instead of throwing', () => {
    expect(cl100kTokenizer.count('a <|endoftext|> b')).toBeGreaterThan(3);
  });

  test('truncates to at most the limit and leaves short texts alone', () => {
    const text = 'one two three four five six seven eight nine ten';
    expect(cl100kTokenizer.truncate(text, 100)).toBe(text);
    const cut = cl100kTokenizer.truncate(text, 4);
    expect(cut).toBe('one two three four');
    expect(cl100kTokenizer.count(cut)).toBe(4);
  });

  test('cuts inside a character never: the cut is a prefix of the text within the limit, for any text', () => {
    // '😀' alone is 2 tokens, but inside '😀😀😀😀' its bytes merge across token boundaries.
    expect(cl100kTokenizer.truncate('😀😀😀😀', 1)).toBe('');
    expect(cl100kTokenizer.truncate('😀😀😀😀', 2)).toBe('😀');
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 })),
        fc.integer({ min: 1, max: 12 }),
        (text, max) => {
          const cut = cl100kTokenizer.truncate(text, max);
          expect(text.startsWith(cut)).toBe(true);
          expect(cl100kTokenizer.count(cut)).toBeLessThanOrEqual(max);
          if (cl100kTokenizer.count(text) <= max) expect(cut).toBe(text);
          const first = Array.from(text)[0];
          if (first !== undefined && cl100kTokenizer.count(first) <= max) expect(cut).not.toBe('');
        },
      ),
    );
  });
});

/** Text as people write it: words, numbers, punctuation, short runs of spaces and newlines. */
const ordinaryText = fc
  .array(
    fc.oneof(
      fc.constantFrom('the', ' quick', ' Brown', ' fox', "'s", ' naïve', ' 東京', ' ünïcödé', ' 🙂', ' <|endoftext|>'),
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }),
      fc.integer({ min: 0, max: 1e7 }).map((n) => ` ${n}`),
      fc.constantFrom('.', ',', ' —', '!?', ' (', ')', '\n', '\n\n', '  ', '\t', ' \r\n', '    ', '":'),
    ),
    { maxLength: 900 },
  )
  .map((parts) => parts.join(''));

/** Runs that cl100k's pre-tokenizer makes into one piece each, longer than CL100K_MAX_PIECE. */
const pathologicalRuns: [string, string][] = [
  ["'a'", 'a'.repeat(5000)],
  ['spaces', ' '.repeat(5000)],
  ['newlines', '\n'.repeat(5000)],
  ['dashes', '-'.repeat(5000)],
  ['a word then spaces', `x${' '.repeat(3000)}y`],
  ['CJK', '日本語のテキスト'.repeat(400)],
  ['emoji (surrogate pairs)', '😀🙂'.repeat(1500)],
  ['punctuation then newlines', `!${'\n'.repeat(2000)}`],
  // Long pieces with no run of one kind of character longer than 300: a text without a long
  // run is counted in one call, so these must still be seen as possibly holding one.
  ['ASCII and ideographic spaces in turn', ' \u3000'.repeat(1000)],
  ['a space, half a piece of punctuation, half a piece of newlines', ` ${'!'.repeat(300)}${'\n'.repeat(300)}`],
];

describe('cl100kTokenizer cost', () => {
  test('BPE is never handed a piece longer than CL100K_MAX_PIECE, whatever the text', () => {
    for (const [, run] of pathologicalRuns) {
      const text = `${run.slice(0, 12_000)} and after it ${run.slice(0, 700)}`;
      const watched = watchBpe(() => {
        cl100kTokenizer.count(text);
        cl100kTokenizer.countUpTo(text, 50);
        cl100kTokenizer.truncate(text, 300);
      });
      expect(watched.longestPiece).toBeGreaterThan(0);
      expect(watched.longestPiece).toBeLessThanOrEqual(CL100K_MAX_PIECE);
    }
  });

  test('countUpTo() stops counting soon after the limit: a 2 MB input costs what its first tokens cost', () => {
    for (const text of ['word '.repeat(400_000), 'a'.repeat(2_000_000), 'lorem ipsum, dolor. '.repeat(100_000)]) {
      let count = 0;
      const watched = watchBpe(() => {
        count = cl100kTokenizer.countUpTo(text, 100);
      });
      expect(count).toBeGreaterThan(100);
      expect(watched.charactersCounted).toBeLessThan(10_000);
    }
    expect(cl100kTokenizer.countUpTo('hello world', 2)).toBe(2);
    expect(cl100kTokenizer.countUpTo('hello world', 1)).toBeGreaterThan(1);
  });

  test('truncate() of a 2 MB input counts a bounded stretch of it, not the whole text', () => {
    for (const text of ['word '.repeat(400_000), 'a'.repeat(2_000_000)]) {
      let cut = '';
      const watched = watchBpe(() => {
        cut = cl100kTokenizer.truncate(text, 1000);
      });
      expect(text.startsWith(cut)).toBe(true);
      expect(cl100kTokenizer.count(cut)).toBeLessThanOrEqual(1000);
      expect(cl100kTokenizer.count(cut)).toBeGreaterThan(950);
      expect(watched.charactersCounted).toBeLessThan(120_000);
    }
  });

  test('counts ordinary text exactly as gpt-tokenizer does, long texts included', () => {
    fc.assert(
      fc.property(ordinaryText, (text) => {
        const exact = exactCl100kCount(text);
        expect(cl100kTokenizer.count(text)).toBe(exact);
        expect(cl100kTokenizer.countUpTo(text, exact)).toBe(exact);
        if (exact > 0) expect(cl100kTokenizer.countUpTo(text, exact - 1)).toBeGreaterThan(exact - 1);
      }),
      { numRuns: 150 },
    );
  });

  test.each(pathologicalRuns)(
    `counts a run of %s at least exactly and at most ${3 * CL100K_TOKENS_PER_CUT} tokens over per cut`,
    (_, text) => {
      const exact = exactCl100kCount(text);
      const cuts = Math.ceil(text.length / CL100K_MAX_PIECE);
      const count = cl100kTokenizer.count(text);
      expect(count).toBeGreaterThanOrEqual(exact);
      expect(count).toBeLessThanOrEqual(exact + 3 * CL100K_TOKENS_PER_CUT * cuts);
    },
  );

  test('runs of random letters count at least exactly and within the bound', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(
          'abcdefghijklmnopqrstuvwxyz',
          'ab',
          'etaoinshr',
          'ABCDEF',
          '=-',
          '!.,;',
          ' \t',
          ' \n',
          'абвгд',
          '的一是不了',
        ),
        fc.integer({ min: CL100K_MAX_PIECE + 1, max: 2500 }),
        fc.integer(),
        (alphabet, length, seed) => {
          const chars = Array.from(alphabet);
          let state = seed >>> 0;
          let text = '';
          for (let i = 0; i < length; i++) {
            state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
            text += chars[(state >>> 8) % chars.length];
          }
          const exact = exactCl100kCount(text);
          const count = cl100kTokenizer.count(text);
          expect(count).toBeGreaterThanOrEqual(exact);
          expect(count).toBeLessThanOrEqual(
            exact + 3 * CL100K_TOKENS_PER_CUT * Math.ceil(text.length / CL100K_MAX_PIECE),
          );
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('utf8ByteTokenizer', () => {
  test('never undercounts cl100k, for any text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (text) => {
        expect(utf8ByteTokenizer.count(text)).toBeGreaterThanOrEqual(cl100kTokenizer.count(text));
      }),
    );
  });

  test('truncates at a character boundary', () => {
    expect(utf8ByteTokenizer.truncate('héllo', 2)).toBe('h');
    expect(utf8ByteTokenizer.truncate('héllo', 3)).toBe('hé');
    expect(utf8ByteTokenizer.truncate('abc', 10)).toBe('abc');
  });
});

test('tokenizerForModel picks cl100k for OpenAI embedding models and bytes for the rest', () => {
  expect(tokenizerForModel('text-embedding-3-small')).toBe(cl100kTokenizer);
  expect(tokenizerForModel('text-embedding-3-large')).toBe(cl100kTokenizer);
  expect(tokenizerForModel('text-embedding-ada-002')).toBe(cl100kTokenizer);
  expect(tokenizerForModel('nomic-embed-text')).toBe(utf8ByteTokenizer);
});
