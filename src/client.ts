import { inspect } from 'node:util';
import pLimit, { type LimitFunction } from 'p-limit';
import pRetry from 'p-retry';
import { Embeddings, type AttemptHooks } from './embeddings.js';
import { APIError, APIUserAbortError, type EmbeddingsError } from './errors.js';
import {
  resolveClientOptions,
  resolveRequestOptions,
  type ClientOptions,
  type RequestOptions,
  type ResolvedClientOptions,
  type ResolvedRequestOptions,
  type VectorType,
} from './options.js';
import { abortError, isRetryable, retryDelay, sleep } from './retry.js';
import { Transport, type TransportResponse } from './transport.js';

/** What the rest of the package reaches inside a client; not part of the public API. */
interface ClientInternals {
  resolve(client: EmbeddingsClient<VectorType>, options: RequestOptions | undefined): ResolvedRequestOptions;
  post(
    client: EmbeddingsClient<VectorType>,
    path: string,
    body: unknown,
    options: ResolvedRequestOptions,
    hooks: AttemptHooks | undefined,
  ): Promise<TransportResponse>;
}

let internals: ClientInternals;

/** Per call > client > defaults, for `client`. */
export function resolveCallOptions(client: EmbeddingsClient<VectorType>, options?: RequestOptions): ResolvedRequestOptions {
  return internals.resolve(client, options);
}

/** One request with retries on `client`'s transport and limiter. */
export function postWithRetries(
  client: EmbeddingsClient<VectorType>,
  path: string,
  body: unknown,
  options: ResolvedRequestOptions,
  hooks?: AttemptHooks,
): Promise<TransportResponse> {
  return internals.post(client, path, body, options, hooks);
}

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
  readonly #options: ResolvedClientOptions;
  readonly #transport: Transport;
  readonly #limit: LimitFunction;

  static {
    // Private members reached through module functions: internals stay out of the public type.
    internals = {
      resolve: (client, options) => client.#resolveRequestOptions(options),
      post: (client, path, body, options, hooks) => client.#post(path, body, options, hooks),
    };
  }

  constructor(options: ClientOptions<V> = {}) {
    this.#options = resolveClientOptions(options);
    this.baseURL = this.#options.baseURL;
    this.maxConcurrency = this.#options.maxConcurrency;
    this.#transport = new Transport(this.#options);
    this.#limit = pLimit(this.#options.maxConcurrency);
    this.embeddings = new Embeddings(this);
  }

  /** Closes the connection pool the client created (not a `dispatcher` you passed in). */
  close(): Promise<void> {
    return this.#transport.close();
  }

  /** Per call > client > defaults. */
  #resolveRequestOptions(options?: RequestOptions): ResolvedRequestOptions {
    return resolveRequestOptions(this.#options, options);
  }

  /**
   * One request with retries: each attempt waits for a limiter slot, failures that
   * deserve it are retried after the server's advised delay or backoff, and an abort ends
   * everything at once, queued, in flight or sleeping.
   */
  async #post(
    path: string,
    body: unknown,
    options: ResolvedRequestOptions,
    hooks: AttemptHooks = {},
  ): Promise<TransportResponse> {
    const { signal } = options;
    const attempt = async (): Promise<TransportResponse> => {
      await hooks.beforeAttempt?.(signal);
      return untilAborted(
        () => this.#limit(async () => {
          try {
            const response = await this.#transport.post(path, body, options);
            hooks.onResponse?.(response.status, response.headers);
            return response;
          } catch (error) {
            if (error instanceof APIError) hooks.onResponse?.(error.status, error.headers);
            throw error;
          }
        }),
        signal,
      );
    };
    try {
      return await pRetry(attempt, {
        retries: options.maxRetries,
        // Delays are ours (server advice, then backoff), slept in shouldRetry below.
        minTimeout: 0,
        maxTimeout: 0,
        signal,
        shouldRetry: async ({ error, attemptNumber }) => {
          if (signal?.aborted || !isRetryable(error)) return false;
          const delayMs = retryDelay(attemptNumber, error instanceof APIError ? error.headers : undefined);
          hooks.onRetry?.({ attempt: attemptNumber, error: error as EmbeddingsError, delayMs });
          await sleep(delayMs, signal);
          return true;
        },
      });
    } catch (error) {
      if (signal?.aborted && !(error instanceof APIUserAbortError)) throw abortError(signal);
      throw error;
    }
  }

  /** Shows where the client points, never its key. */
  [inspect.custom](): string {
    return `EmbeddingsClient { baseURL: '${this.baseURL}', maxConcurrency: ${this.maxConcurrency} }`;
  }

  toJSON(): { baseURL: string; maxConcurrency: number } {
    return { baseURL: this.baseURL, maxConcurrency: this.maxConcurrency };
  }
}

/**
 * Rejects as soon as `signal` aborts, even while the work waits in the limiter's queue.
 * Work is only started while the signal is live: started and then left behind, its own
 * rejection would go unhandled.
 */
function untilAborted<T>(start: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return start();
  if (signal.aborted) return Promise.reject(abortError(signal));
  const work = start();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
