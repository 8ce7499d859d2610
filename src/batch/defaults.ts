// Apart from the batch engine, so the package entry exports the defaults without loading it.
/** Every batch default; the JSDoc of CreateManyOptions and the README state the same numbers. */
export const BATCH_DEFAULTS = Object.freeze({
  /** OpenAI accepts at most 2048 inputs per request. */
  maxInputsPerRequest: 2048,
  /**
   * OpenAI rejects a request over 300,000 tokens. We count with the same cl100k_base
   * encoding, but the server's count can still differ a little (text that spells special
   * tokens such as `<|endoftext|>`, Unicode it normalises), so 1% (3,000 tokens) is kept in
   * reserve; a request that still goes over is split when the server answers 400 or 413.
   */
  maxTokensPerRequest: 297_000,
  /** OpenAI's input limit for text-embedding-3-* and text-embedding-ada-002. */
  maxTokensPerInput: 8192,
  truncate: false,
  dedupe: true,
  onFailure: 'throw',
} as const);
