import { describe, expect, test } from 'vitest';
import { InvalidArgumentError } from '../src/errors.js';
import { BatchBuilder, Deduper, halves, packBatches, prepareText, readItem, type Unit } from '../src/batch/planner.js';
import { cl100kTokenizer, utf8ByteTokenizer } from '../src/tokenizer.js';
import { watchBpe } from './support/bpe-watch.js';

const rules = { tokenizer: cl100kTokenizer, maxTokensPerInput: 8192, truncate: false };
const unit = (text: string, tokens: number, index = 0): Unit => ({
  text,
  tokens,
  bound: tokens,
  bytes: undefined,
  indices: [index],
  ids: [undefined],
});
const counted = (text: string, tokens: number) => ({ text, tokens, bound: tokens, bytes: undefined });

describe('prepareText', () => {
  test.each([
    ['', /`input\[3\]` must not be an empty string \(got ""\)/],
    [42, /`input\[3\]` must be a string \(got number 42\)/],
    [null, /`input\[3\]` must be a string \(got null\)/],
    [[1, 2], /`input\[3\]` must be a string \(got an array of length 2\)/],
  ])('rejects %j with an error naming the index and the value', (value, message) => {
    expect(() => prepareText(value, 'input[3]', rules)).toThrow(InvalidArgumentError);
    expect(() => prepareText(value, 'input[3]', rules)).toThrow(message);
  });

  test('an input over maxTokensPerInput is an error naming its index, its size and the limit', () => {
    const text = 'word '.repeat(20);
    expect(cl100kTokenizer.count(text)).toBe(21);
    expect(() => prepareText(text, 'input[7]', { ...rules, maxTokensPerInput: 10 })).toThrow(
      '`input[7]` has 21 tokens, over `maxTokensPerInput` (10); shorten it or pass `truncate: true`',
    );
  });

  test('truncate: true cuts an input to the limit with the tokenizer', () => {
    const text = 'word '.repeat(20);
    const prepared = prepareText(text, 'input[0]', { ...rules, maxTokensPerInput: 10, truncate: true });
    expect(prepared.tokens).toBe(10);
    expect(cl100kTokenizer.count(prepared.text)).toBe(10);
    expect(text.startsWith(prepared.text)).toBe(true);
  });

  test.each([['日本語のテキスト'.repeat(30)], ['🙂🙃'.repeat(40)], ['ünïcödé '.repeat(30)], ['𖩃𝘶𩬰'.repeat(10)]])(
    'truncated multi-byte text %# is a non-empty prefix of whole characters within the limit',
    (text) => {
      for (const tokenizer of [cl100kTokenizer, utf8ByteTokenizer]) {
        for (const max of [4, 5, 7, 16]) {
          const prepared = prepareText(text, 'input[0]', { tokenizer, maxTokensPerInput: max, truncate: true });
          expect(prepared.tokens).toBeLessThanOrEqual(max);
          expect(tokenizer.count(prepared.text)).toBe(prepared.tokens);
          expect(prepared.text.length).toBeGreaterThan(0);
          expect(text.startsWith(prepared.text)).toBe(true);
        }
      }
    },
  );

  test('a cut is the same whatever was cut before, so a rerun finds its cache keys', () => {
    // Cuts inside a 4-byte character: cl100k spells 𐀀 with more than one token.
    const [first, second] = ['ଅⴉࠂᎸᴁ𐀀𝀀⠂𐀀 ', '𐀀Å⠂𐀀၀𝀀𐀀𝀀𐀀 '];
    const cut = (text: string, max: number) =>
      prepareText(text, 'input[0]', { ...rules, maxTokensPerInput: max, truncate: true }).text;
    const alone = cut(first, 29);
    for (let max = 20; max <= 30; max++) cut(second, max);
    expect(cut(first, 29)).toBe(alone);
    expect(alone).toBe('ଅⴉࠂᎸᴁ𐀀𝀀⠂𐀀');
  });

  test('an input whose first character alone is over the limit cannot be cut: error naming its index', () => {
    expect(() => prepareText('🙂 smile', 'input[2]', { ...rules, maxTokensPerInput: 1, truncate: true })).toThrow(
      '`input[2]` cannot be cut to `maxTokensPerInput` (1): its first character alone takes more tokens',
    );
  });

  test.each([[Number.NaN], [-1], [1.5]])('a tokenizer answering %d is an error naming the input', (count) => {
    const tokenizer = { count: () => count, truncate: (text: string) => text };
    expect(() => prepareText('abc', 'input[4]', { ...rules, tokenizer })).toThrow(
      `\`tokenizer.count()\` must return an integer ≥ 0 for \`input[4]\` (got number ${count})`,
    );
  });

  test('a huge input is rejected after counting a bounded stretch of it, the error saying "more than"', () => {
    const text = 'word '.repeat(400_000);
    const watched = watchBpe(() => {
      expect(() => prepareText(text, 'input[5]', rules)).toThrow(
        '`input[5]` has more than 9216 tokens, over `maxTokensPerInput` (8192); shorten it or pass `truncate: true`',
      );
    });
    expect(watched.charactersCounted).toBeLessThan(100_000);
  });

  test('a huge run of one character is cut to the limit after counting a bounded stretch of it', () => {
    const text = 'a'.repeat(2_000_000);
    let prepared: { text: string; tokens: number | undefined } = { text: '', tokens: 0 };
    const watched = watchBpe(() => {
      prepared = prepareText(text, 'input[0]', { ...rules, truncate: true });
    });
    expect(text.startsWith(prepared.text)).toBe(true);
    expect(prepared.tokens).toBeLessThanOrEqual(8192);
    expect(prepared.tokens).toBeGreaterThan(8000);
    expect(cl100kTokenizer.count(prepared.text)).toBe(prepared.tokens);
    expect(watched.longestPiece).toBeLessThanOrEqual(512);
    expect(watched.charactersCounted).toBeLessThan(600_000);
  });

  test('a plugged tokenizer whose cut does not fit gets the longest whole-character prefix that does', () => {
    // Counts code points; its truncate() answers nonsense, so the planner searches on its own.
    const tokenizer = { count: (text: string) => Array.from(text).length, truncate: () => '' };
    for (const max of [1, 2, 3, 7]) {
      const prepared = prepareText('𝒜b𝒞d'.repeat(3), 'input[0]', { tokenizer, maxTokensPerInput: max, truncate: true });
      expect(prepared).toEqual({ ...counted(Array.from('𝒜b𝒞d'.repeat(3)).slice(0, max).join(''), max) });
    }
  });

  test('counts tokens with the given tokenizer', () => {
    const doubled = { count: (text: string) => 2 * text.length, truncate: (text: string) => text };
    expect(prepareText('héllo', 'input[0]', { ...rules, tokenizer: doubled }).tokens).toBe(10);
  });
});

describe('readItem', () => {
  test('accepts strings and { id, text } objects', () => {
    expect(readItem('a', 0)).toEqual({ id: undefined, text: 'a', field: 'input[0]' });
    expect(readItem({ id: 'x', text: 'b' }, 4)).toEqual({ id: 'x', text: 'b', field: 'input[4].text' });
  });

  test.each([
    [5, /`input\[2\]` must be a string or an object \{ id, text \} \(got number 5\)/],
    [{ id: 'x' }, /`input\[2\]` must be a string or an object/],
    [{ id: 7, text: 'a' }, /`input\[2\]\.id` must be a string \(got number 7\)/],
  ])('rejects %j naming the index', (item, message) => {
    expect(() => readItem(item, 2)).toThrow(message);
  });
});

describe('Deduper', () => {
  test('merges identical texts into one unit that lists every position and id', () => {
    const deduper = new Deduper(true);
    const first = deduper.add(0, 'a', counted('same', 1));
    expect(deduper.add(1, undefined, counted('other', 1))).toBeDefined();
    expect(deduper.add(2, 'c', counted('same', 1))).toBeUndefined();
    expect(first).toEqual({ ...counted('same', 1), indices: [0, 2], ids: ['a', 'c'] });
  });

  test('a closed unit takes no more inputs: the next identical text starts a new unit', () => {
    const deduper = new Deduper(true);
    const first = deduper.add(0, undefined, counted('same', 1))!;
    deduper.close(first);
    const second = deduper.add(1, undefined, counted('same', 1));
    expect(second).toBeDefined();
    expect(first.indices).toEqual([0]);
  });

  test('dedupe: false gives every input its own unit', () => {
    const deduper = new Deduper(false);
    expect(deduper.add(0, undefined, counted('same', 1))).toBeDefined();
    expect(deduper.add(1, undefined, counted('same', 1))).toBeDefined();
  });
});

describe('packing requests', () => {
  test('a request closes at maxInputsPerRequest', () => {
    const units = Array.from({ length: 5000 }, (_, i) => unit(`t${i}`, 1, i));
    const batches = packBatches(units, { maxInputsPerRequest: 2048, maxTokensPerRequest: 1e9 }, utf8ByteTokenizer);
    expect(batches.map((b) => b.units.length)).toEqual([2048, 2048, 904]);
  });

  test('a request closes before maxTokensPerRequest would be exceeded', () => {
    const units = Array.from({ length: 10 }, (_, i) => unit(`t${i}`, 40, i));
    const batches = packBatches(units, { maxInputsPerRequest: 2048, maxTokensPerRequest: 100 }, utf8ByteTokenizer);
    expect(batches.map((b) => b.tokens)).toEqual([80, 80, 80, 80, 80]);
  });

  test('whichever limit comes first closes the request, and units keep their order', () => {
    const sizes = [30, 30, 30, 5, 5, 5, 5, 90, 10];
    const units = sizes.map((tokens, i) => unit(`t${i}`, tokens, i));
    const batches = packBatches(units, { maxInputsPerRequest: 3, maxTokensPerRequest: 95 }, utf8ByteTokenizer);
    expect(batches.map((b) => b.units.map((u) => u.indices[0]))).toEqual([[0, 1, 2], [3, 4, 5], [6, 7], [8]]);
  });

  test('with one input per request, every add closes exactly the request of that input', () => {
    const builder = new BatchBuilder({ maxInputsPerRequest: 1, maxTokensPerRequest: 10 }, utf8ByteTokenizer);
    expect(builder.add(unit('a', 5)).map((b) => b.units.map((u) => u.text))).toEqual([['a']]);
    expect(builder.add(unit('b', 9)).map((b) => b.units.map((u) => u.text))).toEqual([['b']]);
    expect(builder.size).toBe(0);
  });

  test('a unit larger than the token budget goes alone', () => {
    const batches = packBatches(
      [unit('a', 5), unit('b', 500), unit('c', 5)],
      { maxInputsPerRequest: 10, maxTokensPerRequest: 100 },
      utf8ByteTokenizer,
    );
    expect(batches.map((b) => b.units.map((u) => u.text))).toEqual([['a'], ['b'], ['c']]);
  });

  test('halves splits a request by count and recounts tokens', () => {
    const [left, right] = halves({ units: [unit('a', 1), unit('b', 2), unit('c', 3)], tokens: 6 });
    expect(left.units.map((u) => u.text)).toEqual(['a', 'b']);
    expect(left.tokens).toBe(3);
    expect(right.units.map((u) => u.text)).toEqual(['c']);
    expect(right.tokens).toBe(3);
  });
});
