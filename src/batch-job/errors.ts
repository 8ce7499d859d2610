import { apiErrorFor, brand, EmbeddingsError } from '../errors.js';
import type { JournalFailure } from './journal.js';

/**
 * An input of a Batch API job that ended without a vector for a reason other than an HTTP
 * answer to its line: its batch expired, failed or was cancelled, or its line was in neither
 * the output nor the error file, on every attempt it was given.
 */
export class BatchJobInputError extends EmbeddingsError {
  static {
    brand(this, 'BatchJobInputError');
  }

  /**
   * `batch_expired`, `batch_failed`, `batch_cancelled`, `missing_from_output`, or the code the
   * error file gave its line.
   */
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** The error of a journal's failure: the HTTP answer's class for a line that had one. */
export function errorOfFailure(failure: JournalFailure): EmbeddingsError {
  if (failure.status !== undefined) {
    return apiErrorFor({
      method: 'POST',
      path: '/v1/embeddings',
      status: failure.status,
      headers: {},
      body: failure.body ?? { error: { message: failure.message, code: failure.code ?? null } },
    });
  }
  return new BatchJobInputError(failure.code ?? 'batch_failed', failure.message);
}
