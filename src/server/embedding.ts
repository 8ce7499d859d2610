/**
 * `local-hash-embedding`: a deterministic lexical embedding for development, tests and demos.
 *
 * It is lexical, not semantic: texts that share words (or word pieces) get close vectors,
 * synonyms do not. Features are word unigrams, word bigrams and character n-grams of each
 * word, each hashed into one of `dimensions` buckets with a hashed sign (the hashing trick:
 * signed buckets keep collisions unbiased), then L2-normalised. Common English function words
 * weigh a tenth: without a corpus there is no IDF, and at full weight "the", "and" and "with"
 * ranked texts sharing only them above texts sharing the query's nouns.
 */

/** Weight of each feature family; words dominate, pieces of words give morphology. */
const WORD_WEIGHT = 1;
const BIGRAM_WEIGHT = 0.5;
/** Shared by all character n-grams of one word, so long words do not outweigh short ones. */
const CHAR_NGRAM_WEIGHT = 1;
const CHAR_NGRAM_SIZES = [3, 4] as const;
/** Not zero, so a text of function words only ("to be or not to be") still has its own vector. */
const STOP_WORD_WEIGHT = 0.1;
const STOP_WORDS = new Set(
  (
    'a an and are as at be but by can do does for from has have how i if in into is it its of on or so ' +
    'than that the their them then there these they this to was we were what when where which while who why will with you'
  ).split(' '),
);

// Distinct seeds keep a word, a bigram and a character n-gram with the same letters apart.
const SEED_WORD = 0x2f6b9a31;
const SEED_BIGRAM = 0x5bd1e995;
const SEED_NGRAM = 0x1b873593;
const SEED_TOKEN = 0x68e31da4;

const WORD = /[\p{L}\p{N}]+/gu;

/** FNV-1a over UTF-16 code units of `text[start, end)`. */
function hashRange(text: string, start: number, end: number, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = start; i < end; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

/** MurmurHash3's finaliser: spreads FNV's weak low bits over the whole word. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function combine(a: number, b: number, seed: number): number {
  return fmix32((Math.imul(a, 31) + b) ^ seed);
}

function add(vector: Float64Array, hash: number, weight: number): void {
  const bucket = hash % vector.length;
  // The sign comes from bits the bucket index does not use, so the two are independent.
  const sign = fmix32(hash ^ 0x9e3779b9) & 1 ? 1 : -1;
  vector[bucket]! += sign * weight;
}

/** Adds one word's features, each times `scale`; returns the word's hash for its bigrams. */
function addWord(vector: Float64Array, word: string, scale: number): number {
  const wordHash = hashRange(word, 0, word.length, SEED_WORD);
  add(vector, wordHash, WORD_WEIGHT * scale);
  // Boundary marks let "embed" in "embedding" and "embed" alone share their first n-grams.
  const padded = `\u0002${word}\u0003`;
  let count = 0;
  for (const n of CHAR_NGRAM_SIZES) count += Math.max(0, padded.length - n + 1);
  if (count > 0) {
    const weight = (CHAR_NGRAM_WEIGHT * scale) / Math.sqrt(count);
    for (const n of CHAR_NGRAM_SIZES) {
      for (let i = 0; i + n <= padded.length; i++) add(vector, hashRange(padded, i, i + n, SEED_NGRAM), weight);
    }
  }
  return wordHash;
}

// A 3-4-5 angle rather than 45°: with 45° features of equal weight cancel to exact zeros.
const COS = 0.8;
const SIN = 0.6;

/**
 * Rotates `vector` in place by a product of 2×2 rotations on pairs (i, i + stride), stride
 * 1, 2, 4, ...: the butterfly of the fast Walsh–Hadamard transform, extended to any length
 * by leaving unpaired entries alone. Orthogonal, so norms and dot products are kept exactly; O(n log n).
 * Without it most of a short text's dimensions would be exact zeros, and float JSON of such
 * vectors would be unrealistically small next to a real provider's.
 */
export function spread(vector: Float64Array): void {
  const n = vector.length;
  for (let stride = 1; stride < n; stride *= 2) {
    for (let block = 0; block < n; block += 2 * stride) {
      const end = Math.min(block + stride, n - stride);
      for (let i = block; i < end; i++) {
        const a = vector[i]!;
        const b = vector[i + stride]!;
        vector[i] = COS * a + SIN * b;
        vector[i + stride] = COS * b - SIN * a;
      }
    }
  }
}

function toUnitFloat32(vector: Float64Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < vector.length; i++) sum += vector[i]! * vector[i]!;
  // Signed buckets can cancel exactly (most easily with dimensions: 1); a unit vector is
  // still owed, never a zero or NaN one.
  if (sum === 0) {
    vector[0] = 1;
    sum = 1;
  }
  spread(vector);
  const out = new Float32Array(vector.length);
  const inv = 1 / Math.sqrt(sum);
  for (let i = 0; i < vector.length; i++) out[i] = vector[i]! * inv;
  return out;
}

function checkDimensions(dimensions: number): void {
  if (!Number.isInteger(dimensions) || dimensions < 1) {
    throw new RangeError(`\`dimensions\` must be an integer >= 1 (got ${String(dimensions)})`);
  }
}

/**
 * The embedding of `text` in `dimensions` dimensions, with L2 norm 1. Deterministic: the same
 * text and dimensions give the same vector on every machine, so tests can compute what the
 * server must answer.
 * @example cosineSimilarity(localHashEmbedding('red apples', 64), localHashEmbedding('green apples', 64)) // > 0.4
 */
export function localHashEmbedding(text: string, dimensions: number): Float32Array {
  checkDimensions(dimensions);
  const vector = new Float64Array(dimensions);
  const normalised = text.normalize('NFKC').toLowerCase();
  let previous: { hash: number; scale: number } | undefined;
  for (const match of normalised.matchAll(WORD)) {
    const scale = STOP_WORDS.has(match[0]) ? STOP_WORD_WEIGHT : 1;
    const hash = addWord(vector, match[0], scale);
    // A pair weighs as its lighter word: "of the" is as uninformative as "the".
    if (previous)
      add(vector, combine(previous.hash, hash, SEED_BIGRAM), BIGRAM_WEIGHT * Math.min(scale, previous.scale));
    previous = { hash, scale };
  }
  // Text of punctuation or spaces only still deserves a vector of its own.
  if (!previous) addWord(vector, normalised, 1);
  return toUnitFloat32(vector);
}

/**
 * The embedding of a token array: each token id is a word, consecutive ids are bigrams.
 * @example localHashEmbedding is for text; this is for `input: [15339, 1917]`.
 */
export function localHashEmbeddingOfTokens(tokens: readonly number[], dimensions: number): Float32Array {
  checkDimensions(dimensions);
  const vector = new Float64Array(dimensions);
  let previous: number | undefined;
  for (const token of tokens) {
    const hash = fmix32(token ^ SEED_TOKEN);
    add(vector, hash, WORD_WEIGHT);
    if (previous !== undefined) add(vector, combine(previous, hash, SEED_BIGRAM), BIGRAM_WEIGHT);
    previous = hash;
  }
  return toUnitFloat32(vector);
}
