import pLimit, { type LimitFunction } from 'p-limit';
import pRetry, { type RetryContext } from 'p-retry';
import type { EmbeddingsClient } from './client.js';
import { APIError, APIUserAbortError, AuthenticationError, RateLimitError, type EmbeddingsError } from './errors.js';
import {
  resolveRequestOptions,
  type RequestOptions,
  type ResolvedClientOptions,
  type ResolvedRequestOptions,
  type VectorType,
} from './options.js';
import { Observer, type RequestTrace } from './observe/observer.js';
import type { RateLimitAnswer, RateLimiter, RateLimitGrant, RateLimitWait } from './rate-limit/index.js';
import { abortError, isRetryable, rejectOnAbort, retryDelay, sleep } from './retry.js';
import {
  displayURL,
  Transport,
  type HttpMethod,
  type Payload,
  type StreamingResponse,
  type TransportResponse,
} from './transport.js';

/** What one request sends through the rate limiter, and where the batch engine hooks into each HTTP attempt. */
export interface AttemptHooks {
  /** The limiter every attempt acquires a turn from: the client's, unless a call tightens it. */
  rateLimiter?: RateLimiter;
  /** Tokens each attempt sends, charged to the limiter's tokens budget. @default 0 */
  tokens?: number;
  /** An attempt's wait for its turn started, or its end or reason changed. */
  onWait?: (wait: RateLimitWait) => void;
  /** An attempt got its turn and is being sent (the first and each retry). */
  onAttempt?: () => void;
  /** Every HTTP response's status and lower-cased headers, success or error (for x-ratelimit-*). */
  onResponse?: (status: number, headers: Record<string, string>) => void;
  /**
   * Before each retry: the error that caused it and the delay chosen. After a 429 the rate
   * limiter waits that delay out (every request of the client pauses), not the retry.
   */
  onRetry?: (info: { attempt: number; error: EmbeddingsError; delayMs: number }) => void;
  /** Where the request's attempts, answers, retries and waits are logged, emitted and traced. */
  trace?: RequestTrace;
}

/**
 * What a client sends requests with: its resolved options, one keep-alive transport, one
 * concurrency limiter and one rate limiter shared by every call. Not part of the public API.
 */
export class Requester {
  readonly options: ResolvedClientOptions;
  readonly rateLimiter: RateLimiter;
  /** The client's log, events and OpenTelemetry. */
  readonly observer: Observer;
  readonly #transport: Transport;
  readonly #limit: LimitFunction;

  constructor(options: ResolvedClientOptions) {
    this.options = options;
    this.rateLimiter = options.rateLimiter;
    this.observer = new Observer(options.log);
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
   * One request with retries: each attempt takes a concurrency slot, then a turn of the rate
   * limiter; failures that deserve it are retried after the server's advised delay
   * or backoff, and an abort ends everything at once, queued, in flight or sleeping.
   */
  async post(
    path: string,
    body: unknown,
    options: ResolvedRequestOptions,
    hooks: AttemptHooks = {},
  ): Promise<TransportResponse> {
    const { signal } = options;
    const limiter = hooks.rateLimiter ?? this.rateLimiter;
    const tokens = hooks.tokens ?? 0;
    const { trace } = hooks;
    const onWait = trace && ((wait: RateLimitWait) => (trace.wait(wait), hooks.onWait?.(wait)));
    const send = (): Promise<TransportResponse> =>
      rejectOnAbort(
        () =>
          // The turn is taken in the concurrency slot, as the request leaves: taken before, it
          // would be charged while the request still queued for a slot, and the answer's
          // `remaining` (counted when the request reached the server) would be read as older
          // than it is.
          this.#limit(async () => {
            const grant = once(await acquire(limiter, tokens, signal, onWait ?? hooks.onWait));
            hooks.onAttempt?.();
            trace?.attempt();
            try {
              const response = await this.#transport.post(path, body, options);
              answered(grant, response);
              return response;
            } catch (error) {
              if (error instanceof APIError) answered(grant, error);
              throw error;
            } finally {
              // No answer came (connection error, timeout, abort): the turn is given back.
              // After an answer this does nothing.
              grant.cancel();
            }
          }),
        signal,
      );
    const answered = (grant: RateLimitGrant, answer: RateLimitAnswer) => {
      grant.complete(answer);
      trace?.answered(answer.status, answer.headers);
      hooks.onResponse?.(answer.status, answer.headers);
    };
    return this.#retrying(send, signal, options.maxRetries, (info) => {
      hooks.onRetry?.(info);
      trace?.retry(info.attempt, info.error, info.delayMs);
      // A 429 told the rate limiter, which holds every request of the client (this retry
      // included) for the advised pause: sleeping here as well would wait twice.
      return !(info.error instanceof RateLimitError);
    });
  }

  /**
   * A request of the Files and Batches resources: the client's transport, key, headers,
   * query, concurrency and retry policy, but not the embeddings rate limiter (those endpoints
   * have limits of their own, and their answers carry none of the embeddings headers). A
   * payload that cannot be sent twice (a stream the caller handed in) is sent once.
   */
  request(
    method: HttpMethod,
    path: string,
    payload: Payload,
    options: ResolvedRequestOptions,
    init: { stream: true; replayable?: boolean },
  ): Promise<StreamingResponse>;
  request(
    method: HttpMethod,
    path: string,
    payload: Payload,
    options: ResolvedRequestOptions,
    init?: { stream?: false; replayable?: boolean },
  ): Promise<TransportResponse>;
  async request(
    method: HttpMethod,
    path: string,
    payload: Payload,
    options: ResolvedRequestOptions,
    init: { stream?: boolean; replayable?: boolean } = {},
  ): Promise<TransportResponse | StreamingResponse> {
    const { signal } = options;
    const log = this.observer.log;
    // Origin and path only: a base URL may carry credentials (`https://user:key@host`).
    const url = displayURL(`${this.options.baseURL}${path}`);
    const send = (): Promise<TransportResponse | StreamingResponse> =>
      rejectOnAbort(
        () =>
          this.#limit(async () => {
            const started = performance.now();
            try {
              const response = await this.#transport.send(method, path, payload, options, init.stream === true);
              log?.debug(`${method} ${url} ${response.status}`, {
                method,
                status: response.status,
                durationMs: Math.round(performance.now() - started),
                requestId: response.headers['x-request-id'],
              });
              return response;
            } catch (error) {
              if (error instanceof APIError) {
                log?.debug(`${method} ${url} ${error.status}`, {
                  method,
                  status: error.status,
                  requestId: error.requestId,
                });
              }
              throw error;
            }
          }),
        signal,
      );
    const retries = init.replayable === false ? 0 : options.maxRetries;
    try {
      return await this.#retrying(send, signal, retries, ({ attempt, error, delayMs }) => {
        log?.info(`retrying ${method} ${url} in ${delayMs} ms (attempt ${attempt} failed: ${error.name})`, {
          method,
          attempt,
          delayMs,
          status: error instanceof APIError ? error.status : undefined,
        });
        return true;
      });
    } catch (error) {
      if (!(error instanceof APIUserAbortError)) {
        log?.error(`${method} ${url} failed: ${(error as Error).name}`, {
          method,
          status: error instanceof APIError ? error.status : undefined,
        });
      }
      throw error;
    }
  }

  /**
   * Runs `send` with up to `retries` retries of what deserves one, after the server's advised
   * delay or backoff; `beforeRetry` hears each and says whether to sleep that delay here.
   * A 401 to a key function's token (it may have expired mid-job) gets one fresh token and one
   * more attempt, outside `retries`, before it stands.
   */
  async #retrying<T>(
    send: () => Promise<T>,
    signal: AbortSignal | undefined,
    retries: number,
    beforeRetry: (info: { attempt: number; error: EmbeddingsError; delayMs: number }) => boolean,
  ): Promise<T> {
    let keyRefreshed = false;
    const attempt = (): Promise<T> =>
      send().catch(async (error: unknown) => {
        if (keyRefreshed || !(error instanceof AuthenticationError)) throw error;
        keyRefreshed = true;
        if (!(await this.#transport.refreshKeyAfter(error))) throw error;
        return send();
      });
    const shouldRetry = ({ error }: RetryContext) => !signal?.aborted && isRetryable(error);
    try {
      return await pRetry(attempt, {
        retries,
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
          if (beforeRetry({ attempt: attemptNumber, error: error, delayMs })) {
            await sleep(delayMs, signal);
          }
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

/** A turn of `limiter`; an abort while waiting rejects as every abort does. */
async function acquire(
  limiter: RateLimiter,
  tokens: number,
  signal: AbortSignal | undefined,
  onWait: ((wait: RateLimitWait) => void) | undefined,
): Promise<RateLimitGrant> {
  try {
    return await limiter.acquire({ tokens, signal, onWait });
  } catch (error) {
    if (signal?.aborted) throw abortError(signal);
    throw error;
  }
}

/** Settles `grant` once, whatever a custom limiter does with further calls. */
function once(grant: RateLimitGrant): RateLimitGrant {
  let settled = false;
  return {
    complete: (answer) => {
      if (settled) return;
      settled = true;
      grant.complete({ status: answer.status, headers: answer.headers });
    },
    cancel: () => {
      if (settled) return;
      settled = true;
      grant.cancel();
    },
  };
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
