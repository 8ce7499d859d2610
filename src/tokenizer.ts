import { createRequire } from 'node:module';

type Cl100kApi = typeof import('gpt-tokenizer/encoding/cl100k_base');
interface Cl100k {
  api: Cl100kApi;
  /** The pre-tokenizer gpt-tokenizer splits cl100k text with, before BPE. */
  split: RegExp;
}
let cl100k: Cl100k | undefined;

/**
 * Set by the build (tsup.config.ts) to the file beside the built module that bundles cl100k
 * alone, so an install carries 1 MB of one encoding instead of gpt-tokenizer's 30 MB of all of
 * them; undefined when this file runs from src/, which loads gpt-tokenizer itself.
 */
declare const __CL100K_BUNDLE__: string | undefined;

/**
 * Loads cl100k's ranks on first use: parsing them takes about a second, which code that
 * never counts a token (a single create(), `embedrail --help`) should not pay at import.
 */
function loadCl100k(): Cl100k {
  if (cl100k === undefined) {
    const require = createRequire(import.meta.url);
    if (typeof __CL100K_BUNDLE__ === 'string') {
      cl100k = require(__CL100K_BUNDLE__) as Cl100k;
    } else {
      const api = require('gpt-tokenizer/encoding/cl100k_base') as Cl100kApi;
      const { CL100K_TOKEN_SPLIT_REGEX } = require('gpt-tokenizer/encodingParams/constants') as {
        CL100K_TOKEN_SPLIT_REGEX: RegExp;
      };
      cl100k = { api, split: CL100K_TOKEN_SPLIT_REGEX };
    }
  }
  return cl100k;
}

/**
 * Counts and cuts text in a model's tokens. The batch engine uses it to close requests
 * under a token budget; plug your own for models whose tokenizer differs.
 */
export interface Tokenizer {
  /** Number of tokens `text` occupies. Must never undercount what the server counts. */
  count(text: string): number;
  /** `text` cut to at most `maxTokens` tokens. */
  truncate(text: string, maxTokens: number): string;
  /**
   * Optional: `count(text)` when that is at most `limit`, else any number above `limit`, found
   * without counting the rest. The batch engine uses it so a huge input costs no more to reject
   * or cut than its first `limit` tokens.
   */
  countUpTo?(text: string, limit: number): number;
}

/**
 * How far past a limit an input is counted before counting stops: a 10 MB input then costs no
 * more to reject or cut than its first few thousand tokens (tens of ms), and an error can still
 * name the exact size of a near miss.
 */
export const COUNT_PAST_LIMIT = 1024;

/** `tokenizer.countUpTo(text, limit)`, or its full count when it has no such method. */
export function countUpTo(tokenizer: Tokenizer, text: string, limit: number): number {
  return typeof tokenizer.countUpTo === 'function' ? tokenizer.countUpTo(text, limit) : tokenizer.count(text);
}

/**
 * Longest piece, in UTF-16 code units, that cl100k's BPE is given at once. BPE on one piece
 * costs O(n²) in gpt-tokenizer (16 s for 'a' × 160,000), and cl100k's pre-tokenizer makes any
 * run of letters, of punctuation or of whitespace one piece. Natural text has no piece this
 * long, so its counts stay exact; longer pieces are counted in chunks of this size.
 */
export const CL100K_MAX_PIECE = 512;
/**
 * Tokens added per cut of an over-long piece. A cut stops merges across it, which usually adds
 * tokens but can save one or two; this margin keeps the count an upper bound (the largest saving
 * seen over a million random cuts was 2) at a cost of a few tokens per 512 characters of runs.
 */
export const CL100K_TOKENS_PER_CUT = 2;
/** Whole pieces are counted together up to about this length, so countUpTo() can stop early. */
const RUN_LENGTH = 2048;

/** A stretch of text counted in one call, and the tokens added for a cut before it. */
interface Span {
  start: number;
  end: number;
  extra: number;
}

function splitsPair(text: string, at: number): boolean {
  const before = text.charCodeAt(at - 1);
  const after = text.charCodeAt(at);
  return before >= 0xd800 && before <= 0xdbff && after >= 0xdc00 && after <= 0xdfff;
}

/**
 * Cuts `text` into stretches of whole pre-tokenizer pieces (at most about RUN_LENGTH long) and
 * chunks of over-long pieces (at most CL100K_MAX_PIECE, never between a surrogate pair). Every
 * span is counted on its own: gpt-tokenizer splits it into the same pieces as in the whole text,
 * because the pre-tokenizer's only look-ahead, `\s+(?!\S)` and `\s+$`, match whitespace to the
 * same end either way.
 */
function* spans(text: string, split: RegExp): Generator<Span> {
  let runStart = 0;
  for (const match of text.matchAll(split)) {
    const start = match.index;
    const end = start + match[0].length;
    if (end - start <= CL100K_MAX_PIECE) {
      if (end - runStart >= RUN_LENGTH) {
        yield { start: runStart, end, extra: 0 };
        runStart = end;
      }
      continue;
    }
    if (start > runStart) yield { start: runStart, end: start, extra: 0 };
    for (let from = start; from < end;) {
      let to = Math.min(from + CL100K_MAX_PIECE, end);
      if (to < end && splitsPair(text, to)) to--;
      yield { start: from, end: to, extra: from === start ? 0 : CL100K_TOKENS_PER_CUT };
      from = to;
    }
    runStart = end;
  }
  if (runStart < text.length) yield { start: runStart, end: text.length, extra: 0 };
}

// The embeddings endpoint treats `<|endoftext|>` and the like as plain text; gpt-tokenizer
// throws on them unless told otherwise, which would turn a user's text into a crash.
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

function countSpan(api: Cl100kApi, text: string, span: Span): number {
  return api.countTokens(text.slice(span.start, span.end), PLAIN_TEXT) + span.extra;
}

/**
 * Whether `text` may hold an over-long piece. Every such piece holds a run of at least half
 * CL100K_MAX_PIECE non-space (`\S`) or space (`\s`) characters: a piece is at most one leading
 * character, a run of non-spaces and a run of spaces. A loop, not that regex: at every position
 * it would try both runs, which cost half as much as counting. Spaces other than ASCII ones are
 * all above 0x7f, so a run of `\S` has no ASCII space in it, and a run of `\s` no printable
 * ASCII: counting those two runs overestimates both, and misses none.
 */
function mayHoldLongPiece(text: string): boolean {
  const run = CL100K_MAX_PIECE / 2;
  let noAsciiSpace = 0;
  let noPrintableAscii = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const asciiSpace = code === 32 || (code >= 9 && code <= 13);
    noAsciiSpace = asciiSpace ? 0 : noAsciiSpace + 1;
    noPrintableAscii = code < 0x80 && !asciiSpace ? 0 : noPrintableAscii + 1;
    if (noAsciiSpace >= run || noPrintableAscii >= run) return true;
  }
  return false;
}

/**
 * A text up to this many times its limit in characters is counted whole when it has no long
 * run: natural text holds 3–5 characters per token, so the count ends near the limit anyway.
 */
const WHOLE_TEXT_CHARS_PER_TOKEN = 8;

function countCl100k(text: string, limit: number): number {
  const { api, split } = loadCl100k();
  // Too short to hold an over-long piece, or holding none and short enough that stopping at
  // the limit saves little: one call, exactly as gpt-tokenizer counts. Cutting it into spans
  // runs the pre-tokenizer twice, and cost 1.6 times as much on long prose.
  if (
    text.length <= CL100K_MAX_PIECE ||
    (text.length <= Math.max(RUN_LENGTH, limit * WHOLE_TEXT_CHARS_PER_TOKEN) && !mayHoldLongPiece(text))
  ) {
    return api.countTokens(text, PLAIN_TEXT);
  }
  let total = 0;
  for (const span of spans(text, split)) {
    total += countSpan(api, text, span);
    if (total > limit) return total;
  }
  return total;
}

/**
 * The longest prefix of whole characters whose count (by `countWithin(prefix, maxTokens)`) is at
 * most `maxTokens`: grows the prefix by doubling, then bisects, so each probe stops counting at
 * the limit and the search costs O(log n) bounded counts whatever the text's length.
 */
export function longestPrefixWithin(
  text: string,
  maxTokens: number,
  countWithin: (prefix: string, limit: number) => number,
): string {
  const fits = (end: number) => countWithin(text.slice(0, end), maxTokens) <= maxTokens;
  // A whole-character end at or before `at`.
  const floor = (at: number) => (at < text.length && splitsPair(text, at) ? at - 1 : at);
  let low = 0;
  let high = 1;
  while (high < text.length) {
    const end = floor(high);
    if (end > low && !fits(end)) break;
    low = Math.max(low, end);
    high *= 2;
  }
  if (high >= text.length) {
    if (fits(text.length)) return text;
    high = text.length;
  } else {
    high = floor(high);
  }
  // fits(low), !fits(high); bisect over whole-character ends.
  while (true) {
    let middle = floor((low + high) >> 1);
    if (middle <= low) middle = low + (splitsPair(text, low + 1) ? 2 : 1);
    if (middle >= high) return text.slice(0, low);
    if (fits(middle)) low = middle;
    else high = middle;
  }
}

/**
 * OpenAI's cl100k_base, used by text-embedding-3-* and text-embedding-ada-002. Counting costs
 * O(n) for any text (a few µs per token): see CL100K_MAX_PIECE for the one approximation.
 * It has `countUpTo`, so a capped count of a huge text costs only its first tokens.
 */
export const cl100kTokenizer: Required<Tokenizer> = {
  count: (text) => countCl100k(text, Infinity),
  countUpTo: (text, limit) => countCl100k(text, limit),
  truncate(text, maxTokens) {
    const { api, split } = loadCl100k();
    if (countCl100k(text, maxTokens) <= maxTokens) return text;
    // Find the span where the limit is passed, then the longest whole-character prefix of it
    // that fits: a search over at most a few thousand characters, not over the whole text.
    let total = 0;
    for (const span of spans(text, split)) {
      const tokens = countSpan(api, text, span);
      if (total + tokens <= maxTokens) {
        total += tokens;
        continue;
      }
      // The span's longest whole-character prefix that fits what is left of the budget.
      const budget = maxTokens - total - span.extra;
      const piece = longestPrefixWithin(text.slice(span.start, span.end), budget, (prefix) =>
        api.countTokens(prefix, PLAIN_TEXT),
      );
      const cut = text.slice(0, span.start + piece.length);
      // Counted alone, the cut is split as in the text except, rarely, in whitespace at the
      // span's start; the check keeps the promise and the search covers that rare case.
      if (countCl100k(cut, maxTokens) <= maxTokens) return cut;
      break;
    }
    return longestPrefixWithin(text, maxTokens, countCl100k);
  },
};

/**
 * For models whose tokenizer is unknown: the UTF-8 byte length. Every BPE token of a
 * byte-level tokenizer covers at least one byte, so this never undercounts cl100k.
 */
export const utf8ByteTokenizer: Tokenizer = {
  count: (text) => Buffer.byteLength(text, 'utf8'),
  truncate(text, maxTokens) {
    const bytes = Buffer.from(text, 'utf8');
    if (bytes.length <= maxTokens) return text;
    let end = maxTokens;
    // Step back to a UTF-8 lead byte so no character is split.
    while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
    return bytes.subarray(0, end).toString('utf8');
  },
};

/**
 * Whether a text's UTF-8 byte length bounds `tokenizer`'s count from above: true of byte-level
 * BPE (cl100k), where every token covers at least one byte. A text of at most `n` bytes then
 * fits `n` tokens without being counted. Plugged-in tokenizers are always counted.
 */
export function boundedByBytes(tokenizer: Tokenizer): boolean {
  return tokenizer === cl100kTokenizer || tokenizer === utf8ByteTokenizer;
}

const CL100K_MODELS = /^(text-embedding-3-(small|large)|text-embedding-ada-002)$/;

/** The tokenizer the batch engine uses for `model` when none is given. */
export function tokenizerForModel(model: string): Tokenizer {
  return CL100K_MODELS.test(model) ? cl100kTokenizer : utf8ByteTokenizer;
}
