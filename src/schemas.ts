import { constants } from 'node:buffer';
import * as z from 'zod';
import { InvalidArgumentError } from './errors.js';
import { INPUT_TYPES, PRESET_NAMES } from './presets.js';

/*
 * Every rule below carries its own message, phrased to follow the field's name: errors read
 * "Invalid <what>: `<field>` <message> (got <value>)", e.g. "Invalid batch options:
 * `maxConcurrency` must be an integer ≥ 1 (got 0)", for params and for client, call and batch
 * options alike (src/server/options.ts writes the server's in the same form).
 */

/** An integer from `min` to `max` (safe integers only), with one message for every miss. */
export function integerIn(min: number, max = Infinity) {
  const error = max === Infinity ? `must be an integer ≥ ${min}` : `must be an integer from ${min} to ${max}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

/** A finite number from `min` to `max`; `above` makes `min` itself invalid. */
export function numberIn(min: number, max = Infinity, above = false) {
  const error =
    max === Infinity ? `must be a number ${above ? '>' : '≥'} ${min}` : `must be a number from ${min} to ${max}`;
  const number = z.number({ error });
  return (above ? number.gt(min, { error }) : number.min(min, { error })).max(max, { error });
}

export const booleanOption = z.boolean({ error: 'must be a boolean' });
const stringOption = z.string({ error: 'must be a string' });
/** A string that is not empty, as a model name must be. */
const nonEmptyString = z
  .string({ error: 'must be a non-empty string' })
  .min(1, { error: 'must be a non-empty string' });

/** A token id: what a tokenizer emits, a non-negative integer. */
const tokenId = z.number().int().min(0, 'must be a token id, an integer ≥ 0');
/** OpenAI answers 400 to an empty input text ("cannot be an empty string"). */
const text = z.string().min(1, 'must not be an empty string');

/** Request body of `POST /embeddings`, as OpenAI's API reference defines it. */
export const EmbeddingCreateParams = z
  .object(
    {
      /** Model id, e.g. `text-embedding-3-small`; any string a compatible server knows. */
      model: nonEmptyString,
      /** One text, many texts, one token array or many token arrays. */
      input: z.union([text, z.array(text).min(1), z.array(tokenId).min(1), z.array(z.array(tokenId).min(1)).min(1)], {
        error: 'must be a string, an array of strings, an array of token ids or an array of token-id arrays',
      }),
      /** Output size for models that support shortening (text-embedding-3-*). */
      dimensions: integerIn(1).optional(),
      /** Wire format. Omit it: the client asks for base64 and decodes it to float32 for you. */
      encoding_format: z.enum(['float', 'base64'], { error: 'must be "float" or "base64"' }).optional(),
      /** Your end-user id, for the provider's abuse monitoring. */
      user: stringOption.optional(),
      /**
       * What the texts are for, sent as the client's preset names it (`input_type`, `task`, a
       * prompt prefix); not sent where the preset has no such field (plain OpenAI).
       */
      inputType: z.enum(INPUT_TYPES, { error: 'must be "query" or "document"' }).optional(),
    },
    { error: 'must be an object' },
  )
  .strict();
export type EmbeddingCreateParams = z.infer<typeof EmbeddingCreateParams>;
export type EncodingFormat = NonNullable<EmbeddingCreateParams['encoding_format']>;

/**
 * Response envelope. Vector contents are not checked here: decode.ts checks them in one fast
 * loop, because zod per float would cost more than the request on a 2048 × 1536 answer.
 */
export const EmbeddingResponseEnvelope = z.object({
  object: z.string().optional(),
  data: z.array(
    z.object({
      object: z.string().optional(),
      index: z.number().int().nonnegative(),
      embedding: z.union([z.string(), z.custom<unknown[]>(Array.isArray, 'expected an array or a base64 string')]),
    }),
  ),
  model: z.string(),
  // Servers differ here and nothing about the vectors depends on it: some omit usage (zeros are
  // reported then), Voyage sends total_tokens alone (prompt_tokens is the same count then).
  usage: z
    .object({
      prompt_tokens: z.number().int().nonnegative().optional(),
      total_tokens: z.number().int().nonnegative().optional(),
    })
    .nullish()
    .transform((usage) => ({
      prompt_tokens: usage?.prompt_tokens ?? usage?.total_tokens ?? 0,
      total_tokens: usage?.total_tokens ?? usage?.prompt_tokens ?? 0,
    })),
});
export type EmbeddingResponseEnvelope = z.infer<typeof EmbeddingResponseEnvelope>;

const headersInput = z.record(
  z.string(),
  z.union([z.string(), z.null(), z.undefined()], { error: 'must be a string, null or undefined' }),
  {
    error: 'must be an object of header names to values',
  },
);
const queryInput = (values: z.ZodType) =>
  z.record(z.string(), values, { error: 'must be an object of query parameter names to values' });
const signal = z.custom<AbortSignal>((value) => value instanceof AbortSignal, 'must be an AbortSignal');

/**
 * Body fields the client sets from `params`: an `extraBody` holding one is refused where the
 * options are parsed, before any request.
 */
const RESERVED_BODY_FIELDS = ['model', 'input', 'encoding_format'] as const;

/** Options a client, a call and a batch share. */
const sharedOptions = {
  // Node's timers fire at once beyond 2^31 − 1 ms: every attempt would time out immediately.
  timeout: integerIn(1, 2 ** 31 - 1).optional(),
  // The body becomes one string before JSON.parse; V8 refuses longer ones (ERR_STRING_TOO_LONG).
  maxResponseBytes: integerIn(1, constants.MAX_STRING_LENGTH).optional(),
  maxRetries: integerIn(0).optional(),
  normalize: booleanOption.optional(),
  vectorType: z
    .enum(['array', 'float32', 'float32-view'], { error: 'must be "array", "float32" or "float32-view"' })
    .optional(),
  extraBody: z
    .record(z.string(), z.unknown(), { error: 'must be an object of request fields' })
    .refine((value) => !Array.isArray(value), { error: 'must be an object of request fields' })
    .superRefine((value, ctx) => {
      const taken = RESERVED_BODY_FIELDS.find((field) => Object.hasOwn(value, field));
      if (taken !== undefined) {
        ctx.addIssue({ code: 'custom', path: [taken], message: `is set from the params; pass \`${taken}\` there` });
      }
    })
    .optional(),
};

/** Requests and tokens per minute, on the client (shared by its calls) or on one batch call (tightening it). */
export const rateLimitOption = z
  .object(
    {
      requestsPerMinute: numberIn(0, Infinity, true).optional(),
      tokensPerMinute: numberIn(0, Infinity, true).optional(),
    },
    { error: 'must be an object' },
  )
  .strict();

/** Options of a call, which a batch takes too. */
export const requestOptions = {
  ...sharedOptions,
  headers: headersInput.optional(),
  query: queryInput(
    z.union([z.string(), z.null(), z.undefined()], { error: 'must be a string, null or undefined' }),
  ).optional(),
  signal: signal.optional(),
};

/**
 * Shape checks for client and request options (ranges and types; semantics live in options.ts).
 * Strict, so a misspelt option (`baseUrl`, `apikey`) fails instead of silently falling back to
 * a default, which for `baseUrl` would send the key to api.openai.com.
 */
const ClientOptionsSchema = z
  .object(
    {
      ...sharedOptions,
      apiKey: z
        .union([z.string(), z.custom((value) => typeof value === 'function')], {
          error: 'must be a string or a function returning one',
        })
        .optional(),
      apiKeyHeader: z.enum(['authorization', 'api-key'], { error: 'must be "authorization" or "api-key"' }).optional(),
      defaultQuery: queryInput(stringOption).optional(),
      baseURL: stringOption.optional(),
      preset: z
        .enum(PRESET_NAMES, { error: `must be one of ${PRESET_NAMES.map((name) => `"${name}"`).join(', ')}` })
        .optional(),
      organization: stringOption.optional(),
      project: stringOption.optional(),
      maxConcurrency: integerIn(1).optional(),
      defaultHeaders: headersInput.optional(),
      dispatcher: z
        .custom((value) => typeof value === 'object' && value !== null, 'must be an undici Dispatcher')
        .optional(),
      rateLimit: rateLimitOption.optional(),
      rateLimiter: z
        .custom(
          (value) => typeof (value as { acquire?: unknown } | null)?.acquire === 'function',
          'must be a RateLimiter, with an acquire(options) method',
        )
        .optional(),
      logger: z
        .custom(
          (value) =>
            typeof value === 'object' &&
            value !== null &&
            ['debug', 'info', 'warn', 'error'].every(
              (m) => typeof (value as Record<string, unknown>)[m] === 'function',
            ),
          'must be an object with debug, info, warn and error methods',
        )
        .optional(),
      logLevel: z
        .enum(['debug', 'info', 'warn', 'error', 'off'], {
          error: 'must be "debug", "info", "warn", "error" or "off"',
        })
        .optional(),
      logInputs: booleanOption.optional(),
    },
    { error: 'must be an object' },
  )
  .strict();
const RequestOptionsSchema = z.object(requestOptions, { error: 'must be an object' }).strict();

/** Validates `params` for `create()`; the error names the field and the value. */
export function parseCreateParams(params: unknown): EmbeddingCreateParams {
  const input = (params as { input?: unknown } | null)?.input;
  // The union below would only say "Invalid input" for an empty list.
  if (Array.isArray(input) && input.length === 0) {
    throw new InvalidArgumentError('Invalid embeddings params: `input` must hold at least one item (got [])');
  }
  // A list of texts is checked in one loop and the rest by the schema: zod's union over every
  // text cost 1.8 ms a request of 2,048 (8 ms the first time). Anything else, or any text the
  // loop refuses, goes through the schema whole, which words the error.
  if (Array.isArray(input) && input.length > 1 && allTexts(input)) {
    const first = { ...(params as object), input: input[0] as string };
    return { ...parseArgument(EmbeddingCreateParams, 'embeddings params', first, false), input: input.slice() };
  }
  return parseArgument(EmbeddingCreateParams, 'embeddings params', params, false);
}

/** Every item is what the schema's `text` accepts; a plain loop, as `every` would skip a sparse array's holes. */
function allTexts(items: unknown[]): items is string[] {
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (typeof item !== 'string' || item.length === 0) return false;
  }
  return true;
}

/** Validates `new EmbeddingsClient(options)`; the error names the option and, unless secret, its value. */
export function parseClientOptions(options: unknown): void {
  parseArgument(ClientOptionsSchema, 'EmbeddingsClient options', options);
}

/** Validates a call's options; the error names the option and, unless secret, its value. */
export function parseRequestOptions(options: unknown): void {
  parseArgument(RequestOptionsSchema, 'request options', options);
}

/**
 * Checks `value` against `schema`, throwing `InvalidArgumentError` ("Invalid <what>: ...") that
 * names the first bad field and its value, or only the value's type where options may hold the
 * API key (the whole object, `apiKey`, headers). Params hold no secret: `isOptions` false.
 */
export function parseArgument<T>(schema: z.ZodType<T>, what: string, value: unknown, isOptions = true): T {
  const result = schema.safeParse(value);
  if (!result.success) throw invalid(what, value, result.error, isOptions);
  return result.data;
}

function invalid(what: string, value: unknown, error: z.ZodError, isOptions: boolean): InvalidArgumentError {
  const issue = error.issues[0]!;
  const path = formatPath(issue.path);
  const got = issue.path.reduce<unknown>((node, key) => (node as Record<PropertyKey, unknown>)?.[key], value);
  if (issue.code === 'unrecognized_keys') {
    const fields = issue.keys.map((key) => `\`${path ? `${path}.` : ''}${key}\``).join(', ');
    return new InvalidArgumentError(`Invalid ${what}: unknown field(s) ${fields} (got object)`);
  }
  const message = issue.message;
  const subject = path ? `\`${path}\` ` : '';
  // Options objects, headers and query parameters may hold the API key: print only the type there.
  const secret =
    isOptions &&
    (issue.path.length === 0 || issue.path.some((key) => /apikey|headers|query|tokenprovider/i.test(String(key))));
  const shown = secret
    ? got === null
      ? 'null'
      : typeof got
    : issue.path.length === 0 && typeof got === 'object' && got !== null
      ? 'object'
      : preview(got);
  return new InvalidArgumentError(`Invalid ${what}: ${subject}${message} (got ${shown})`);
}

function formatPath(path: PropertyKey[]): string {
  return path.reduce<string>(
    (out, key) => (typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)),
    '',
  );
}

/** A short, printable form of a bad value for error messages. */
export function preview(value: unknown): string {
  if (value instanceof AbortSignal) return 'AbortSignal';
  // JSON.stringify would print NaN and Infinity as null.
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
