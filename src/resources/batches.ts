import type { EmbeddingsClient } from '../client.js';
import type { RequestOptions, VectorType } from '../options.js';
import { requesterOf } from '../requester.js';
import { parseArgument } from '../schemas.js';
import { id } from './files.js';
import { Batch, BatchCreateParams, BatchListParams, BatchPage, readObject } from './objects.js';
import { CursorList } from './pages.js';

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
    return new BatchList(this.#client, '/batches', checked, resolved, BatchPage);
  }
}

/** Every batch of `batches.list()`, newest first, page after page as it is iterated; `.pages()` gives the pages. */
export class BatchList extends CursorList<Batch, BatchPage> {}
