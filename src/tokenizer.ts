import { createRequire } from 'node:module';

type Cl100k = typeof import('gpt-tokenizer/encoding/cl100k_base');
let cl100k: Cl100k | undefined;

/**
 * Loads cl100k's ranks on first use: parsing them takes about a second, which code that
 * never counts a token (a single create(), `embedrail --help`) should not pay at import.
 */
function loadCl100k(): Cl100k {
  cl100k ??= createRequire(import.meta.url)('gpt-tokenizer/encoding/cl100k_base') as Cl100k;
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
}

// The embeddings endpoint treats `<|endoftext|>` and the like as plain text; gpt-tokenizer
// throws on them unless told otherwise, which would turn a user's text into a crash.
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

/** OpenAI's cl100k_base, used by text-embedding-3-* and text-embedding-ada-002. */
export const cl100kTokenizer: Tokenizer = {
  count: (text) => loadCl100k().countTokens(text, PLAIN_TEXT),
  truncate(text, maxTokens) {
    const { countTokens, decode, encode, isWithinTokenLimit } = loadCl100k();
    if (isWithinTokenLimit(text, maxTokens, PLAIN_TEXT) !== false) return text;
    const tokens = encode(text, PLAIN_TEXT);
    // A token boundary can fall inside a character: decoding then yields U+FFFD (not the text,
    // and maybe more tokens than the limit) or drops the partial bytes. Step back to a
    // whole-character prefix; a character spans at most 4 bytes, so a few steps suffice.
    for (let end = maxTokens; end > 0 && end > maxTokens - 4; end--) {
      const cut = decode(tokens.slice(0, end));
      // gpt-tokenizer decodes bytes with one shared streaming TextDecoder: the bytes of a
      // character cut here would come out at the start of the next decode, anyone's. Decoding a
      // whole 4-byte character, which cl100k spells in byte tokens, flushes them.
      decode(encode('𐀀'));
      if (cut !== '' && text.startsWith(cut) && countTokens(cut, PLAIN_TEXT) <= maxTokens) return cut;
    }
    // Characters whose bytes merge across tokens, and lone surrogates (which never decode back
    // to themselves): search the longest prefix of whole code points that fits.
    const chars = Array.from(text);
    let fits = 0;
    let over = chars.length;
    while (over - fits > 1) {
      const middle = (fits + over) >> 1;
      if (isWithinTokenLimit(chars.slice(0, middle).join(''), maxTokens, PLAIN_TEXT) !== false) fits = middle;
      else over = middle;
    }
    return chars.slice(0, fits).join('');
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

const CL100K_MODELS = /^(text-embedding-3-(small|large)|text-embedding-ada-002)$/;

/** The tokenizer the batch engine uses for `model` when none is given. */
export function tokenizerForModel(model: string): Tokenizer {
  return CL100K_MODELS.test(model) ? cl100kTokenizer : utf8ByteTokenizer;
}
