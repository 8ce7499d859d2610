import { inspect } from 'node:util';
import { Embeddings } from './embeddings.js';
import { InvalidArgumentError } from './errors.js';
import { CLIENT_EVENTS, type ClientEventListener, type ClientEventName } from './observe/events.js';
import { resolveClientOptions, type ClientOptions, type VectorType } from './options.js';
import { Requester, attachRequester } from './requester.js';
import { Batches } from './resources/batches.js';
import { Files } from './resources/files.js';

/**
 * A client for one OpenAI-compatible embeddings API. Resolves its options once, owns one
 * keep-alive connection pool and one concurrency limiter shared by every call.
 * @example
 * const client = new EmbeddingsClient({ baseURL: 'http://127.0.0.1:8787/v1' });
 * const res = await client.embeddings.create({ model: 'local-hash-embedding', input: 'hello' });
 */
export class EmbeddingsClient<V extends VectorType = 'array'> {
  /** The resolved API root, without a trailing slash. */
  readonly baseURL: string;
  /** Most requests this client keeps in flight at once. */
  readonly maxConcurrency: number;
  /** `create()`, and the batch methods built on it. */
  readonly embeddings: Embeddings<V>;
  /** Upload, read, download (streamed) and delete files: the Batch API's input and output files. */
  readonly files: Files;
  /** Create, follow, cancel and list Batch API batches. */
  readonly batches: Batches;
  readonly #requester: Requester;

  constructor(options: ClientOptions<V> = {}) {
    this.#requester = new Requester(resolveClientOptions(options));
    this.baseURL = this.#requester.options.baseURL;
    this.maxConcurrency = this.#requester.options.maxConcurrency;
    attachRequester(this, this.#requester);
    this.embeddings = new Embeddings(this);
    this.files = new Files(this);
    this.batches = new Batches(this);
  }

  /**
   * Calls `listener` with each `event` of this client's requests: `request`, `attempt`,
   * `response`, `retry`, `rateLimitWait`, `requestEnd`, `batchProgress` (payloads typed by `ClientEvents`).
   * A listener that throws breaks no request. Payloads never hold the key or input text.
   * @example client.on('retry', (e) => metrics.increment('embeddings.retry', { status: e.status }));
   */
  on<E extends ClientEventName>(event: E, listener: ClientEventListener<E>): this {
    this.#requester.observer.events.on(checkEvent(event, listener), listener);
    return this;
  }

  /** Removes a listener added with {@link on}. */
  off<E extends ClientEventName>(event: E, listener: ClientEventListener<E>): this {
    this.#requester.observer.events.off(checkEvent(event, listener), listener);
    return this;
  }

  /** Closes the connection pool the client created (not a `dispatcher` you passed in). */
  close(): Promise<void> {
    return this.#requester.close();
  }

  /** Shows where the client points, never its key. */
  [inspect.custom](): string {
    return `EmbeddingsClient { baseURL: '${this.baseURL}', maxConcurrency: ${this.maxConcurrency} }`;
  }

  toJSON(): { baseURL: string; maxConcurrency: number } {
    return { baseURL: this.baseURL, maxConcurrency: this.maxConcurrency };
  }
}

/** A misspelt event name would otherwise never fire, and say nothing. */
function checkEvent<E extends ClientEventName>(event: E, listener: unknown): E {
  if (!CLIENT_EVENTS.includes(event)) {
    throw new InvalidArgumentError(
      `Unknown event ${JSON.stringify(event)}: the client emits ${CLIENT_EVENTS.map((name) => `"${name}"`).join(', ')}`,
    );
  }
  if (typeof listener !== 'function') {
    throw new InvalidArgumentError(`The listener of "${event}" must be a function (got ${typeof listener})`);
  }
  return event;
}
