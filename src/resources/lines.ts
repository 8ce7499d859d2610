/**
 * The lines of the Batch API's JSONL files, as zod schemas with their types under the same
 * names, and a reader that parses a file's bytes line by line as they arrive.
 *
 * Shapes: the input line and the output/error line are OpenAI's `BatchRequestInput` and
 * `BatchRequestOutput` (openai/openai-openapi, spec 2.3.0). Error lines come in two shapes:
 * the documented one (`response: null`, `error: { code, message }`, e.g. `batch_expired`), and
 * the one OpenAI writes for a request that got an HTTP error (`error: null`, the status and
 * the error body inside `response`; openai/openai-openapi issue #302). Both are read.
 */
import * as z from 'zod';
import { EmbeddingsError, ResponseValidationError, brand } from '../errors.js';
import { preview } from '../schemas.js';
import { decodeEmbeddingsBody, type AnyVector, type DecodeOptions } from '../response.js';
import type { EmbeddingCreateParams } from '../schemas.js';
import type { CreateEmbeddingResponse } from '../types.js';

/** The body of an embeddings request inside an input line: `create()`'s wire fields. */
const EmbeddingsRequestBody = z
  .object({
    model: z.string().min(1),
    input: z.union([
      z.string(),
      z.array(z.string()).min(1),
      z.array(z.number().int().nonnegative()).min(1),
      z.array(z.array(z.number().int().nonnegative()).min(1)).min(1),
    ]),
    dimensions: z.number().int().positive().optional(),
    encoding_format: z.enum(['float', 'base64']).optional(),
    user: z.string().optional(),
  })
  .strict();

/** One line of a batch input file for `/v1/embeddings`. */
export const BatchInputLine = z
  .object({
    /** Your id for the request, unique in the file: the output line carries it back. */
    custom_id: z.string().min(1),
    method: z.literal('POST'),
    url: z.literal('/v1/embeddings'),
    body: EmbeddingsRequestBody,
  })
  .strict();
export type BatchInputLine = z.infer<typeof BatchInputLine>;

/** An HTTP status code. */
const status = z.number().int().min(100).max(599);

/**
 * A request of the batch that succeeded: the embeddings answer is `response.body`. Its type is
 * branded: an observed error line has the same fields (only the status differs), and without
 * the brand TypeScript could not tell the two apart after `isBatchOutputLine()`.
 */
export const BatchOutputLine = z
  .object({
    /** The batch's own id for this request (`batch_req_...`). */
    id: z.string(),
    custom_id: z.string(),
    response: z.object({
      status_code: status.refine((code) => code >= 200 && code < 300, { error: 'must be a 2xx status' }),
      request_id: z.string().nullish(),
      body: z.unknown(),
    }),
    error: z.null(),
  })
  .brand<'BatchOutputLine'>();
export type BatchOutputLine = z.infer<typeof BatchOutputLine>;

/** The error object of a documented error line, and of an error answer's body. */
const LineError = z.looseObject({
  code: z.string().nullish(),
  message: z.string(),
  type: z.string().nullish(),
  param: z.string().nullish(),
});

/** An error line as documented: no HTTP answer, the reason in `error` (`batch_expired`...). */
export const BatchDocumentedErrorLine = z.object({
  id: z.string(),
  custom_id: z.string(),
  response: z.null(),
  error: LineError,
});
export type BatchDocumentedErrorLine = z.infer<typeof BatchDocumentedErrorLine>;

/** An error line as OpenAI writes it for an HTTP error: `error: null`, the status and body in `response`. */
export const BatchObservedErrorLine = z.object({
  id: z.string(),
  custom_id: z.string(),
  response: z.object({
    status_code: status.refine((code) => code >= 300, { error: 'must be an error status' }),
    request_id: z.string().nullish(),
    body: z.unknown(),
  }),
  error: z.null(),
});
export type BatchObservedErrorLine = z.infer<typeof BatchObservedErrorLine>;

/** Any line of an error file, in either shape. */
export const BatchErrorLine = z.union([BatchDocumentedErrorLine, BatchObservedErrorLine]);
export type BatchErrorLine = z.infer<typeof BatchErrorLine>;

/** Any line of an output or an error file (OpenAI's `BatchRequestOutput`). */
export const BatchResultLine = z.union([BatchOutputLine, BatchDocumentedErrorLine, BatchObservedErrorLine]);
export type BatchResultLine = z.infer<typeof BatchResultLine>;

/** Why one request of a batch failed, read from either error shape. */
export interface BatchLineFailure {
  /** The HTTP status of the request's answer; undefined for a failure without one (`batch_expired`). */
  status: number | undefined;
  /** `batch_expired`, `rate_limit_exceeded`, `invalid_value`...; null when none was given. */
  code: string | null;
  message: string;
  /** The error's `type` and `param`, when the answer had them. */
  type: string | null;
  param: string | null;
  /** The answer's request id, when there was an answer. */
  requestId: string | null;
}

/** A line read from a batch file, with its 1-based line number. */
export interface NumberedLine<T> {
  line: number;
  value: T;
}

/** A line of a batch file could not be read: not JSON, or not the shape expected. */
export class BatchLineError extends EmbeddingsError {
  static {
    brand(this, 'BatchLineError');
  }

  /** The 1-based number of the line in its file. */
  readonly line: number;

  constructor(line: number, reason: string, options?: { cause?: unknown }) {
    super(`Batch file line ${line}: ${reason}`, options);
    this.line = line;
  }
}

/** Options of {@link readBatchLines}. */
export interface ReadBatchLinesOptions {
  /**
   * Longest line read; a longer one fails with `BatchLineError` before it is held whole.
   * @unit bytes
   * @default 268435456 (256 MiB, the client's `maxResponseBytes`)
   */
  maxLineBytes?: number;
}

const NEWLINE = 0x0a;
const DEFAULT_MAX_LINE_BYTES = 256 * 1024 * 1024;

/**
 * Reads a JSONL file from its bytes (a stream from `files.content()`, a file's ReadStream, any
 * async iterable of chunks), one line at a time as the bytes arrive, never the whole file:
 * each line is parsed and checked against `schema`, and yielded with its 1-based number. Blank
 * lines are skipped; CRLF endings are read. A line that is not JSON or not in the schema's
 * shape throws `BatchLineError` naming its number.
 * @example
 * for await (const { line, value } of readBatchLines(await client.files.content(id), BatchResultLine)) { ... }
 */
export async function* readBatchLines<T>(
  source: AsyncIterable<Uint8Array | string>,
  schema: z.ZodType<T>,
  options: ReadBatchLinesOptions = {},
): AsyncGenerator<NumberedLine<T>> {
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  let pieces: Buffer[] = [];
  let held = 0;
  let line = 0;
  for await (const data of source) {
    const chunk =
      typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    let from = 0;
    for (let at = chunk.indexOf(NEWLINE, from); at !== -1; at = chunk.indexOf(NEWLINE, from)) {
      line++;
      if (held + at - from > maxLineBytes) throw tooLong(line, maxLineBytes);
      pieces.push(chunk.subarray(from, at));
      const text = joined(pieces, held + at - from);
      pieces = [];
      held = 0;
      from = at + 1;
      const parsed = parseLine(text, line, schema);
      if (parsed !== undefined) yield { line, value: parsed };
    }
    if (from < chunk.length) {
      held += chunk.length - from;
      if (held > maxLineBytes) throw tooLong(line + 1, maxLineBytes);
      // A copy: the caller's chunk may be a view into a buffer reused for the next one.
      pieces.push(Buffer.from(chunk.subarray(from)));
    }
  }
  if (held > 0) {
    const parsed = parseLine(joined(pieces, held), line + 1, schema);
    if (parsed !== undefined) yield { line: line + 1, value: parsed };
  }
}

function joined(pieces: Buffer[], length: number): string {
  const bytes = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, length);
  const end = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.length - 1 : bytes.length;
  return bytes.toString('utf8', 0, end);
}

function tooLong(line: number, maxLineBytes: number): BatchLineError {
  return new BatchLineError(line, `longer than maxLineBytes (${maxLineBytes} bytes)`);
}

/** The line's value, or undefined for a blank line. */
function parseLine<T>(text: string, line: number, schema: z.ZodType<T>): T | undefined {
  if (text.trim() === '') return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new BatchLineError(line, `not JSON (${preview(text.slice(0, 200))})`, { cause: error });
  }
  const result = schema.safeParse(json);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = issue.path.map(String).join('.');
  const got = issue.path.reduce<unknown>((node, key) => (node as Record<PropertyKey, unknown>)?.[key], json);
  throw new BatchLineError(line, `\`${path || 'line'}\` ${issue.message} (got ${preview(got)})`, {
    cause: result.error,
  });
}

/** Whether `line` is a request that succeeded; else it is one of the two error shapes. */
export function isBatchOutputLine(line: BatchResultLine): line is BatchOutputLine {
  return line.error === null && line.response !== null && line.response.status_code < 300;
}

/**
 * Why the request of an error line failed, from either shape: the documented `error`
 * object, or the HTTP status and the error body inside `response`.
 */
export function batchLineFailure(line: BatchErrorLine): BatchLineFailure {
  if (line.response === null) {
    const { code, message, type, param } = line.error;
    return {
      status: undefined,
      code: code ?? null,
      message,
      type: type ?? null,
      param: param ?? null,
      requestId: null,
    };
  }
  const { status_code, request_id, body } = line.response;
  const parsed = LineError.safeParse((body as { error?: unknown } | null | undefined)?.error);
  const error = parsed.success ? parsed.data : undefined;
  return {
    status: status_code,
    code: error?.code ?? null,
    message: error?.message ?? `status ${status_code}${body === undefined ? '' : `: ${preview(body)}`}`,
    type: error?.type ?? null,
    param: error?.param ?? null,
    requestId: request_id ?? null,
  };
}

/**
 * The embeddings answer of an output line, checked and decoded exactly as `create()` checks and
 * decodes one: `params` is the request the line's `custom_id` stands for (its `input` sets how
 * many vectors the answer must hold, its `dimensions` their length, its `encoding_format`
 * whether base64 comes back as is), `options` say whether to normalise and in which layout.
 * @throws ResponseValidationError naming the `custom_id` and the field at fault.
 */
export function decodeBatchEmbeddings(
  line: BatchOutputLine,
  params: EmbeddingCreateParams,
  options: Partial<DecodeOptions> = {},
): CreateEmbeddingResponse<AnyVector> {
  const fail = (reason: string, cause?: unknown) =>
    new ResponseValidationError(
      'POST',
      '/v1/embeddings',
      line.response.status_code,
      `batch line ${JSON.stringify(line.custom_id)}: ${reason}`,
      { cause, requestId: line.response.request_id ?? undefined },
    );
  return decodeEmbeddingsBody(
    line.response.body,
    params,
    { normalize: options.normalize ?? true, vectorType: options.vectorType ?? 'array' },
    fail,
  );
}
