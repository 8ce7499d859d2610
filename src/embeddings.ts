import type {
  CreateManyMatrixResponse,
  CreateManyOptions,
  CreateManyParams,
  CreateManyResponse,
  StreamItem,
  StreamOptions,
  StreamParams,
} from './batch/types.js';
import type { BatchJobOptions, BatchJobParams, BatchJobSubmitted } from './batch-job/types.js';
import type { EmbeddingsClient } from './client.js';
import { createEmbeddings } from './create.js';
import type { RequestOptions, VectorType } from './options.js';
import type { EmbeddingCreateParams, EncodingFormat } from './schemas.js';
import type { CreateEmbeddingResponse, ResultVector, VectorFor } from './types.js';

/** The embeddings resource: `client.embeddings`. */
export class Embeddings<V extends VectorType = 'array'> {
  readonly #client: EmbeddingsClient<V>;

  constructor(client: EmbeddingsClient<V>) {
    this.#client = client;
  }

  /**
   * Embeds `params.input` in one request. Asks for base64 unless you set `encoding_format`,
   * decodes it to float32, checks one vector per input, and normalises unless told not to.
   * @example
   * const res = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'] });
   * res.data[1].embedding; // number[] for 'b'
   */
  async create<F extends EncodingFormat | undefined = undefined, T extends VectorType = V>(
    params: EmbeddingCreateParams & { encoding_format?: F },
    options?: RequestOptions<T>,
  ): Promise<CreateEmbeddingResponse<ResultVector<F, T>>> {
    const response = await createEmbeddings(this.#client, params, options);
    return response as CreateEmbeddingResponse<ResultVector<F, T>>;
  }

  /**
   * Embeds any number of texts: requests packed by count and token budget, sent through a
   * sliding window, paced to the rate limits, identical texts sent once. Resolves in
   * `create()`'s shape, `data[i].index === i`; with failures it rejects with
   * `BatchEmbeddingError` (or, under `onFailure: 'collect'`, lists them in `failures`).
   * With `matrix: true` it resolves with one contiguous `matrix` (`{ data, rows, dimensions }`).
   * @example
   * const res = await client.embeddings.createMany({ model: 'text-embedding-3-small', input: texts });
   * const { matrix } = await client.embeddings.createMany({ model, input: texts }, { matrix: true });
   * topK(query, matrix.data, 10);
   */
  createMany(
    params: CreateManyParams,
    options: CreateManyOptions & { matrix: true },
  ): Promise<CreateManyMatrixResponse>;
  createMany<T extends VectorType = V>(
    params: CreateManyParams,
    options?: CreateManyOptions<T> & { matrix?: false },
  ): Promise<CreateManyResponse<VectorFor<T>>>;
  createMany<T extends VectorType = V>(
    params: CreateManyParams,
    options?: CreateManyOptions<T>,
  ): Promise<CreateManyResponse<VectorFor<T>> | CreateManyMatrixResponse>;
  createMany(
    params: CreateManyParams,
    options?: CreateManyOptions,
  ): Promise<CreateManyResponse<VectorFor<VectorType>> | CreateManyMatrixResponse> {
    // The batch engine is loaded on the first batch call: a program that only calls create()
    // never pays for parsing it (see "Import cost" in the README).
    return import('./batch/create-many.js').then(({ createMany }) => createMany(this.#client, params, options));
  }

  /**
   * Embeds an iterable or async iterable of texts (or `{ id, text }`), read lazily, and
   * yields `{ index, id?, embedding }` as requests complete (input order with `ordered`).
   * @example
   * for await (const item of client.embeddings.stream({ model, input: lines })) save(item);
   */
  async *stream<T extends VectorType = V>(
    params: StreamParams,
    options?: StreamOptions<T>,
  ): AsyncGenerator<StreamItem<VectorFor<T>>, void, undefined> {
    // Loaded on the first pull, as createMany() loads it; yield* hands return() and throw() on.
    const { stream } = await import('./batch/stream.js');
    yield* stream(this.#client, params, options) as AsyncGenerator<StreamItem<VectorFor<T>>, void, undefined>;
  }

  /**
   * Embeds a corpus through the OpenAI Batch API, at half the price of `createMany()` and
   * outside its rate limits, within 24 hours: plans shards under the API's limits, uploads
   * them, creates the batches, polls, downloads and reconciles the results by `custom_id`,
   * and sends again what may succeed (429, 5xx, expired, missing) up to `maxAttempts`.
   * With a `journal`, every step is written before the next, so a rerun after a crash
   * resumes without creating a batch twice. Resolves in `createMany()`'s shape.
   * @example
   * const res = await client.embeddings.runBatchJob(
   *   { model: 'text-embedding-3-small', input: texts },
   *   { journal: 'corpus.job.json', onProgress: (p) => console.log(p.batches) },
   * );
   */
  runBatchJob(params: BatchJobParams, options: BatchJobOptions & { detach: true }): Promise<BatchJobSubmitted>;
  runBatchJob<T extends VectorType = V>(
    params: BatchJobParams,
    options?: BatchJobOptions<T> & { detach?: false },
  ): Promise<CreateManyResponse<VectorFor<T>>>;
  runBatchJob(
    params: BatchJobParams,
    options?: BatchJobOptions,
  ): Promise<CreateManyResponse<VectorFor<VectorType>> | BatchJobSubmitted> {
    // Loaded on first use, as createMany() is.
    return import('./batch-job/job.js').then(({ runBatchJob }) => runBatchJob(this.#client, params, options));
  }

  /**
   * Runs a Batch API job as `runBatchJob()` does, then yields each input's result in input
   * order (`{ index, id?, embedding }` or `{ index, id?, error }`), read from the journal's
   * stored vectors one shard at a time, so a corpus of millions is written out without its
   * vectors ever being in memory together. Failures are yielded, never thrown; with
   * `detach: true` it submits the batches and yields nothing.
   * @example
   * for await (const item of client.embeddings.streamBatchJob(
   *   { model: 'text-embedding-3-small', input: lines('corpus.txt') },
   *   { journal: 'corpus.job.json' },
   * )) {
   *   if (item.error) console.error(item.index, item.error.message);
   *   else out.write(item.embedding);
   * }
   */
  async *streamBatchJob<T extends VectorType = V>(
    params: BatchJobParams,
    options?: BatchJobOptions<T>,
  ): AsyncGenerator<StreamItem<VectorFor<T>>, void, undefined> {
    // Loaded on the first pull, as runBatchJob() loads it.
    const { streamBatchJob } = await import('./batch-job/job.js');
    yield* streamBatchJob(this.#client, params, options) as AsyncGenerator<StreamItem<VectorFor<T>>, void, undefined>;
  }
}
