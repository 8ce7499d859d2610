import * as z from 'zod';
import { InvalidArgumentError } from '../index.js';
import { SERVER_STYLES } from './styles.js';
import { MAX_DIMENSIONS, MAX_INPUTS } from './validate.js';

/*
 * The server's options are checked by a zod schema and fail with the library's
 * InvalidArgumentError, in the library's form: "Invalid createServer options: `dimensions` must
 * be an integer from 1 to 3072 (got 0)". The server reaches the library only through its
 * public entry point, so these few lines stand in for the library's internal formatter.
 */

function integerIn(min: number, max = Infinity) {
  const error =
    min === -Infinity
      ? 'must be an integer'
      : max === Infinity
        ? `must be an integer ≥ ${min}`
        : `must be an integer from ${min} to ${max}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

/** Which rate-limit headers the server sends; see {@link ServerOptions.headerStyle}. */
export const HEADER_STYLES = Object.freeze(['openai', 'azure', 'none'] as const);
export type RateLimitHeaderStyle = (typeof HEADER_STYLES)[number];

/** The defaults of {@link createServer} and `embedrail serve`, applied once where they are read. */
export const SERVER_DEFAULTS = Object.freeze({
  dimensions: 384,
  latency: 0,
  failRate: 0,
  seed: 1,
  maxBodyBytes: 8 * 1024 * 1024,
  model: 'local-hash-embedding',
  port: 8787,
  host: '127.0.0.1',
  /** A rate-limit bucket holds a full minute of its limit. @unit s */
  burstSeconds: 60,
  headerStyle: 'openai' satisfies RateLimitHeaderStyle,
  style: 'openai' satisfies (typeof SERVER_STYLES)[number],
  /** OpenAI's cap on one uploaded file. @unit bytes */
  maxFileBytes: 512 * 1024 * 1024,
  /** Files the server holds at once, uploads and batch outputs together. @unit bytes */
  maxStoredBytes: 1024 * 1024 * 1024,
  /** A batch's life from creation to its end. @unit ms */
  batchProcessingMs: 1000,
  batchShuffle: false,
  batchFailRate: 0,
  batchRejectRate: 0,
  batchMissingRate: 0,
  batchExpireRate: 0,
  /** OpenAI's limits on an embeddings batch. */
  batchMaxRequests: 50_000,
  batchMaxInputs: 50_000,
  /** @unit bytes */
  batchMaxInputBytes: 200 * 1024 * 1024,
} as const);

/** The longest burst window: a bucket holds at most the whole per-minute limit. @unit s */
const MAX_BURST_SECONDS = 60;

function numberIn(min: number, max = Infinity) {
  const error = max === Infinity ? `must be a number ≥ ${min}` : `must be a number from ${min} to ${max}`;
  return z.number({ error }).min(min, { error }).max(max, { error });
}

const burstError = `must be a number > 0 and ≤ ${MAX_BURST_SECONDS}`;

/** The rate-limit options, checked alike by createServer and by the limiter they configure. */
const rateLimitFields = {
  rpm: numberIn(1).optional(),
  tpm: numberIn(1).optional(),
  burstSeconds: z
    .number({ error: burstError })
    .gt(0, { error: burstError })
    .max(MAX_BURST_SECONDS, { error: burstError })
    .optional(),
  headerStyle: z
    .enum(HEADER_STYLES, { error: `must be one of ${HEADER_STYLES.map((style) => `'${style}'`).join(', ')}` })
    .optional(),
};

/** A bucket that cannot hold one request would refuse every request forever. */
function holdsOneRequest(options: { rpm?: number; burstSeconds?: number }, context: z.RefinementCtx): void {
  const burstSeconds = options.burstSeconds ?? SERVER_DEFAULTS.burstSeconds;
  if (options.rpm === undefined || (options.rpm * burstSeconds) / 60 >= 1) return;
  context.addIssue({
    code: 'custom',
    path: ['burstSeconds'],
    message: `must be ≥ ${60 / options.rpm} with \`rpm\` ${options.rpm}, for a bucket to hold one request`,
  });
}

const RateLimitSchema = z.object(rateLimitFields).superRefine(holdsOneRequest);

const ServerOptionsSchema = z
  .object(
    {
      ...rateLimitFields,
      dimensions: integerIn(1, MAX_DIMENSIONS).optional(),
      // Node's timers hold at most 2^31 - 1 ms; beyond it setTimeout fires after 1 ms instead.
      latency: numberIn(0, 2 ** 31 - 1).optional(),
      failRate: numberIn(0, 1).optional(),
      seed: integerIn(-Infinity).optional(),
      maxBodyBytes: integerIn(1).optional(),
      model: z
        .string({ error: 'must be a non-empty string' })
        .min(1, { error: 'must be a non-empty string' })
        .optional(),
      clock: z.custom<() => number>((value) => typeof value === 'function', 'must be a function').optional(),
      style: z
        .enum(SERVER_STYLES, { error: `must be one of ${SERVER_STYLES.map((style) => `'${style}'`).join(', ')}` })
        .optional(),
      maxInputsPerRequest: integerIn(1, MAX_INPUTS).optional(),
      deployments: z
        .array(z.string().min(1), { error: 'must be an array of non-empty strings' })
        .min(1, { error: 'must name at least one deployment' })
        .optional(),
      tokenLifetimeRequests: integerIn(1).optional(),
      maxFileBytes: integerIn(1).optional(),
      maxStoredBytes: integerIn(1).optional(),
      batchProcessingMs: numberIn(0, 2 ** 31 - 1).optional(),
      batchShuffle: z.boolean({ error: 'must be a boolean' }).optional(),
      batchFailRate: numberIn(0, 1).optional(),
      batchRejectRate: numberIn(0, 1).optional(),
      batchMissingRate: numberIn(0, 1).optional(),
      batchExpireRate: numberIn(0, 1).optional(),
      batchQueueCap: integerIn(1).optional(),
      batchMaxRequests: integerIn(1).optional(),
      batchMaxInputs: integerIn(1).optional(),
      batchMaxInputBytes: integerIn(1).optional(),
    },
    { error: 'must be an object' },
  )
  .strict()
  .superRefine(holdsOneRequest);

const ListenSchema = z.object({ port: integerIn(0, 65_535) });

function parse<T>(schema: z.ZodType<T>, what: string, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    throw new InvalidArgumentError(
      `Invalid ${what}: unknown field(s) ${issue.keys.map((key) => `\`${key}\``).join(', ')} (got object)`,
    );
  }
  const got = issue.path.reduce<unknown>((node, key) => (node as Record<PropertyKey, unknown>)?.[key], value);
  // JSON.stringify would print NaN and Infinity as null.
  const shown =
    typeof got === 'number'
      ? String(got)
      : typeof got === 'object' && got !== null
        ? typeof got
        : (JSON.stringify(got) ?? String(got));
  throw new InvalidArgumentError(`Invalid ${what}: ${path ? `\`${path}\` ` : ''}${issue.message} (got ${shown})`);
}

/** Checks {@link createServer}'s options; throws `InvalidArgumentError` naming the option and value. */
export function parseServerOptions(options: unknown): void {
  parse(ServerOptionsSchema, 'createServer options', options);
}

/** Checks the limits of the server's rate limiter, as {@link parseServerOptions} does. */
export function parseRateLimits(limits: unknown): void {
  parse(RateLimitSchema, 'createServer options', limits);
}

/** Checks the port `listen()` is given. */
export function parsePort(port: unknown): void {
  parse(ListenSchema, 'listen() arguments', { port });
}
