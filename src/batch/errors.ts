import { EmbeddingsError, brand } from '../errors.js';
import type { Embedding } from '../types.js';
import type { BatchFailure } from './types.js';

/**
 * Some inputs of a batch ended without a vector (`onFailure: 'throw'`). Thrown only after
 * all work settled, so nothing finished is lost: `data` holds every vector, `failures`
 * every input that failed and why.
 */
export class BatchEmbeddingError<E = number[] | Float32Array> extends EmbeddingsError {
  static {
    brand(this, 'BatchEmbeddingError');
  }

  /** Every successful embedding, sorted by index. Empty for `stream()`, which yielded them already. */
  readonly data: Embedding<E>[];
  /** Every failed input with its error, sorted by index. */
  readonly failures: BatchFailure[];

  constructor(method: string, data: Embedding<E>[], failures: BatchFailure[], settledInputs: number) {
    const first = failures[0];
    const detail = first ? `; first at input ${first.index}: ${first.error.message}` : '';
    super(`${method}: ${failures.length} of ${settledInputs} inputs failed${detail}`, { cause: first?.error });
    this.data = data;
    this.failures = failures;
  }
}
