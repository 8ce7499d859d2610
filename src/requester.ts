import pLimit, { type LimitFunction } from 'p-limit';
import pRetry, { type RetryContext } from 'p-retry';
import type { EmbeddingsClient } from './client.js';
import { APIError, APIUserAbortError, type EmbeddingsError } from './errors.js';
import {
  resolveRequestOptions,
  type RequestOptions,
  type ResolvedClientOptions,
  type ResolvedRequestOptions,
  type VectorType,
} from './options.js';
import { abortError, isRetryable, retryDelay, sleep } from './retry.js';
import { Transport, type TransportResponse } from './transport.js';

/** Points where the batch engine hooks into each HTTP attempt of one request. */
export interface AttemptHooks {
  /** Awaited before every HTTP attempt, the first and each retry: the pacer waits here. */
  beforeAttempt?: (signal: AbortSignal | undefined) => Promise<void>;
  /** Every HTTP response's status and lower-cased headers, success or error (for x-ratelimit-*). */
  onResponse?: (status: number, headers: Record<string, string>) => void;
  /** Before each retry sleep: the error that caused it and the delay chosen. */
  onRetry?: (info: { attempt: number; error: EmbeddingsError; delayMs: number }) => void;
}

/**
 * What a client sends requests with: its resolved options, one keep-alive transport and one
 * concurrency limiter shared by every call. Not part of the public API.
 */
export class Requester {
  readonly options: ResolvedClientOptions;
  readonly #transport: Transport;
  readonly #limit: LimitFunction;

  constructor(options: ResolvedClientOptions) {
    this.options = options;
    this.#transport = new Transport(options);
    this.#limit = pLimit(options.maxConcurrency);
  }

  /** Per call > client > defaults. */
  resolve(options?: RequestOptions): ResolvedRequestOptions {
    return resolveRequestOptions(this.options, options);
  }

  /** Closes the connection pool the client created (not a `dispatcher` it was given). */
  close(): Promise<void> {
    return this.#transport.close();
  }

  /**
   * One request with retries: each attempt waits for a limiter slot, failures that
   * deserve it are retried after the server's advised delay or backoff, and an abort ends
   * everything at once, queued, in flight or sleeping.
   */
  async post(
    path: string,
    body: unknown,
    options: ResolvedRequestOptions,
    hooks: AttemptHooks = {},
  ): Promise<TransportResponse> {
    const { signal } = options;
    const attempt = async (): Promise<TransportResponse> => {
      await hooks.beforeAttempt?.(signal);
      return rejectOnAbort(
        () =>
          this.#limit(async () => {
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
    const shouldRetry = ({ error }: RetryContext) => !signal?.aborted && isRetryable(error);
    try {
      return await pRetry(attempt, {
        retries: options.maxRetries,
        signal,
        shouldRetry,
        // p-retry's own delay is a function of the attempt number alone, with no way to give
        // one per error, and a server's retry-after must win over backoff. So its delay is
        // off, and ours is slept here, in the hook p-retry documents for a custom delay.
        // onFailedAttempt also runs for the last failure, hence the checks before sleeping.
        minTimeout: 0,
        onFailedAttempt: async (context) => {
          if (context.retriesLeft === 0 || !shouldRetry(context)) return;
          const { error, attemptNumber } = context;
          const delayMs = retryDelay(attemptNumber, error instanceof APIError ? error.headers : undefined);
          hooks.onRetry?.({ attempt: attemptNumber, error: error, delayMs });
          await sleep(delayMs, signal);
        },
      });
    } catch (error) {
      // Every abort ends as APIUserAbortError with the signal's reason as its cause, whatever
      // ended the call: p-retry rejects with the bare reason and has no hook to shape what it
      // rejects with, and an attempt may fail otherwise (a 500) just as the caller aborts.
      if (signal?.aborted && !(error instanceof APIUserAbortError)) throw abortError(signal);
      throw error;
    }
  }
}

/**
 * Rejects as soon as `signal` aborts, even while the work waits in the limiter's queue.
 * Work is only started while the signal is live: started and then left behind, its own
 * rejection would go unhandled.
 */
function rejectOnAbort<T>(start: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return start();
  if (signal.aborted) return Promise.reject(abortError(signal));
  const work = start();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

// Filled by the client's constructor: the layers below the client reach its requester
// without importing the client, and the requester stays out of the client's public type.
const requesters = new WeakMap<EmbeddingsClient<VectorType>, Requester>();

/** Makes `requester` the one `client`'s calls go through. */
export function attachRequester(client: EmbeddingsClient<VectorType>, requester: Requester): void {
  requesters.set(client, requester);
}

/** The requester `client` was built with. */
export function requesterOf(client: EmbeddingsClient<VectorType>): Requester {
  const requester = requesters.get(client);
  if (!requester) throw new TypeError('Not an EmbeddingsClient: create one with `new EmbeddingsClient()`');
  return requester;
}

/** Per call > client > defaults, for `client`. */
export function resolveCallOptions(
  client: EmbeddingsClient<VectorType>,
  options?: RequestOptions,
): ResolvedRequestOptions {
  return requesterOf(client).resolve(options);
}
