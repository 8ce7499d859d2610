import type { Dispatcher } from 'undici';
import type { ApiKeyFunction } from './api-key.js';
import { InvalidArgumentError } from './errors.js';
import { checkHeaders, type HeadersInput } from './headers.js';
import { resolveLog, type Log, type Logger, type LogLevel } from './observe/logger.js';
import { PRESETS, type Preset, type PresetName } from './presets.js';
import { InMemoryRateLimiter, type RateLimit, type RateLimiter } from './rate-limit/index.js';
import { parseClientOptions, parseRequestOptions } from './schemas.js';
import type { BodySink } from './transport.js';

/**
 * How vectors are returned: `number[]` (`'array'`), a `Float32Array` that owns its memory
 * (`'float32'`), or a `Float32Array` row view into one buffer per response (`'float32-view'`:
 * no allocation per vector; a row kept alive keeps its whole response's buffer alive, and
 * transferring one row's `buffer` detaches every row of that response).
 */
export type VectorType = 'array' | 'float32' | 'float32-view';

export type { HeadersInput };

/** Options shared by the client and by each call; a call's value wins over the client's. */
export interface SharedOptions<V extends VectorType = VectorType> {
  /**
   * Time allowed for one HTTP attempt, headers and body together. Retries get a fresh budget.
   * @unit ms
   * @default 60000
   */
  timeout?: number;
  /**
   * Largest response body read, counted as it arrives and after decoding gzip, deflate or br.
   * Past it reading stops and the call fails with `ResponseTooLargeError` (not retried).
   * At most 536870888 (2^29 − 24, the longest string V8 can hold).
   * @unit bytes
   * @default 268435456 (256 MiB)
   */
  maxResponseBytes?: number;
  /**
   * How many times a failed attempt is retried (408, 409, 429, ≥ 500, connection errors, timeouts).
   * @default 2
   */
  maxRetries?: number;
  /**
   * Scale every returned vector to L2 norm 1; a zero vector stays zero.
   * @default true
   */
  normalize?: boolean;
  /**
   * Return vectors as `number[]` or as `Float32Array`.
   * @default 'array'
   */
  vectorType?: V;
  /**
   * Fields merged into every request's JSON body as given, for what a provider takes beyond
   * OpenAI's params (`truncate`, `truncation`, `truncate_prompt_tokens`, `prompt_name`...). Fields
   * that change the vector format (`output_dtype`, `embedding_type`) are sent but not decoded.
   * A call's fields are merged over the client's, and they win over the fields the preset maps
   * (`dimensions`, `inputType`). `model`, `input` and `encoding_format` come from the params
   * only: an `extraBody` holding one of them is refused with `InvalidArgumentError` before any
   * request. Nothing here is checked against the provider: a field it does not know is its 400.
   * @example { truncate: 'END' }
   */
  extraBody?: Record<string, unknown>;
}

/** Options for `new EmbeddingsClient(options)`. */
export interface ClientOptions<V extends VectorType = VectorType> extends SharedOptions<V> {
  /**
   * Bearer token. Read from `EMBEDRAIL_API_KEY`, then `OPENAI_API_KEY` (a hosted provider's preset
   * reads only its own variable, e.g. `VOYAGE_API_KEY`, so a key set for OpenAI is not sent there). Required for api.openai.com and a
   * preset's hosted API; without one, no `Authorization` header is sent (local servers). A
   * function is called before each attempt (cache inside it) and again with `forceRefresh: true`
   * after a 401, once, for a token that expires mid-job.
   */
  apiKey?: string | ApiKeyFunction | undefined;
  /**
   * How the key is sent: `'authorization'` as `Authorization: Bearer <key>`, `'api-key'` as
   * `api-key: <key>` (Azure OpenAI's keys, and gateways in front of it).
   * @default the preset's (`'api-key'` for `preset: 'azure'`), else 'authorization'
   */
  apiKeyHeader?: 'authorization' | 'api-key';
  /** Query parameters of every request, e.g. `{ 'api-version': '2024-10-21' }`. Per call: `query`. */
  defaultQuery?: Record<string, string>;
  /**
   * API root; requests go to `${baseURL}/embeddings`. Read from `EMBEDRAIL_BASE_URL`, then the
   * preset's root, then `OPENAI_BASE_URL`.
   * @default 'https://api.openai.com/v1'
   * @example 'http://127.0.0.1:11434/v1' // Ollama
   */
  baseURL?: string | undefined;
  /**
   * The server the client talks to, by name (`PRESETS` holds each one's conventions): its
   * `baseURL` where it has a well-known one, its key variable, its caps as `createMany()`
   * defaults, its field names for `dimensions` and `inputType`, and base64 only where it answers
   * base64. Every option you set yourself wins over the preset's.
   * @default 'openai' (OpenAI's conventions, today's behaviour)
   */
  preset?: PresetName | undefined;
  /** Sent as `OpenAI-Organization`. */
  organization?: string | undefined;
  /** Sent as `OpenAI-Project`. */
  project?: string | undefined;
  /**
   * Most requests in flight at once, shared by every call on this client.
   * @default 8
   */
  maxConcurrency?: number;
  /** Headers sent with every request; `null` removes one of ours (e.g. `'User-Agent': null`). */
  defaultHeaders?: HeadersInput;
  /**
   * undici dispatcher for every request: a `ProxyAgent`, an `Agent` with mTLS, a `MockAgent`.
   * @default a keep-alive `Agent` owned by the client
   */
  dispatcher?: Dispatcher;
  /**
   * Requests and tokens per minute for every call of this client together, on top of what
   * the server's `x-ratelimit-*` headers and 429s teach the client's rate limiter.
   * @default none: limits are learnt from the server's answers
   */
  rateLimit?: RateLimit;
  /**
   * The rate limiter every request of this client takes a turn from, before each attempt. Pass
   * one `InMemoryRateLimiter` to several clients that share a key, or your own `RateLimiter`
   * (a store shared between processes). Not with `rateLimit`: give the limits to the limiter.
   * @default a new `InMemoryRateLimiter` with `rateLimit`, for this client alone
   */
  rateLimiter?: RateLimiter;
  /**
   * Where the client logs each request and attempt (method, URL without query, status,
   * duration, request id, retries and their reason, rate-limit waits): any object with
   * `debug`, `info`, `warn` and `error`, `console` included. Never a key, a token or input text.
   * @default standard error when a `logLevel` or `EMBEDRAIL_LOG` is set; else no log
   */
  logger?: Logger | undefined;
  /**
   * The least severe lines logged: `'debug'` every attempt, `'info'` retries and rate-limit
   * waits, `'warn'` unusable rate-limit headers, `'error'` requests that failed for good.
   * Read from `EMBEDRAIL_LOG` when not given.
   * @default 'warn'
   */
  logLevel?: LogLevel | undefined;
  /**
   * Also log the input text of each request, at `'debug'` only (never at another level).
   * @default false
   */
  logInputs?: boolean;
}

/** Per-call options for `client.embeddings.create(params, options)`. */
export interface RequestOptions<V extends VectorType = VectorType> extends SharedOptions<V> {
  /** Cancels in-flight attempts and pending retry sleeps at once. */
  signal?: AbortSignal | undefined;
  /** Extra headers for this call; `null` removes a client or default header. */
  headers?: HeadersInput;
  /** Query parameters for this call; `null` removes one of the client's `defaultQuery`. */
  query?: Record<string, string | null>;
}

export const OPENAI_BASE_URL = 'https://api.openai.com/v1';

/** Every default in one place; the README and the JSDoc above state the same numbers. */
// Frozen: it is exported, and a caller writing to it would change every client's defaults.
export const DEFAULTS = Object.freeze({
  baseURL: OPENAI_BASE_URL,
  timeout: 60_000,
  // The largest answer to expect is 2,048 inputs × 3,072 dimensions as float JSON: 6,291,456
  // floats at up to 33 bytes each ("-1.2345678901234567e-05," on its own indented line) is
  // 207,618,048 bytes. 256 MiB = 268,435,456 leaves 29% above that (base64 needs 33.6 MB),
  // and stays under V8's longest string (2^29 − 24), so the body can always become one.
  maxResponseBytes: 256 * 1024 * 1024,
  maxRetries: 2,
  maxConcurrency: 8,
  normalize: true,
  vectorType: 'array',
  logLevel: 'warn',
  apiKeyHeader: 'authorization',
} as const satisfies Required<
  Pick<
    ClientOptions,
    | 'baseURL'
    | 'timeout'
    | 'maxResponseBytes'
    | 'maxRetries'
    | 'maxConcurrency'
    | 'normalize'
    | 'vectorType'
    | 'logLevel'
    | 'apiKeyHeader'
  >
>);

/** What a client runs with once options, environment and defaults are merged. */
export interface ResolvedClientOptions {
  apiKey: string | ApiKeyFunction | undefined;
  apiKeyHeader: 'authorization' | 'api-key';
  defaultQuery: Record<string, string>;
  baseURL: string;
  organization: string | undefined;
  project: string | undefined;
  timeout: number;
  maxResponseBytes: number;
  maxRetries: number;
  maxConcurrency: number;
  normalize: boolean;
  vectorType: VectorType;
  defaultHeaders: HeadersInput;
  dispatcher: Dispatcher | undefined;
  rateLimiter: RateLimiter;
  /** Undefined when the client logs nothing. */
  log: Log | undefined;
  preset: Preset;
  extraBody: Record<string, unknown>;
}

/** What one call runs with: per call > client > defaults. */
export interface ResolvedRequestOptions {
  timeout: number;
  maxResponseBytes: number;
  maxRetries: number;
  normalize: boolean;
  vectorType: VectorType;
  signal: AbortSignal | undefined;
  headers: HeadersInput;
  query: Record<string, string | null>;
  /** The client's `extraBody` with the call's merged over it. */
  extraBody: Record<string, unknown>;
  /** Set by `create()`: the answer's reader for each attempt, handed through to the transport. */
  receive?: (() => BodySink) | undefined;
}

const BASE_URL_VARS = ['EMBEDRAIL_BASE_URL', 'OPENAI_BASE_URL'] as const;

/** `value`, the option called `option`, as an absolute http(s) URL; anything else is refused naming both. */
export function parseHttpURL(value: string, option: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError(`\`${option}\` must be an absolute http(s) URL (got ${JSON.stringify(value)})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidArgumentError(`\`${option}\` must use http or https (got ${JSON.stringify(value)})`);
  }
  return url;
}

export function resolveClientOptions(
  options: ClientOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): ResolvedClientOptions {
  parseClientOptions(options);
  const fromEnv = (names: readonly string[]) => names.map((name) => env[name]).find((value) => value);
  const preset = PRESETS[options.preset ?? 'openai'];
  // Our own variable, then the preset's root, then OpenAI's variable, which was set for another server.
  const [ownBaseURL, openaiBaseURL] = BASE_URL_VARS.map((name) => fromEnv([name]));
  const baseURL = (options.baseURL ?? ownBaseURL ?? presetBaseURL(preset) ?? openaiBaseURL ?? DEFAULTS.baseURL).replace(
    /\/+$/,
    '',
  );
  if (options.baseURL === undefined && preset.baseURL === undefined && (ownBaseURL ?? openaiBaseURL) === undefined) {
    throw new InvalidArgumentError(
      `\`preset: '${preset.name}'\` has no API root of its own: pass \`baseURL\`, your server's (got none, and ${BASE_URL_VARS.join(' and ')} are empty)`,
    );
  }
  const url = parseHttpURL(baseURL, 'baseURL');
  // The endpoint's own URL pasted as the root would send every request to .../embeddings/embeddings
  // and come back as a 404 naming only the path.
  if (/\/embeddings$/i.test(url.pathname)) {
    throw new InvalidArgumentError(
      `\`baseURL\` is the API root, not the endpoint: requests go to \`\${baseURL}/embeddings\`, so drop the trailing /embeddings (got ${JSON.stringify(baseURL)})`,
    );
  }
  if (options.rateLimit !== undefined && options.rateLimiter !== undefined) {
    throw new InvalidArgumentError(
      'Invalid EmbeddingsClient options: `rateLimit` and `rateLimiter` exclude each other: give the limits to the limiter (got both)',
    );
  }
  const keyVars = preset.apiKeyEnv;
  const apiKey = options.apiKey ?? fromEnv(keyVars);
  if (!apiKey && (url.hostname === 'api.openai.com' || isPresetHost(preset, url))) {
    throw new InvalidArgumentError(
      `No API key for ${baseURL}: pass \`apiKey\` or set ${keyVars.join(' or ')} (${keyVars.length === 1 ? 'it was' : 'both were'} empty)`,
    );
  }
  const log = resolveLog(options, env, DEFAULTS.logLevel);
  return {
    apiKey: apiKey || undefined,
    apiKeyHeader: options.apiKeyHeader ?? preset.apiKeyHeader ?? DEFAULTS.apiKeyHeader,
    defaultQuery: options.defaultQuery ?? {},
    baseURL,
    organization: options.organization,
    project: options.project,
    timeout: options.timeout ?? DEFAULTS.timeout,
    maxResponseBytes: options.maxResponseBytes ?? DEFAULTS.maxResponseBytes,
    maxRetries: options.maxRetries ?? DEFAULTS.maxRetries,
    maxConcurrency: options.maxConcurrency ?? DEFAULTS.maxConcurrency,
    normalize: options.normalize ?? DEFAULTS.normalize,
    vectorType: options.vectorType ?? DEFAULTS.vectorType,
    defaultHeaders: options.defaultHeaders ?? {},
    dispatcher: options.dispatcher,
    rateLimiter:
      options.rateLimiter ??
      new InMemoryRateLimiter({ ...options.rateLimit, ...(log && { onWarning: (message) => log.warn(message) }) }),
    log,
    preset,
    extraBody: options.extraBody ?? {},
  };
}

/**
 * The preset's API root, except OpenAI's, which stays the last resort after `OPENAI_BASE_URL`
 * as it always was. A self-hosted server has no root of its own and must be given one.
 */
function presetBaseURL(preset: Preset): string | undefined {
  return preset.name === 'openai' ? undefined : preset.baseURL;
}

/** The preset's own hosted API (not a server on the user's machine), which needs a key as OpenAI's does. */
function isPresetHost(preset: Preset, url: URL): boolean {
  return preset.baseURL?.startsWith('https:') === true && new URL(preset.baseURL).host === url.host;
}

export function resolveRequestOptions(
  client: ResolvedClientOptions,
  options: RequestOptions = {},
): ResolvedRequestOptions {
  parseRequestOptions(options);
  if (options.headers) checkHeaders(options.headers, 'headers');
  return {
    timeout: options.timeout ?? client.timeout,
    maxResponseBytes: options.maxResponseBytes ?? client.maxResponseBytes,
    maxRetries: options.maxRetries ?? client.maxRetries,
    normalize: options.normalize ?? client.normalize,
    vectorType: options.vectorType ?? client.vectorType,
    signal: options.signal,
    headers: options.headers ?? {},
    query: options.query ?? {},
    extraBody: options.extraBody === undefined ? client.extraBody : { ...client.extraBody, ...options.extraBody },
  };
}
