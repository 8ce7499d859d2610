/** Batch defaults in one place, and the checks that run before a job sends anything. */
import * as z from 'zod';
import type { EmbeddingsClient } from '../client.js';
import { InvalidArgumentError } from '../errors.js';
import type { RequestOptions, VectorType } from '../options.js';
import { requesterOf, resolveCallOptions } from '../requester.js';
import {
  booleanOption,
  EmbeddingCreateParams,
  integerIn,
  parseArgument,
  rateLimitOption,
  requestOptions,
} from '../schemas.js';
import { batchDefaultsFor } from '../preset-defaults.js';
import type { Tokenizer } from '../tokenizer.js';
import type { CacheKeyScope, EmbeddingCache } from './cache.js';
import type { RateLimit } from '../rate-limit/index.js';
import type { BatchParams, BatchProgress, CreateManyOptions } from './types.js';
import { BATCH_DEFAULTS } from './defaults.js';

/** Everything a job runs with, checked and resolved once. */
export interface BatchConfig {
  params: BatchParams;
  /** Passed to each `create()` request: its layout and whether it normalises (see resolveBatchConfig). */
  request: RequestOptions;
  /** The job normalises each vector it delivers: not when the request already did. */
  normalize: boolean;
  /** The layout the job delivers. */
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

/** Params of a batch call: as for `create()`, with `input` checked per item as the job reads it. */
const BatchParamsSchema = EmbeddingCreateParams.omit({ input: true }).extend({
  input: z.unknown().optional(),
  encoding_format: z
    .enum(['float'], {
      error: 'must be omitted or "float" for batch calls, which return vectors; use create() for raw base64',
    })
    .optional(),
});

const withMethods = (names: string[], error: string) =>
  z.custom(
    (value) => names.every((name) => typeof (value as Record<string, unknown> | null)?.[name] === 'function'),
    error,
  );

/** `createMany()` and `stream()` options; strict, so a misspelt option fails instead of being ignored. */
const BatchOptionsSchema = z
  .object(
    {
      ...requestOptions,
      maxConcurrency: integerIn(1).optional(),
      maxInputsPerRequest: integerIn(1).optional(),
      maxTokensPerRequest: integerIn(1).optional(),
      maxTokensPerInput: integerIn(1).optional(),
      truncate: booleanOption.optional(),
      dedupe: booleanOption.optional(),
      ordered: booleanOption.optional(),
      onFailure: z.enum(['throw', 'collect'], { error: 'must be "throw" or "collect"' }).optional(),
      rateLimit: rateLimitOption.optional(),
      tokenizer: withMethods(
        ['count', 'truncate'],
        'must have count(text) and truncate(text, maxTokens) methods',
      ).optional(),
      cache: withMethods(['get', 'set'], 'must have get(keys) and set(entries) methods').optional(),
      onProgress: z.custom((value) => typeof value === 'function', 'must be a function').optional(),
    },
    { error: 'must be an object' },
  )
  .strict();

/**
 * Checks params (all but `input`) and options; throws `InvalidArgumentError` naming the field.
 * `layout` is the layout delivered whatever `vectorType` says (createMany's matrix takes views).
 */
export function resolveBatchConfig(
  client: EmbeddingsClient<VectorType>,
  params: BatchParams & { input?: unknown },
  options: CreateManyOptions = {},
  layout?: VectorType,
): BatchConfig {
  const checked = parseArgument(BatchParamsSchema, 'embeddings params', params, false);
  const batchParams: BatchParams = { model: checked.model };
  if (checked.dimensions !== undefined) batchParams.dimensions = checked.dimensions;
  if (checked.user !== undefined) batchParams.user = checked.user;
  if (checked.encoding_format === 'float') batchParams.encoding_format = 'float';
  if (checked.inputType !== undefined) batchParams.inputType = checked.inputType;

  parseArgument(BatchOptionsSchema, 'batch options', options);
  const request: RequestOptions = {};
  if (options.timeout !== undefined) request.timeout = options.timeout;
  if (options.maxRetries !== undefined) request.maxRetries = options.maxRetries;
  if (options.maxResponseBytes !== undefined) request.maxResponseBytes = options.maxResponseBytes;
  if (options.headers !== undefined) request.headers = options.headers;
  if (options.extraBody !== undefined) request.extraBody = options.extraBody;
  // Resolving through the client adds its defaults and checks header names and values.
  const resolved = resolveCallOptions(client, {
    ...request,
    normalize: options.normalize,
    vectorType: options.vectorType,
    signal: options.signal,
  });
  const vectorType = layout ?? resolved.vectorType;
  // Without a cache, each request's reader decodes the rows in the layout asked for, checked
  // and normalised while their bytes are in cache, and the job hands them on as they are: a
  // second pass over every row cost as much as reading the answers. A cache keeps vectors as
  // the server sent them (one cache serves calls that normalise and calls that do not), in
  // memory of their own; arrays are normalised as doubles, after conversion: for both, the
  // request returns raw float32 rows (views where the job copies them anyway) and the job
  // shapes them.
  const shapedByRequest = options.cache === undefined && vectorType !== 'array';
  request.normalize = shapedByRequest && resolved.normalize;
  request.vectorType = shapedByRequest ? vectorType : options.cache === undefined ? 'float32-view' : 'float32';

  const maxConcurrency = options.maxConcurrency ?? client.maxConcurrency;
  // The preset's caps and tokenizer, where the call sets none.
  const preset = batchDefaultsFor(requesterOf(client).options.preset, batchParams);
  const maxInputsPerRequest = options.maxInputsPerRequest ?? preset.maxInputsPerRequest;
  const maxTokensPerRequest = options.maxTokensPerRequest ?? preset.maxTokensPerRequest;
  const maxTokensPerInput = options.maxTokensPerInput ?? BATCH_DEFAULTS.maxTokensPerInput;
  if (maxTokensPerInput > maxTokensPerRequest) {
    throw new InvalidArgumentError(
      `Invalid batch options: \`maxTokensPerInput\` (${maxTokensPerInput}) must not exceed \`maxTokensPerRequest\` (${maxTokensPerRequest})`,
    );
  }
  const { requestsPerMinute, tokensPerMinute } = options.rateLimit ?? {};
  const rateLimit: RateLimit = {};
  if (requestsPerMinute !== undefined) rateLimit.requestsPerMinute = requestsPerMinute;
  if (tokensPerMinute !== undefined) rateLimit.tokensPerMinute = tokensPerMinute;
  const tokenizer = preset.withPrefix(options.tokenizer ?? preset.tokenizer);
  // The tokens limit configured on the client's limiter, however much lower the server's is.
  const clientTokensPerMinute = requesterOf(client).rateLimiter.limits?.tokensPerMinute;

  return {
    params: batchParams,
    request,
    normalize: resolved.normalize && !shapedByRequest,
    vectorType,
    maxConcurrency,
    maxInputsPerRequest,
    // A request larger than the whole per-minute budget could never be paced.
    maxTokensPerRequest: Math.min(
      maxTokensPerRequest,
      rateLimit.tokensPerMinute ?? Infinity,
      clientTokensPerMinute ?? Infinity,
    ),
    maxTokensPerInput,
    truncate: options.truncate ?? BATCH_DEFAULTS.truncate,
    dedupe: options.dedupe ?? BATCH_DEFAULTS.dedupe,
    onFailure: options.onFailure ?? BATCH_DEFAULTS.onFailure,
    rateLimit,
    tokenizer,
    cache: options.cache,
    cacheScope: {
      host: new URL(client.baseURL).host,
      model: batchParams.model,
      dimensions: batchParams.dimensions,
      inputType: batchParams.inputType,
      extraBody: Object.keys(resolved.extraBody).length === 0 ? undefined : stableJSON(resolved.extraBody),
    },
    onProgress: options.onProgress,
    signal: options.signal,
  };
}

/** `value` as JSON with every object's keys sorted, so equal bodies give one cache key whatever their order. */
function stableJSON(value: unknown): string {
  return JSON.stringify(value, (_key, node: unknown) =>
    typeof node === 'object' && node !== null && !Array.isArray(node)
      ? Object.fromEntries(Object.entries(node).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : node,
  );
}
