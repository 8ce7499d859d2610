/** Public types of the batch engine: `createMany()` and `stream()` params, options and results. */
import type { EmbeddingsError } from '../errors.js';
import type { HeadersInput, VectorType } from '../options.js';
import type { InputType } from '../presets.js';
import type { Tokenizer } from '../tokenizer.js';
import type { Embedding, EmbeddingUsage } from '../types.js';
import type { EmbeddingCache } from './cache.js';
import type { RateLimit, RateLimitSnapshot } from '../rate-limit/index.js';

/** Request fields shared by every request of a batch job. */
export interface BatchParams {
  /** Model id, e.g. `text-embedding-3-small`. Also picks the default tokenizer. */
  model: string;
  /** Output size for models that support shortening (text-embedding-3-*). */
  dimensions?: number;
  /** Your end-user id, for the provider's abuse monitoring. */
  user?: string;
  /**
   * Wire format. Leave it out (base64, decoded for you) or set `'float'` for servers that
   * mishandle base64; the batch engine always returns vectors, never base64 strings.
   */
  encoding_format?: 'float';
  /**
   * What every text of the job is for, sent as the client's preset names it; see `create()`.
   * Part of each cache key: a query and a document of one text are different vectors.
   */
  inputType?: InputType;
}

/** Params of `createMany()`: `create()`'s, with any number of texts. */
export interface CreateManyParams extends BatchParams {
  /** The texts, each sent once (identical texts are merged) and returned at its position. */
  input: string | readonly string[];
}

/** One `stream()` input: a text, or a text with your id, which comes back on its result. */
export type StreamInput = string | { id: string; text: string };

/** Params of `stream()`: the input is read lazily, so it may be endless. */
export interface StreamParams extends BatchParams {
  input: Iterable<StreamInput> | AsyncIterable<StreamInput>;
}

/** An input that ended without a vector, and why. */
export interface BatchFailure {
  /** Position of the input. */
  index: number;
  /** The input's id, for `{ id, text }` inputs of `stream()`. */
  id?: string;
  /** What went wrong: the API error of its request, or the check it failed. */
  error: EmbeddingsError;
}

/** What `onProgress` receives, at least once per completed request. */
export interface BatchProgress {
  /** Inputs that have their vector (duplicates and cache hits included). */
  completedInputs: number;
  /** All inputs, when known (`createMany()`, or `stream()` over an array). */
  totalInputs: number | undefined;
  /** Inputs that ended as failures. */
  failedInputs: number;
  /** HTTP requests sent, retries included. */
  requests: number;
  /** Retries after a retryable error. */
  retries: number;
  /** 429 answers received. */
  rateLimited: number;
  /** Tokens of completed requests, as the server counted them (else as we did). */
  tokens: number;
  /** @unit ms since the job started. */
  elapsedMs: number;
  /** @unit ms, estimated from the pace so far; `undefined` until it can be estimated. */
  etaMs: number | undefined;
  /**
   * What the rate limiter believes: limits configured or learnt, requests in flight and
   * waiting, and `waitingUntil` (epoch ms) with `waitReason` while requests wait for a turn.
   * `undefined` only for a custom `rateLimiter` without `snapshot()`.
   */
  rateLimit: RateLimitSnapshot | undefined;
}

/** Options of `createMany()`. Request options (`signal`, `timeout`...) work as in `create()`. */
export interface CreateManyOptions<V extends VectorType = VectorType> {
  /**
   * Most requests of this job in flight at once: a sliding window, so a slow request never
   * holds up the others. The client's limiter still caps all its calls together.
   * @default the client's `maxConcurrency` (8 unless set)
   */
  maxConcurrency?: number;
  /**
   * Inputs per request; a request closes at this count or at `maxTokensPerRequest`.
   * @default the client's preset's cap: 2048 (OpenAI's) unless a preset says otherwise (TEI 32, Voyage 1000...)
   */
  maxInputsPerRequest?: number;
  /**
   * Tokens per request, counted with `tokenizer`.
   * @default the client's preset's cap: 297000 (OpenAI's 300,000 less 1%; see DEFAULTS) unless a preset says otherwise (Mistral 16384, Voyage 120000)
   */
  maxTokensPerRequest?: number;
  /**
   * Tokens per input; a longer input is an error naming its index, or is cut with `truncate`.
   * @default 8192 (OpenAI's cap for text-embedding-3-* and ada-002)
   */
  maxTokensPerInput?: number;
  /**
   * Cut inputs over `maxTokensPerInput` to that many tokens instead of failing.
   * @default false
   */
  truncate?: boolean;
  /**
   * Limits for this call alone, on top of the client's rate limiter (which every call of the
   * client shares, and which follows the server's `x-ratelimit-*` headers): they can only
   * make the job slower, never let it exceed the client's budget.
   */
  rateLimit?: RateLimit;
  /**
   * Send identical texts once and give the vector to every position that asked for it.
   * @default true
   */
  dedupe?: boolean;
  /** Called with counters after each completed request, each 429, each rate-limit wait as it starts, and cache lookups that hit. */
  onProgress?: (progress: BatchProgress) => void;
  /**
   * `'throw'`: once all work settles, reject with `BatchEmbeddingError` holding every vector
   * and every failure. `'collect'`: resolve with `failures` on the result.
   * @default 'throw'
   */
  onFailure?: 'throw' | 'collect';
  /** Where vectors are looked up before sending and stored after each request. */
  cache?: EmbeddingCache;
  /**
   * Counts and cuts tokens. Must never undercount what the server counts.
   * @default cl100k_base for text-embedding-3-* and ada-002 (openai and azure presets), else UTF-8 bytes (an upper bound)
   */
  tokenizer?: Tokenizer;
  /** Stops new requests at once and cancels those in flight. */
  signal?: AbortSignal | undefined;
  /**
   * Time allowed for one HTTP attempt.
   * @unit ms
   * @default the client's `timeout` (60000 unless set)
   */
  timeout?: number;
  /**
   * Largest response body read per request; past it the request fails with `ResponseTooLargeError`.
   * @unit bytes
   * @default the client's `maxResponseBytes` (268435456 unless set)
   */
  maxResponseBytes?: number;
  /**
   * Retries per request.
   * @default the client's `maxRetries` (2 unless set)
   */
  maxRetries?: number;
  /** Extra headers for every request of the job; `null` removes one. */
  headers?: HeadersInput;
  /** Fields merged into every request's body, over the client's `extraBody`; see `ClientOptions.extraBody`. */
  extraBody?: Record<string, unknown>;
  /**
   * Scale every vector to L2 norm 1.
   * @default the client's `normalize` (true unless set)
   */
  normalize?: boolean;
  /**
   * `number[]` or `Float32Array` vectors; `'float32-view'` rows are views into one buffer per
   * response (see {@link VectorType}).
   * @default the client's `vectorType` ('array' unless set)
   */
  vectorType?: V;
  /**
   * `createMany()` only: resolve with every vector in one contiguous {@link EmbeddingMatrix}
   * (`matrix`, row `i` for input `i`) instead of one array per input, ready for `topK` or a
   * `.npy` file. One allocation for the whole job, rows copied in as each answer arrives;
   * `vectorType` does not apply. A failed input's row stays zeros, named in `failures`.
   * @default false
   */
  matrix?: boolean;
}

/** Vectors back to back: row `i` is `data.subarray(i * dimensions, (i + 1) * dimensions)`. */
export interface EmbeddingMatrix {
  data: Float32Array;
  rows: number;
  dimensions: number;
}

/** The answer of `createMany(params, { matrix: true })`: `createMany()`'s, the vectors as one matrix. */
export interface CreateManyMatrixResponse extends Omit<CreateManyResponse<never>, 'data' | 'object'> {
  object: 'matrix';
  matrix: EmbeddingMatrix;
}

/** Options of `stream()`: `createMany()`'s, plus `ordered`. */
export interface StreamOptions<V extends VectorType = VectorType> extends Omit<CreateManyOptions<V>, 'matrix'> {
  /**
   * Yield results in input order instead of as requests complete.
   * @default false
   */
  ordered?: boolean;
}

/** The answer of `createMany()`: `create()`'s shape, usage summed over every request. */
export interface CreateManyResponse<E = number[]> {
  object: 'list';
  /** One item per successful input, sorted by index (`data[i].index === i` when nothing failed). */
  data: Embedding<E>[];
  model: string;
  usage: EmbeddingUsage;
  /** Inputs without a vector, sorted by index; always empty under `onFailure: 'throw'`. */
  failures: BatchFailure[];
}

/** A `stream()` result: a vector, or (under `onFailure: 'collect'`) a failure. */
export type StreamItem<E = number[]> =
  | { index: number; id?: string; embedding: E; error?: undefined }
  | { index: number; id?: string; embedding?: undefined; error: EmbeddingsError };
