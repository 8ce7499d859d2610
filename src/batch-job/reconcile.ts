/**
 * Sorts out a finished batch by `custom_id`: each of its inputs got a vector (ok), failed for
 * good (a 4xx on that input), or may succeed if sent again (429, 5xx, `batch_expired`, or a
 * line in neither file). Lines are read one at a time, as they stream in.
 */
import { ResponseValidationError } from '../errors.js';
import { parseResponse } from '../response.js';
import type { ResolvedRequestOptions } from '../options.js';
import type { BatchParams } from '../batch/types.js';
import { indexOfCustomId } from './plan.js';
import { eachIndex, type JournalFailure, type Ranges } from './journal.js';

/** One line of an output or error file, in either shape the Batch API writes. */
export interface BatchResultLine {
  custom_id: string;
  response?: { status_code: number; request_id?: string | undefined; body?: unknown } | null | undefined;
  error?: { code?: string | null | undefined; message?: string | null | undefined } | null | undefined;
}

/** What a batch's files said about its inputs. */
export interface Reconciled {
  /** Inputs with a vector, in the order their lines came. */
  okIndices: number[];
  /** Their raw vectors (decoded and checked, not normalised). */
  vectors: Float32Array[];
  /** Prompt tokens counted for the ok inputs. */
  tokens: number;
  /** Inputs that failed for good. */
  terminal: JournalFailure[];
  /** Inputs worth sending again, with why (the last reason is kept for a failure after the last attempt). */
  retryable: JournalFailure[];
}

/** Error codes of the error file that mean the request never ran (so it may run again). */
const RETRYABLE_CODES = new Set(['batch_expired', 'rate_limit_exceeded', 'server_error', 'internal_error']);

/**
 * Reconciles the lines of a batch's output and error files (in any order, either shape) with
 * the inputs it was sent. A line of another job, or of an input this batch did not hold, is
 * ignored; a second line for one input does not replace the first.
 */
export async function reconcile(
  jobId: string,
  inputs: Ranges,
  lines: AsyncIterable<BatchResultLine> | Iterable<BatchResultLine>,
  params: BatchParams,
): Promise<Reconciled> {
  const pending = new Set(eachIndex(inputs));
  const result: Reconciled = { okIndices: [], vectors: [], tokens: 0, terminal: [], retryable: [] };
  let dimensions = params.dimensions;
  for await (const line of lines) {
    const index = indexOfCustomId(jobId, line.custom_id);
    if (index === undefined || !pending.delete(index)) continue;
    const { response, error } = line;
    if (response !== null && response !== undefined && response.status_code >= 200 && response.status_code < 300) {
      try {
        const vector = decodeLine(response.body, params, dimensions);
        dimensions ??= vector.embedding.length;
        result.okIndices.push(index);
        result.vectors.push(vector.embedding);
        result.tokens += vector.tokens;
      } catch (caught) {
        const failure = caught as ResponseValidationError;
        result.terminal.push({ index, code: 'invalid_response', message: failure.message });
      }
      continue;
    }
    if (response !== null && response !== undefined) {
      const status = response.status_code;
      const body = response.body;
      const failure: JournalFailure = { index, status, message: messageOf(body) ?? `status ${status}`, body };
      const code = codeOf(body);
      if (code !== undefined) failure.code = code;
      (status === 429 || status >= 500 ? result.retryable : result.terminal).push(failure);
      continue;
    }
    const code = error?.code ?? 'batch_failed';
    const failure: JournalFailure = { index, code, message: error?.message ?? `the batch gave no answer (${code})` };
    (RETRYABLE_CODES.has(code) ? result.retryable : result.terminal).push(failure);
  }
  for (const index of pending) {
    result.retryable.push({
      index,
      code: 'missing_from_output',
      message: 'the input was in neither the output nor the error file of its batch',
    });
  }
  return result;
}

/** Options the answers are read with: raw float32, as create() reads them before shaping. */
const READ_OPTIONS = { normalize: false, vectorType: 'float32' } as ResolvedRequestOptions;

/** Decodes one line's embeddings answer exactly as create() decodes a one-input answer. */
function decodeLine(
  body: unknown,
  params: BatchParams,
  dimensions: number | undefined,
): { embedding: Float32Array; tokens: number } {
  const text = JSON.stringify(body ?? null);
  const response = { status: 200, headers: {}, body: [], text, redact: (value: string) => value };
  const answer = parseResponse(
    '/v1/embeddings',
    response,
    {
      model: params.model,
      input: [''],
      ...(dimensions === undefined ? {} : { dimensions }),
      ...(params.encoding_format === undefined ? {} : { encoding_format: params.encoding_format }),
    },
    READ_OPTIONS,
  );
  let embedding = answer.data[0]!.embedding as Float32Array | number[];
  if (!(embedding instanceof Float32Array)) embedding = Float32Array.from(embedding);
  return { embedding, tokens: answer.usage.prompt_tokens };
}

function errorObject(body: unknown): Record<string, unknown> | undefined {
  const error = (body as { error?: unknown } | null | undefined)?.error;
  return typeof error === 'object' && error !== null ? (error as Record<string, unknown>) : undefined;
}

function messageOf(body: unknown): string | undefined {
  const message = errorObject(body)?.message;
  return typeof message === 'string' ? message : undefined;
}

function codeOf(body: unknown): string | undefined {
  const code = errorObject(body)?.code;
  return typeof code === 'string' ? code : undefined;
}
