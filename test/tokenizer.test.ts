import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { cl100kTokenizer, tokenizerForModel, utf8ByteTokenizer } from '../src/index.js';

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
