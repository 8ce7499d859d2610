export { createMemoryCache } from './batch/cache.js';
export type { EmbeddingCache, MemoryCacheOptions } from './batch/cache.js';
export { decodeFloat32Bytes, encodeFloat32Bytes, storedVector } from './batch/cache-bytes.js';
export { createDiskCache, DISK_CACHE_DEFAULTS } from './batch/cache-disk.js';
export type { DiskCacheOptions } from './batch/cache-disk.js';
export { createKeyvCache } from './batch/cache-keyv.js';
export type { KeyvStore } from './batch/cache-keyv.js';
export { BATCH_DEFAULTS } from './batch/defaults.js';
export { BatchEmbeddingError } from './batch/errors.js';
export type {
  BatchFailure,
  BatchParams,
  BatchProgress,
  CreateManyMatrixResponse,
  CreateManyOptions,
  CreateManyParams,
  CreateManyResponse,
  EmbeddingMatrix,
  StreamInput,
  StreamItem,
  StreamOptions,
  StreamParams,
} from './batch/types.js';
export { EmbeddingsClient } from './client.js';
export type {
  AttemptEvent,
  ClientEventListener,
  ClientEventName,
  ClientEvents,
  RateLimitWaitEvent,
  RequestEndEvent,
  RequestEvent,
  ResponseEvent,
  RetryEvent,
} from './observe/events.js';
export type { Logger, LogLevel } from './observe/logger.js';
export { createAzureClient } from './azure.js';
export type { AzureClientOptions } from './azure.js';
export type { ApiKeyFunction, ApiKeyRequest } from './api-key.js';
export { composeRateLimiters, InMemoryRateLimiter, RATE_LIMITER_DEFAULTS } from './rate-limit/index.js';
export type {
  AcquireOptions,
  InMemoryRateLimiterOptions,
  RateLimit,
  RateLimitAnswer,
  RateLimitBelief,
  RateLimitClock,
  RateLimiter,
  RateLimitGrant,
  RateLimitSnapshot,
  RateLimitWait,
  RateLimitWaitReason,
  TokensCorrection,
} from './rate-limit/index.js';
export { Embeddings } from './embeddings.js';
export { BATCH_JOB_DEFAULTS } from './batch-job/defaults.js';
export { BatchJobInputError } from './batch-job/errors.js';
export { batchJobProgress, fileJournal, resultsDirOf } from './batch-job/journal.js';
export type { BatchJobState, BatchJournalStore, JournalBatch, JournalFailure } from './batch-job/journal.js';
export type { BatchJobOptions, BatchJobParams, BatchJobProgress, BatchJobSubmitted } from './batch-job/types.js';
export { FileList, Files } from './resources/files.js';
export type { FileUploadParams } from './resources/files.js';
export { BatchList, Batches } from './resources/batches.js';
export { toFile } from './resources/uploadable.js';
export type { FileContent, FileLike, Uploadable } from './resources/uploadable.js';
export { BATCH_STATUSES } from './resources/objects.js';
export type {
  Batch,
  BatchCreateParams,
  BatchError,
  BatchListParams,
  BatchPage,
  BatchStatus,
  FileDeleted,
  FileListParams,
  FileObject,
  FilePage,
} from './resources/objects.js';
export type { CursorPage } from './resources/pages.js';
export {
  BatchDocumentedErrorLine,
  BatchErrorLine,
  BatchInputLine,
  BatchLineError,
  BatchObservedErrorLine,
  BatchOutputLine,
  BatchResultLine,
  batchLineFailure,
  decodeBatchEmbeddings,
  isBatchOutputLine,
  readBatchLines,
} from './resources/lines.js';
export type { BatchLineFailure, NumberedLine, ReadBatchLinesOptions } from './resources/lines.js';
export type { CreateEmbeddingResponse, Embedding, EmbeddingUsage, ResultVector, VectorFor } from './types.js';
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
  ResponseTooLargeError,
  ResponseValidationError,
  UnprocessableEntityError,
  isAPIError,
  isEmbeddingsError,
} from './errors.js';
export { decodeBase64Float32, encodeFloat32Base64 } from './decode.js';
export { DEFAULTS } from './options.js';
export { INPUT_TYPES, PRESET_NAMES, PRESETS } from './presets.js';
export type { InputType, InputTypeField, Preset, PresetName } from './presets.js';
export type { ClientOptions, HeadersInput, RequestOptions, SharedOptions, VectorType } from './options.js';
export type { EmbeddingCreateParams, EncodingFormat } from './schemas.js';
export { cl100kTokenizer, tokenizerForModel, utf8ByteTokenizer } from './tokenizer.js';
export type { Tokenizer } from './tokenizer.js';
export { cosineSimilarity, dot, normalize, topK } from './vector.js';
export type { ScoredIndex, Vector } from './vector.js';
export { VERSION } from './version.js';
