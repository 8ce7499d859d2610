// Apart from the job, so the package entry exports the defaults without loading it.
/** runBatchJob()'s defaults; the JSDoc of BatchJobOptions and the README state the same numbers. */
export const BATCH_JOB_DEFAULTS = Object.freeze({
  pollInterval: 15_000,
  /** OpenAI: at most 50,000 embedding inputs per batch, across all its lines. */
  maxInputsPerBatch: 50_000,
  /** OpenAI: an input file of at most 200 MB. */
  maxBatchBytes: 200_000_000,
  maxAttempts: 3,
  /**
   * Output files past a gigabyte fail to download (issue reports on the OpenAI forum): a
   * batch's estimated output is kept under this.
   */
  maxOutputBytes: 500_000_000,
});
