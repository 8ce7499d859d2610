/**
 * createMany(): every input is checked before anything is sent, identical texts are
 * merged, requests are packed by count and token budget, and a sliding window (p-limit)
 * keeps `maxConcurrency` of them in flight until every input has a vector or a failure.
 */
import type { EmbeddingsClient } from '../client.js';
import { InvalidArgumentError, ResponseValidationError } from '../errors.js';
import type { VectorType } from '../options.js';
import { preview } from '../schemas.js';
import { resolveBatchConfig, type BatchConfig } from './config.js';
import { BatchEmbeddingError } from './errors.js';
import { Job } from './job.js';
import { BatchBuilder, Deduper, prepareText, type Batch, type Unit } from './planner.js';
import { RequestWindow } from './window.js';
import type { RowTarget } from '../receive/reader.js';
import type { Embedding } from '../types.js';
import type {
  BatchFailure,
  CreateManyMatrixResponse,
  CreateManyOptions,
  CreateManyParams,
  CreateManyResponse,
} from './types.js';

const METHOD = 'createMany';

export async function createMany(
  client: EmbeddingsClient<VectorType>,
  params: CreateManyParams,
  options: CreateManyOptions = {},
): Promise<CreateManyResponse<number[] | Float32Array> | CreateManyMatrixResponse> {
  const { matrix: asMatrix = false, ...batchOptions } = options;
  if (typeof asMatrix !== 'boolean') {
    throw new InvalidArgumentError(`Invalid batch options: \`matrix\` must be a boolean (got ${preview(asMatrix)})`);
  }
  // Each answer's rows are written straight into the matrix (see MatrixRows.rowsFor); rows that come
  // another way (the cache, an answer read the full way) are copied in from views.
  const config = resolveBatchConfig(client, params, batchOptions, asMatrix ? 'float32-view' : undefined);
  const texts = readInput(params.input);

  // Every input is checked first, so a bad one at the end fails the call before any request.
  const rules = { tokenizer: config.tokenizer, maxTokensPerInput: config.maxTokensPerInput, truncate: config.truncate };
  const deduper = new Deduper(config.dedupe);
  const units: Unit[] = [];
  // A plain loop, not forEach: forEach skips the holes of a sparse array, which would lose them.
  for (let index = 0; index < texts.length; index++) {
    const unit = deduper.add(index, undefined, prepareText(texts[index], `input[${index}]`, rules));
    if (unit) units.push(unit);
  }

  const vectors: (number[] | Float32Array | undefined)[] = new Array<number[] | Float32Array | undefined>(
    asMatrix ? 0 : texts.length,
  );
  const rows = asMatrix ? new MatrixRows(texts.length, config.params.dimensions) : undefined;
  const failures: BatchFailure[] = [];
  const job = new Job(
    client,
    config,
    {
      embedding: (index, _id, vector) => {
        const misfit = rows?.put(index, vector as Float32Array);
        if (misfit !== undefined) failures.push({ index, error: misfit });
        else if (rows === undefined) vectors[index] = vector;
      },
      failure: (index, _id, error) => {
        rows?.clear(index);
        failures.push({ index, error });
      },
      rowsFor: rows && ((indices) => rows.rowsFor(indices)),
    },
    texts.length,
  );

  try {
    const misses = await job.lookup(units);
    await sendAll(job, misses, config);
  } finally {
    job.dispose();
  }

  // An abort that came after the last input settled took nothing away: the result stands.
  job.throwIfCut(METHOD, job.progress.settledInputs >= texts.length);

  const data: Embedding<number[] | Float32Array>[] = [];
  if (rows !== undefined) {
    for (const index of rows.filled()) data.push({ object: 'embedding', index, embedding: rows.row(index) });
  } else {
    vectors.forEach((embedding, index) => {
      if (embedding !== undefined) data.push({ object: 'embedding', index, embedding });
    });
  }
  failures.sort((a, b) => a.index - b.index);
  if (failures.length > 0 && config.onFailure === 'throw') {
    throw new BatchEmbeddingError(METHOD, data, failures, texts.length);
  }
  const summary = { model: job.model ?? config.params.model, usage: job.usage, failures };
  if (rows !== undefined) return { object: 'matrix', matrix: rows.matrix(), ...summary };
  return { object: 'list', data, ...summary };
}

/** createMany()'s rows in one Float32Array, sized by the first vector unless `dimensions` was asked for. */
class MatrixRows {
  #data: Float32Array | undefined;
  #dimensions: number | undefined;
  readonly #filled: Uint8Array;

  constructor(
    readonly rows: number,
    dimensions: number | undefined,
  ) {
    this.#dimensions = dimensions;
    this.#filled = new Uint8Array(rows);
  }

  /** Copies `vector` into row `index` (unless it was decoded there); an error when its length is not the matrix's. */
  put(index: number, vector: Float32Array): ResponseValidationError | undefined {
    this.#dimensions ??= vector.length;
    if (vector.length !== this.#dimensions) {
      // A reader may have written part of this row before its answer was read the full way.
      this.clear(index);
      return new ResponseValidationError(
        'POST',
        '/embeddings',
        200,
        `input[${index}] got ${vector.length} dimensions, the matrix has ${this.#dimensions}`,
      );
    }
    const data = this.#allocate(this.#dimensions);
    const at = index * this.#dimensions;
    if (vector.buffer !== data.buffer || vector.byteOffset !== at * 4) data.set(vector, at);
    this.#filled[index] = 1;
    return undefined;
  }

  /**
   * Where a request's rows are decoded, row `k` of its answer into the row of input
   * `indices[k]`: the matrix itself, for rows of the matrix's length. Until `dimensions` or a
   * delivered vector sets that length, answers are decoded apart and copied in, so that an
   * answer that then fails does not decide it.
   */
  rowsFor(indices: readonly number[]): RowTarget {
    return {
      reserve: (dimensions) => {
        if (dimensions !== this.#dimensions) return undefined;
        return this.#allocate(dimensions);
      },
      rowOf: (row) => indices[row]!,
    };
  }

  /**
   * Zeroes row `index`, the row of an input that failed: a request that failed may have had
   * part of its answer decoded into its rows.
   */
  clear(index: number): void {
    const d = this.#dimensions ?? 0;
    this.#data?.fill(0, index * d, (index + 1) * d);
  }

  #allocate(dimensions: number): Float32Array {
    if (this.#data === undefined) {
      this.#data = new Float32Array(this.rows * dimensions);
    }
    return this.#data;
  }

  *filled(): Generator<number> {
    for (let index = 0; index < this.rows; index++) if (this.#filled[index]) yield index;
  }

  row(index: number): Float32Array {
    const d = this.#dimensions ?? 0;
    return this.#data!.subarray(index * d, (index + 1) * d);
  }

  matrix(): { data: Float32Array; rows: number; dimensions: number } {
    const dimensions = this.#dimensions ?? 0;
    return { data: this.#data ?? new Float32Array(this.rows * dimensions), rows: this.rows, dimensions };
  }
}

/**
 * Packs `units` into requests as the window has room for them, so that what counting packing
 * needs (see BatchBuilder) overlaps the requests in flight instead of delaying the first.
 */
async function sendAll(job: Job, units: Unit[], config: BatchConfig): Promise<void> {
  const requests = new RequestWindow(job, config.maxConcurrency);
  const builder = new BatchBuilder(job.limits, config.tokenizer);
  const inFlight = new Set<Promise<void>>();
  const dispatch = async (batch: Batch) => {
    while (!requests.hasRoom) await Promise.race(inFlight);
    // After an abort the rest is dropped; after a fatal error, failed unsent (send() checks first).
    const sent = requests.run(() => job.send(batch));
    inFlight.add(sent);
    void sent.then(() => inFlight.delete(sent));
  };
  for (const unit of units) {
    if (job.controller.signal.aborted) break;
    for (const batch of builder.add(unit)) await dispatch(batch);
  }
  const last = builder.flush();
  if (last !== undefined && !job.controller.signal.aborted) await dispatch(last);
  await Promise.all(inFlight);
}

function readInput(input: unknown): readonly unknown[] {
  if (typeof input === 'string') return [input];
  if (!Array.isArray(input)) {
    throw new InvalidArgumentError(`\`input\` must be a string or an array of strings (got ${preview(input)})`);
  }
  if (input.length === 0) throw new InvalidArgumentError('`input` must hold at least one text (got [])');
  return input;
}
