/**
 * Sorts out a finished batch by `custom_id`: each of its inputs got a vector (ok), failed for
 * good (a 4xx on that input), or may succeed if sent again (429, 5xx, `batch_expired`, or a
 * line in neither file). Lines are read one at a time, as they stream in.
 */
import type { BatchParams } from '../batch/types.js';
import {
  batchLineFailure,
  decodeBatchEmbeddings,
  isBatchOutputLine,
  type BatchErrorLine,
  type BatchResultLine,
} from '../resources/lines.js';
import { indexOfCustomId } from './plan.js';
import { eachIndex, type JournalFailure, type Ranges } from './journal.js';

/** What a batch's files said about its inputs (their vectors went to the caller's `onVector`). */
export interface Reconciled {
  /** Inputs with a vector. */
  ok: number;
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
 * ignored; a second line for one input does not replace the first. Each vector goes to
 * `onVector` (decoded and checked, not normalised) as its line is read, and is not kept.
 */
export async function reconcile(
  jobId: string,
  inputs: Ranges,
  lines: AsyncIterable<BatchResultLine> | Iterable<BatchResultLine>,
  params: BatchParams,
  onVector: (index: number, vector: Float32Array) => Promise<void> | void,
): Promise<Reconciled> {
  const pending = new Set(eachIndex(inputs));
  const result: Reconciled = { ok: 0, tokens: 0, terminal: [], retryable: [] };
  let dimensions = params.dimensions;
  for await (const line of lines) {
    const index = indexOfCustomId(jobId, line.custom_id);
    if (index === undefined || !pending.delete(index)) continue;
    // Read before the type guard: an observed error line has the output line's shape, so the guard's
    // else branch would leave only the documented shape.
    const { response } = line;
    if (isBatchOutputLine(line)) {
      let vector: { embedding: Float32Array; tokens: number };
      try {
        vector = decodeLine(line, params, dimensions);
      } catch (caught) {
        result.terminal.push({ index, code: 'invalid_response', message: (caught as Error).message });
        continue;
      }
      dimensions ??= vector.embedding.length;
      await onVector(index, vector.embedding);
      result.ok++;
      result.tokens += vector.tokens;
      continue;
    }
    const errorLine: BatchErrorLine = line;
    const why = batchLineFailure(errorLine);
    const failure: JournalFailure = { index, message: why.message };
    if (why.code !== null) failure.code = why.code;
    if (why.status !== undefined) failure.status = why.status;
    if (response !== null) failure.body = response.body;
    const retryable =
      why.status === undefined ? RETRYABLE_CODES.has(why.code ?? '') : why.status === 429 || why.status >= 500;
    (retryable ? result.retryable : result.terminal).push(failure);
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

/** Decodes one line's embeddings answer exactly as create() decodes a one-input answer: raw float32, not normalised yet. */
function decodeLine(
  line: Parameters<typeof decodeBatchEmbeddings>[0],
  params: BatchParams,
  dimensions: number | undefined,
): { embedding: Float32Array; tokens: number } {
  const answer = decodeBatchEmbeddings(
    line,
    {
      model: params.model,
      // One text per line: the answer must hold one vector.
      input: ['-'],
      ...(dimensions === undefined ? {} : { dimensions }),
      ...(params.encoding_format === undefined ? {} : { encoding_format: params.encoding_format }),
    },
    { normalize: false, vectorType: 'float32' },
  );
  return { embedding: answer.data[0]!.embedding as Float32Array, tokens: answer.usage.prompt_tokens };
}
