import { normalizeInPlace } from './decode.js';
import { InvalidArgumentError } from './errors.js';

/**
 * A vector as the client returns it: `number[]` (`vectorType: 'array'`) or `Float32Array`
 * (`vectorType: 'float32'`). Every helper below accepts both, in any mix.
 */
export type Vector = readonly number[] | Float32Array;

/** One hit of {@link topK}: the row's position in the matrix and its cosine similarity. */
export interface ScoredIndex {
  /** Row number in the matrix, 0-based: row `i` spans `matrix[i * dim .. (i + 1) * dim)`. */
  index: number;
  /** Cosine similarity between the query and the row, in [-1, 1]; 0 when either is a zero vector. */
  score: number;
}

/**
 * Sums of squares outside this band lose precision (underflow to subnormals or 0) or overflow
 * to Infinity; only then do we pay for a second pass that scales by the largest component.
 * Embeddings (components in [-1, 1], a few thousand of them) never leave it.
 */
const SAFE_MIN_SQUARES = 2 ** -900;
const SAFE_MAX_SQUARES = 2 ** 900;

/**
 * Dot product `Σ a[i] · b[i]`.
 * @throws {InvalidArgumentError} when `a` and `b` differ in length or hold a non-finite number.
 * @example dot([1, 2, 3], [4, 5, 6]) // 32
 */
export function dot(a: Vector, b: Vector): number {
  checkVector('dot', 'a', a);
  checkVector('dot', 'b', b);
  checkSameLength('dot', a, b);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  // A non-finite element always makes the sum non-finite, so the scan runs only then.
  if (!Number.isFinite(sum)) {
    checkFinite('dot', 'a', a, 0, a.length);
    checkFinite('dot', 'b', b, 0, b.length);
  }
  return sum;
}

/**
 * Cosine similarity `a·b / (|a| |b|)`, clamped to [-1, 1] against rounding. A zero vector
 * has no direction, so its similarity to anything is 0 (never NaN).
 * @throws {InvalidArgumentError} when `a` and `b` differ in length or hold a non-finite number.
 * @example cosineSimilarity([1, 0], [0, 1]) // 0
 */
export function cosineSimilarity(a: Vector, b: Vector): number {
  checkVector('cosineSimilarity', 'a', a);
  checkVector('cosineSimilarity', 'b', b);
  checkSameLength('cosineSimilarity', a, b);
  return cosinePair(a, b);
}

/**
 * The unit vector pointing the same way as `v` (L2 norm 1), as a new array of the same kind:
 * `Float32Array` in, `Float32Array` out; `number[]` in, `number[]` out. `v` is not modified.
 * A zero vector comes back as a zero vector (never NaN).
 * @throws {InvalidArgumentError} when `v` holds a non-finite number.
 * @example normalize([3, 4]) // [0.6, 0.8]
 */
export function normalize(v: Float32Array): Float32Array;
export function normalize(v: readonly number[]): number[];
export function normalize(v: Vector): number[] | Float32Array;
export function normalize(v: Vector): number[] | Float32Array {
  checkVector('normalize', 'v', v);
  checkFinite('normalize', 'v', v, 0, v.length);
  // The same scaling the client applies to every vector it returns, on a copy.
  return normalizeInPlace(v instanceof Float32Array ? v.slice() : v.slice());
}

/**
 * The `k` rows of `matrix` most similar to `query`, best first, scored by cosine similarity
 * (see {@link cosineSimilarity}). `matrix` holds its rows back to back, each as long as
 * `query` (row `i` is `matrix.subarray(i * query.length, (i + 1) * query.length)`), which is
 * how a corpus of embeddings fits in one allocation. Equal scores keep the lower index first.
 * When `k` exceeds the number of rows, every row is returned.
 * @param k how many rows to return: an integer ≥ 1.
 * @throws {InvalidArgumentError} when `query` is empty, `matrix` is not a whole number of
 *   rows, `k` is not an integer ≥ 1, or either holds a non-finite number.
 * @example
 * const matrix = new Float32Array([1, 0, 0, 1, 0.6, 0.8]); // three 2-d rows
 * topK([1, 0], matrix, 2); // [{ index: 0, score: 1 }, { index: 2, score: 0.6 }]
 */
export function topK(query: Vector, matrix: Float32Array, k: number): ScoredIndex[] {
  checkVector('topK', 'query', query);
  if (!(matrix instanceof Float32Array)) {
    throw new InvalidArgumentError(`topK: \`matrix\` must be a Float32Array (got ${describe(matrix)})`);
  }
  if (!Number.isInteger(k) || k < 1) {
    throw new InvalidArgumentError(`topK: \`k\` must be an integer ≥ 1 (got ${String(k)})`);
  }
  const dim = query.length;
  if (dim === 0) throw new InvalidArgumentError('topK: `query` must not be empty (got length 0)');
  if (matrix.length % dim !== 0) {
    throw new InvalidArgumentError(
      `topK: \`matrix\` length must be a multiple of the \`query\` length ${dim} (got matrix length ${matrix.length})`,
    );
  }
  const rows = matrix.length / dim;
  // A min-heap of the best `k` so far: O(rows · log k), and memory stays at k entries.
  const heap = new BestK(Math.min(k, rows));
  const querySquares = sumOfSquares(query);
  for (let row = 0; row < rows; row++) {
    heap.offer(row, cosineRow(query, querySquares, matrix, row * dim, dim));
  }
  return heap.sorted();
}

/** `cosineSimilarity`'s kernel: one pass accumulating the dot product and both norms. */
function cosinePair(a: Vector, b: Vector): number {
  let dotSum = 0;
  let aSquares = 0;
  let bSquares = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    dotSum += x * y;
    aSquares += x * x;
    bSquares += y * y;
  }
  return finishCosine('cosineSimilarity', ['a', 'b'], a, b, 0, a.length, dotSum, aSquares, bSquares);
}

/**
 * `topK`'s kernel: the cosine of `query` against one row, `matrix[offset .. offset + length)`,
 * with the query's sum of squares computed once per call rather than once per row. Each sum
 * is accumulated in the same order as in {@link cosinePair}, so a ranking agrees bit for bit
 * with the pairwise scores.
 */
function cosineRow(query: Vector, querySquares: number, matrix: Float32Array, offset: number, length: number): number {
  let dotSum = 0;
  let rowSquares = 0;
  for (let i = 0; i < length; i++) {
    const y = matrix[offset + i]!;
    dotSum += query[i]! * y;
    rowSquares += y * y;
  }
  return finishCosine('topK', ['query', 'matrix'], query, matrix, offset, length, dotSum, querySquares, rowSquares);
}

/** Checks the sums, redoes them scaled when they left the safe band, and divides. */
function finishCosine(
  fn: string,
  names: readonly [string, string],
  a: Vector,
  b: Vector,
  offset: number,
  length: number,
  dotSum: number,
  aSquares: number,
  bSquares: number,
): number {
  if (!Number.isFinite(dotSum + aSquares + bSquares)) {
    checkFinite(fn, names[0], a, 0, length);
    checkFinite(fn, names[1], b, offset, length);
  }
  if (
    aSquares < SAFE_MIN_SQUARES ||
    aSquares > SAFE_MAX_SQUARES ||
    bSquares < SAFE_MIN_SQUARES ||
    bSquares > SAFE_MAX_SQUARES
  ) {
    const aScale = maxAbs(a, 0, length);
    const bScale = maxAbs(b, offset, length);
    if (aScale === 0 || bScale === 0) return 0;
    dotSum = 0;
    aSquares = 0;
    bSquares = 0;
    for (let i = 0; i < length; i++) {
      const x = a[i]! / aScale;
      const y = b[offset + i]! / bScale;
      dotSum += x * y;
      aSquares += x * x;
      bSquares += y * y;
    }
  }
  const cosine = dotSum / (Math.sqrt(aSquares) * Math.sqrt(bSquares));
  return cosine > 1 ? 1 : cosine < -1 ? -1 : cosine;
}

function sumOfSquares(v: Vector): number {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!;
  return sum;
}

/** Keeps the `capacity` best (score, index) pairs; "better" is a higher score, then a lower index. */
class BestK {
  private readonly indexes: number[] = [];
  private readonly scores: number[] = [];

  constructor(private readonly capacity: number) {}

  offer(index: number, score: number): void {
    if (this.indexes.length < this.capacity) {
      this.indexes.push(index);
      this.scores.push(score);
      this.siftUp(this.indexes.length - 1);
    } else if (this.better(index, score, 0)) {
      this.indexes[0] = index;
      this.scores[0] = score;
      this.siftDown(0);
    }
  }

  sorted(): ScoredIndex[] {
    const hits = this.indexes.map((index, i) => ({ index, score: this.scores[i]! }));
    return hits.sort((x, y) => y.score - x.score || x.index - y.index);
  }

  /** Is (index, score) better than the entry at heap slot `slot`? */
  private better(index: number, score: number, slot: number): boolean {
    const other = this.scores[slot]!;
    return score > other || (score === other && index < this.indexes[slot]!);
  }

  private siftUp(slot: number): void {
    while (slot > 0) {
      const parent = (slot - 1) >> 1;
      // The root holds the worst entry, so a child worse than its parent moves up.
      if (!this.better(this.indexes[parent]!, this.scores[parent]!, slot)) return;
      this.swap(slot, parent);
      slot = parent;
    }
  }

  private siftDown(slot: number): void {
    const size = this.indexes.length;
    for (;;) {
      let worst = slot;
      for (const child of [2 * slot + 1, 2 * slot + 2]) {
        if (child < size && this.better(this.indexes[worst]!, this.scores[worst]!, child)) worst = child;
      }
      if (worst === slot) return;
      this.swap(slot, worst);
      slot = worst;
    }
  }

  private swap(i: number, j: number): void {
    [this.indexes[i], this.indexes[j]] = [this.indexes[j]!, this.indexes[i]!];
    [this.scores[i], this.scores[j]] = [this.scores[j]!, this.scores[i]!];
  }
}

function maxAbs(v: Vector, offset: number, length: number): number {
  let max = 0;
  for (let i = offset; i < offset + length; i++) max = Math.max(max, Math.abs(v[i]!));
  return max;
}

function checkVector(fn: string, name: string, v: unknown): void {
  if (!Array.isArray(v) && !(v instanceof Float32Array)) {
    throw new InvalidArgumentError(`${fn}: \`${name}\` must be a number[] or Float32Array (got ${describe(v)})`);
  }
}

function checkSameLength(fn: string, a: Vector, b: Vector): void {
  if (a.length !== b.length) {
    throw new InvalidArgumentError(
      `${fn}: \`a\` and \`b\` must have the same length (got ${a.length} and ${b.length})`,
    );
  }
}

function checkFinite(fn: string, name: string, v: Vector, offset: number, length: number): void {
  for (let i = offset; i < offset + length; i++) {
    const x: unknown = v[i];
    if (typeof x !== 'number' || !Number.isFinite(x)) {
      throw new InvalidArgumentError(`${fn}: \`${name}[${i}]\` must be a finite number (got ${String(x)})`);
    }
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  return typeof value;
}
