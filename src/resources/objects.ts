/**
 * The objects the Files and Batches endpoints answer with, and the params they take, as zod
 * schemas with their types under the same names (OpenAI's `OpenAIFile`, `DeleteFileResponse`,
 * `Batch`, `ListBatchesResponse`, `CreateFileRequest` and `CreateBatchRequest`). Answers are
 * read loosely (fields OpenAI adds later are kept), params strictly.
 */
import * as z from 'zod';
import { ResponseValidationError } from '../errors.js';
import { integerIn } from '../schemas.js';
import type { TransportResponse } from '../transport.js';

const unixSeconds = z.number().int();

/** An uploaded file (`OpenAIFile`). */
export const FileObject = z.looseObject({
  id: z.string(),
  object: z.literal('file'),
  /** Size in bytes. */
  bytes: z.number().int().nonnegative(),
  /** Unix seconds. */
  created_at: unixSeconds,
  /** Unix seconds; absent or null when the file does not expire. */
  expires_at: unixSeconds.nullish(),
  filename: z.string(),
  /** `batch` for an input file, `batch_output` for a batch's output and error files. */
  purpose: z.string(),
  status: z.string().optional(),
});
export type FileObject = z.infer<typeof FileObject>;

/** One page of `GET /files`. */
export const FilePage = z.looseObject({
  object: z.literal('list'),
  data: z.array(FileObject),
  first_id: z.string().nullish(),
  last_id: z.string().nullish(),
  has_more: z.boolean(),
});
export type FilePage = z.infer<typeof FilePage>;

/** Params of `files.list()`. */
export const FileListParams = z
  .object(
    {
      /** Only files of this purpose (`batch`, `batch_output`...). */
      purpose: z.string({ error: 'must be a string' }).min(1, { error: 'must be a non-empty string' }).optional(),
      /** Files per page, 1 to 10,000. @default 10000 (the server's) */
      limit: integerIn(1, 10_000).optional(),
      /** By creation time. @default 'desc' (the server's) */
      order: z.enum(['asc', 'desc'], { error: 'must be "asc" or "desc"' }).optional(),
      /** The id of the last file of the previous page: the list resumes after it. */
      after: z.string({ error: 'must be a file id' }).min(1, { error: 'must be a file id' }).optional(),
    },
    { error: 'must be an object' },
  )
  .strict();
export type FileListParams = z.infer<typeof FileListParams>;

/** What `files.delete()` answers. */
export const FileDeleted = z.looseObject({ id: z.string(), object: z.literal('file'), deleted: z.boolean() });
export type FileDeleted = z.infer<typeof FileDeleted>;

/** The statuses a batch walks through: validating → in_progress → finalizing → completed, or failed, expired, cancelling → cancelled. */
export const BATCH_STATUSES = Object.freeze([
  'validating',
  'failed',
  'in_progress',
  'finalizing',
  'completed',
  'expired',
  'cancelling',
  'cancelled',
] as const);
export type BatchStatus = (typeof BATCH_STATUSES)[number];

/** A batch-level error (`BatchError`): why validation failed (`token_limit_exceeded`...), and on which line. */
export const BatchError = z.looseObject({
  code: z.string().nullish(),
  message: z.string().nullish(),
  param: z.string().nullish(),
  line: z.number().int().nullish(),
});
export type BatchError = z.infer<typeof BatchError>;

/** A batch (`Batch`). Timestamps are Unix seconds. */
export const Batch = z.looseObject({
  id: z.string(),
  object: z.literal('batch'),
  endpoint: z.string(),
  errors: z.looseObject({ object: z.string().optional(), data: z.array(BatchError).optional() }).nullish(),
  input_file_id: z.string(),
  completion_window: z.string(),
  status: z.enum(BATCH_STATUSES),
  output_file_id: z.string().nullish(),
  error_file_id: z.string().nullish(),
  created_at: unixSeconds,
  in_progress_at: unixSeconds.nullish(),
  expires_at: unixSeconds.nullish(),
  finalizing_at: unixSeconds.nullish(),
  completed_at: unixSeconds.nullish(),
  failed_at: unixSeconds.nullish(),
  expired_at: unixSeconds.nullish(),
  cancelling_at: unixSeconds.nullish(),
  cancelled_at: unixSeconds.nullish(),
  /** Requests in the input file, and how many ended each way so far. */
  request_counts: z
    .looseObject({
      total: z.number().int().nonnegative(),
      completed: z.number().int().nonnegative(),
      failed: z.number().int().nonnegative(),
    })
    .nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
});
export type Batch = z.infer<typeof Batch>;

/** One page of `GET /batches`. */
export const BatchPage = z.looseObject({
  object: z.literal('list'),
  data: z.array(Batch),
  first_id: z.string().nullish(),
  last_id: z.string().nullish(),
  has_more: z.boolean(),
});
export type BatchPage = z.infer<typeof BatchPage>;

/** How long after its creation a file expires. */
const expiresAfter = z
  .object(
    {
      anchor: z.literal('created_at', { error: 'must be "created_at"' }),
      // OpenAI: between 3600 (1 hour) and 2592000 (30 days).
      seconds: integerIn(3600, 2_592_000),
    },
    { error: 'must be an object { anchor: "created_at", seconds }' },
  )
  .strict();

/** Params of `files.create()` (`file` is checked on its own, see `Uploadable`). */
export const FileCreateParams = z
  .object(
    {
      file: z.custom((value) => value !== undefined, {
        error: 'must be an fs.ReadStream, a File, or toFile(content, name)',
      }),
      purpose: z.enum(['batch', 'assistants', 'fine-tune', 'vision', 'user_data', 'evals'], {
        error: 'must be "batch", "assistants", "fine-tune", "vision", "user_data" or "evals"',
      }),
      /** When the file expires; OpenAI's default for `batch` files is 30 days. */
      expires_after: expiresAfter.optional(),
    },
    { error: 'must be an object' },
  )
  .strict();

/** Batch metadata: at most 16 pairs, keys up to 64 characters, values up to 512 (OpenAI's `Metadata`). */
const metadata = z
  .record(
    z.string().max(64, { error: 'keys must be at most 64 characters' }),
    z.string({ error: 'values must be strings' }).max(512, { error: 'values must be at most 512 characters' }),
    { error: 'must be an object of strings' },
  )
  .refine((value) => Object.keys(value).length <= 16, { error: 'must hold at most 16 pairs' })
  .nullish();

/** The endpoints OpenAI's Batch API runs. */
const BATCH_ENDPOINTS = [
  '/v1/embeddings',
  '/v1/responses',
  '/v1/chat/completions',
  '/v1/completions',
  '/v1/moderations',
] as const;

/** Params of `batches.create()`. */
export const BatchCreateParams = z
  .object(
    {
      /** The uploaded input file (`purpose: 'batch'`). */
      input_file_id: z.string({ error: 'must be a non-empty string' }).min(1, { error: 'must be a non-empty string' }),
      endpoint: z.enum(BATCH_ENDPOINTS, { error: `must be one of ${BATCH_ENDPOINTS.map((e) => `"${e}"`).join(', ')}` }),
      completion_window: z.literal('24h', { error: 'must be "24h" (the only window OpenAI offers)' }),
      metadata,
      output_expires_after: expiresAfter.optional(),
    },
    { error: 'must be an object' },
  )
  .strict();
export type BatchCreateParams = z.infer<typeof BatchCreateParams>;

/** Params of `batches.list()`. */
export const BatchListParams = z
  .object(
    {
      /** Batches per page, 1 to 100. @default 20 (the server's) */
      limit: integerIn(1, 100).optional(),
      /** The id of the last batch of the previous page: the list resumes after it. */
      after: z.string({ error: 'must be a batch id' }).min(1, { error: 'must be a batch id' }).optional(),
    },
    { error: 'must be an object' },
  )
  .strict();
export type BatchListParams = z.infer<typeof BatchListParams>;

/** An id in a path: a non-empty string, checked before any request. */
export const ResourceId = z
  .string({ error: 'must be a non-empty string' })
  .min(1, { error: 'must be a non-empty string' });

/** A 2xx answer read as `schema`; a body that is not JSON or not in its shape is a `ResponseValidationError`. */
export function readObject<T>(method: string, path: string, response: TransportResponse, schema: z.ZodType<T>): T {
  const fail = (reason: string, cause?: unknown) =>
    new ResponseValidationError(method, path, response.status, reason, {
      cause,
      requestId: response.headers['x-request-id'],
    });
  let json: unknown;
  try {
    json = JSON.parse(response.text);
  } catch (error) {
    throw fail(`body is not JSON (${JSON.stringify(response.redact(response.text.slice(0, 80)))})`, error);
  }
  const result = schema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw fail(`\`${issue.path.join('.') || 'body'}\`: ${issue.message}`, result.error);
  }
  return result.data;
}
