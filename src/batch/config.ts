/** Batch defaults in one place, and the checks that run before a job sends anything. */
import { resolveCallOptions, type EmbeddingsClient } from '../client.js';
import { InvalidArgumentError } from '../errors.js';
import type { RequestOptions, VectorType } from '../options.js';
import { parseCreateParams, preview } from '../schemas.js';
import { tokenizerForModel, type Tokenizer } from '../tokenizer.js';
import type { CacheKeyScope, EmbeddingCache } from './cache.js';
import type { RateLimit } from './pacer.js';
import type { BatchParams, BatchProgress, CreateManyOptions } from './types.js';

/** Every batch default; the JSDoc of CreateManyOptions and the README state the same numbers. */
export const BATCH_DEFAULTS = Object.freeze({
  /** OpenAI accepts at most 2048 inputs per request. */
  maxInputsPerRequest: 2048,
  /**
   * OpenAI rejects a request over 300,000 tokens. We count with the same cl100k_base
   * encoding, but the server's count can still differ a little (text that spells special
   * tokens such as `<|endoftext|>`, Unicode it normalises), so 1% (3,000 tokens) is kept in
   * reserve; a request that still goes over is split when the server answers 400 or 413.
   */
  maxTokensPerRequest: 297_000,
  /** OpenAI's input limit for text-embedding-3-* and text-embedding-ada-002. */
  maxTokensPerInput: 8192,
  truncate: false,
  dedupe: true,
  onFailure: 'throw',
} as const);

/** Everything a job runs with, checked and resolved once. */
export interface BatchConfig {
  params: BatchParams;
  /** Passed to each `create()` request; vectors come back raw as float32, we shape them. */
  request: RequestOptions;
  normalize: boolean;
  vectorType: VectorType;
  maxConcurrency: number;
  maxInputsPerRequest: number;
  maxTokensPerRequest: number;
  maxTokensPerInput: number;
  truncate: boolean;
  dedupe: boolean;
  onFailure: 'throw' | 'collect';
  rateLimit: RateLimit;
  tokenizer: Tokenizer;
  cache: EmbeddingCache | undefined;
  cacheScope: CacheKeyScope;
  onProgress: ((progress: BatchProgress) => void) | undefined;
  signal: AbortSignal | undefined;
}

const KNOWN_OPTIONS = new Set([
  'maxConcurrency', 'maxInputsPerRequest', 'maxTokensPerRequest', 'maxTokensPerInput', 'truncate',
  'rateLimit', 'dedupe', 'onProgress', 'onFailure', 'cache', 'tokenizer', 'signal', 'timeout',
  'maxRetries', 'maxResponseBytes', 'headers', 'normalize', 'vectorType', 'ordered',
]);

/** Checks params (all but `input`) and options; throws `InvalidArgumentError` naming the field. */
export function resolveBatchConfig(
  client: EmbeddingsClient<VectorType>,
  params: BatchParams & { input?: unknown },
  options: CreateManyOptions = {},
): BatchConfig {
  if (typeof params !== 'object' || params === null) {
    throw new InvalidArgumentError(`params must be an object (got ${preview(params)})`);
  }
  const { input: _input, ...rest } = params;
  if ((rest as { encoding_format?: unknown }).encoding_format === 'base64') {
    throw new InvalidArgumentError(
      '`encoding_format` must be omitted or "float" for batch calls, which return vectors (got "base64"); use create() for raw base64',
    );
  }
  // One probe input lets the core's schema check model, dimensions and user with its own messages.
  const checked = parseCreateParams({ ...rest, input: 'probe' });
  const batchParams: BatchParams = { model: checked.model };
  if (checked.dimensions !== undefined) batchParams.dimensions = checked.dimensions;
  if (checked.user !== undefined) batchParams.user = checked.user;
  if (checked.encoding_format === 'float') batchParams.encoding_format = 'float';

  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError(`options must be an object (got ${preview(options)})`);
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) throw new InvalidArgumentError(`unknown batch option \`${key}\``);
  }
  const request: RequestOptions = { normalize: false, vectorType: 'float32' };
  if (options.timeout !== undefined) request.timeout = options.timeout;
  if (options.maxRetries !== undefined) request.maxRetries = options.maxRetries;
  if (options.maxResponseBytes !== undefined) request.maxResponseBytes = options.maxResponseBytes;
  if (options.headers !== undefined) request.headers = options.headers;
  // Resolving through the client checks timeout, maxRetries, maxResponseBytes, headers, normalize and vectorType.
  const resolved = resolveCallOptions(client, {
    ...request,
    normalize: options.normalize,
    vectorType: options.vectorType,
    signal: options.signal,
  });

  const maxConcurrency = integerAtLeast('maxConcurrency', options.maxConcurrency, 1) ?? client.maxConcurrency;
  const maxInputsPerRequest =
    integerAtLeast('maxInputsPerRequest', options.maxInputsPerRequest, 1) ?? BATCH_DEFAULTS.maxInputsPerRequest;
  const maxTokensPerRequest =
    integerAtLeast('maxTokensPerRequest', options.maxTokensPerRequest, 1) ?? BATCH_DEFAULTS.maxTokensPerRequest;
  const maxTokensPerInput =
    integerAtLeast('maxTokensPerInput', options.maxTokensPerInput, 1) ?? BATCH_DEFAULTS.maxTokensPerInput;
  if (maxTokensPerInput > maxTokensPerRequest) {
    throw new InvalidArgumentError(
      `\`maxTokensPerInput\` (${maxTokensPerInput}) must not exceed \`maxTokensPerRequest\` (${maxTokensPerRequest})`,
    );
  }
  const truncate = booleanOption('truncate', options.truncate) ?? BATCH_DEFAULTS.truncate;
  const dedupe = booleanOption('dedupe', options.dedupe) ?? BATCH_DEFAULTS.dedupe;
  booleanOption('ordered', (options as { ordered?: unknown }).ordered);
  const onFailure = options.onFailure ?? BATCH_DEFAULTS.onFailure;
  if (onFailure !== 'throw' && onFailure !== 'collect') {
    throw new InvalidArgumentError(`\`onFailure\` must be "throw" or "collect" (got ${preview(onFailure)})`);
  }
  const rateLimit = checkRateLimit(options.rateLimit);
  const tokenizer = options.tokenizer ?? tokenizerForModel(batchParams.model);
  if (typeof tokenizer?.count !== 'function' || typeof tokenizer.truncate !== 'function') {
    throw new InvalidArgumentError('`tokenizer` must have count(text) and truncate(text, maxTokens) methods');
  }
  const cache = options.cache;
  if (cache !== undefined && (typeof cache?.get !== 'function' || typeof cache.set !== 'function')) {
    throw new InvalidArgumentError('`cache` must have get(keys) and set(entries) methods');
  }
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
    throw new InvalidArgumentError(`\`onProgress\` must be a function (got ${preview(options.onProgress)})`);
  }

  return {
    params: batchParams,
    request,
    normalize: resolved.normalize,
    vectorType: resolved.vectorType,
    maxConcurrency,
    maxInputsPerRequest,
    // A request larger than the whole per-minute budget could never be paced.
    maxTokensPerRequest: Math.min(maxTokensPerRequest, rateLimit.tokensPerMinute ?? Infinity),
    maxTokensPerInput,
    truncate,
    dedupe,
    onFailure,
    rateLimit,
    tokenizer,
    cache,
    cacheScope: { host: new URL(client.baseURL).host, model: batchParams.model, dimensions: batchParams.dimensions },
    onProgress: options.onProgress,
    signal: options.signal,
  };
}

function integerAtLeast(name: string, value: unknown, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new InvalidArgumentError(`\`${name}\` must be an integer ≥ ${min} (got ${preview(value)})`);
  }
  return value;
}

function booleanOption(name: string, value: unknown): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw new InvalidArgumentError(`\`${name}\` must be a boolean (got ${preview(value)})`);
  return value;
}

function checkRateLimit(rateLimit: unknown): RateLimit {
  if (rateLimit === undefined) return {};
  if (typeof rateLimit !== 'object' || rateLimit === null) {
    throw new InvalidArgumentError(`\`rateLimit\` must be an object (got ${preview(rateLimit)})`);
  }
  const result: RateLimit = {};
  for (const [key, value] of Object.entries(rateLimit)) {
    if (key !== 'requestsPerMinute' && key !== 'tokensPerMinute') {
      throw new InvalidArgumentError(`unknown field \`rateLimit.${key}\``);
    }
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new InvalidArgumentError(`\`rateLimit.${key}\` must be a number > 0 (got ${preview(value)})`);
    }
    result[key] = value;
  }
  return result;
}
