export { EmbeddingsClient } from './client.js';
export { Embeddings } from './embeddings.js';
export type {
  CreateEmbeddingResponse,
  Embedding,
  EmbeddingUsage,
  ResultVector,
  VectorFor,
} from './embeddings.js';
export {
  APIConnectionError,
  APIError,
  APITimeoutError,
  APIUserAbortError,
  AuthenticationError,
  BadRequestError,
  ConflictError,
  EmbeddingsError,
  InternalServerError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  ResponseValidationError,
  UnprocessableEntityError,
} from './errors.js';
export { DEFAULTS } from './options.js';
export type { ClientOptions, HeadersInput, RequestOptions, SharedOptions, VectorType } from './options.js';
export type { EmbeddingCreateParams, EncodingFormat } from './schemas.js';
export { cl100kTokenizer, tokenizerForModel, utf8ByteTokenizer } from './tokenizer.js';
export type { Tokenizer } from './tokenizer.js';
export { cosineSimilarity, dot, normalize, topK } from './vector.js';
export type { ScoredIndex, Vector } from './vector.js';
export { VERSION } from './version.js';
