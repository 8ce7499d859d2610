import type * as z from 'zod';
import type { EmbeddingsClient } from '../client.js';
import type { ResolvedRequestOptions, VectorType } from '../options.js';
import { requesterOf } from '../requester.js';
import { readObject } from './objects.js';

/** One page of a cursor-paged list: OpenAI's `{ object: 'list', data, first_id, last_id, has_more }`. */
export interface CursorPage<T> {
  data: T[];
  first_id?: string | null | undefined;
  last_id?: string | null | undefined;
  has_more: boolean;
}

/**
 * Every item of a list endpoint, page after page as it is iterated: each page asked with
 * `after` the previous page's last id, until `has_more` is false.
 */
export class CursorList<T extends { id: string }, P extends CursorPage<T>> implements AsyncIterable<T> {
  readonly #client: EmbeddingsClient<VectorType>;
  readonly #path: string;
  readonly #query: Record<string, string>;
  readonly #after: string | undefined;
  readonly #options: ResolvedRequestOptions;
  readonly #schema: z.ZodType<P>;

  /** @internal */
  constructor(
    client: EmbeddingsClient<VectorType>,
    path: string,
    query: Record<string, string | number | undefined>,
    options: ResolvedRequestOptions,
    schema: z.ZodType<P>,
  ) {
    this.#client = client;
    this.#path = path;
    const { after, ...rest } = query;
    this.#after = after === undefined ? undefined : String(after);
    this.#query = Object.fromEntries(
      Object.entries(rest).flatMap(([name, value]) => (value === undefined ? [] : [[name, String(value)]])),
    );
    this.#options = options;
    this.#schema = schema;
  }

  /** The pages, one request each, fetched as the iteration reaches them. */
  async *pages(): AsyncGenerator<P> {
    const requester = requesterOf(this.#client);
    let after = this.#after;
    for (;;) {
      const query = { ...this.#options.query, ...this.#query, ...(after === undefined ? {} : { after }) };
      const response = await requester.request('GET', this.#path, { kind: 'none' }, { ...this.#options, query });
      const page = readObject('GET', this.#path, response, this.#schema);
      yield page;
      const last = page.last_id ?? page.data.at(-1)?.id;
      // A page that says there is more but gives no new cursor would be asked for again forever.
      if (!page.has_more || last === undefined || last === after) return;
      after = last;
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for await (const page of this.pages()) yield* page.data;
  }
}
