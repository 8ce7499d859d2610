import type { EmbeddingsClient } from '../client.js';
import type { RequestOptions, ResolvedRequestOptions, VectorType } from '../options.js';
import { requesterOf } from '../requester.js';
import { parseArgument } from '../schemas.js';
import { id } from './files.js';
import { Batch, BatchCreateParams, BatchListParams, BatchPage, readObject } from './objects.js';

/** The Batches resource: `client.batches`, with openai-node's names. */
export class Batches {
  readonly #client: EmbeddingsClient<VectorType>;

  constructor(client: EmbeddingsClient<VectorType>) {
    this.#client = client;
  }

  /**
   * Creates a batch from an uploaded input file. The params are checked before the request
   * (`completion_window` must be `'24h'`, `metadata` at most 16 string pairs).
   * @example
   * const batch = await client.batches.create({
   *   input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h', metadata: { job: 'nightly' },
   * });
   */
  async create(params: BatchCreateParams, options?: RequestOptions): Promise<Batch> {
    const checked = parseArgument(BatchCreateParams, 'batches.create params', params, false);
    const requester = requesterOf(this.#client);
    const response = await requester.request(
      'POST',
      '/batches',
      { kind: 'json', value: checked },
      requester.resolve(options),
    );
    return readObject('POST', '/batches', response, Batch);
  }

  /** The batch as it stands: its status, `request_counts`, `output_file_id`, `error_file_id`. */
  async retrieve(batchId: string, options?: RequestOptions): Promise<Batch> {
    const path = `/batches/${id(batchId, 'batches.retrieve', 'batchId')}`;
    const requester = requesterOf(this.#client);
    const response = await requester.request('GET', path, { kind: 'none' }, requester.resolve(options));
    return readObject('GET', path, response, Batch);
  }

  /** Asks the server to cancel the batch: it answers `cancelling`, and later the batch is `cancelled`. */
  async cancel(batchId: string, options?: RequestOptions): Promise<Batch> {
    const path = `/batches/${id(batchId, 'batches.cancel', 'batchId')}/cancel`;
    const requester = requesterOf(this.#client);
    const response = await requester.request('POST', path, { kind: 'none' }, requester.resolve(options));
    return readObject('POST', path, response, Batch);
  }

  /**
   * The organisation's batches, newest first, across every page: iterate it with `for await`
   * for the batches one by one, or call `pages()` for one page (`data`, `has_more`,
   * `last_id`) at a time. Each page is fetched when the iteration reaches it.
   * @example
   * for await (const batch of client.batches.list({ limit: 100 })) if (batch.metadata?.job === 'nightly') ...
   */
  list(params: BatchListParams = {}, options?: RequestOptions): BatchList {
    const checked = parseArgument(BatchListParams, 'batches.list params', params, false);
    // Options are checked now too, before the first page is asked for.
    const resolved = requesterOf(this.#client).resolve(options);
    return new BatchList(this.#client, checked, resolved);
  }
}

/** Every batch of `batches.list()`, page after page as it is iterated. */
export class BatchList implements AsyncIterable<Batch> {
  readonly #client: EmbeddingsClient<VectorType>;
  readonly #params: BatchListParams;
  readonly #options: ResolvedRequestOptions;

  /** @internal */
  constructor(client: EmbeddingsClient<VectorType>, params: BatchListParams, options: ResolvedRequestOptions) {
    this.#client = client;
    this.#params = params;
    this.#options = options;
  }

  /** The pages, each fetched with `after` the previous page's `last_id`, until `has_more` is false. */
  async *pages(): AsyncGenerator<BatchPage> {
    const requester = requesterOf(this.#client);
    let after = this.#params.after;
    for (;;) {
      const query: Record<string, string> = {};
      if (this.#params.limit !== undefined) query.limit = String(this.#params.limit);
      if (after !== undefined) query.after = after;
      const options = { ...this.#options, query: { ...this.#options.query, ...query } };
      const response = await requester.request('GET', '/batches', { kind: 'none' }, options);
      const page = readObject('GET', '/batches', response, BatchPage);
      yield page;
      const last = page.last_id ?? page.data.at(-1)?.id;
      // A page that says there is more but gives no cursor would be asked for again forever.
      if (!page.has_more || last === undefined || last === after) return;
      after = last;
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Batch> {
    for await (const page of this.pages()) yield* page.data;
  }
}
