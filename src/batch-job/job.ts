/**
 * runBatchJob(): a whole corpus through the Batch API, at half the price of createMany(),
 * resumable from its journal. Checks everything before anything is uploaded, then runs the
 * job (batch-job/runner.ts) and answers in createMany()'s shape.
 */
import { rm } from 'node:fs/promises';
import * as z from 'zod';
import type { EmbeddingsClient } from '../client.js';
import { InvalidArgumentError } from '../errors.js';
import type { VectorType } from '../options.js';
import { booleanOption, integerIn, parseArgument } from '../schemas.js';
import { resolveBatchConfig } from '../batch/config.js';
import { BatchEmbeddingError } from '../batch/errors.js';
import type { CreateManyResponse, StreamItem } from '../batch/types.js';
import { assemble, eachResult } from './results.js';
import { deleteFiles } from './collect.js';
import { journalStore } from './journal.js';
import { outputBytesPerInput } from './plan.js';
import { BatchJobRunner } from './runner.js';
import { BATCH_JOB_DEFAULTS } from './defaults.js';
import type { BatchApiPort, BatchJobOptions, BatchJobParams, BatchJobSubmitted } from './types.js';

const METHOD = 'runBatchJob';

const BatchJobOptionsSchema = z
  .object(
    {
      journal: z
        .custom(
          (value) =>
            (typeof value === 'string' && value !== '') ||
            (typeof value === 'object' &&
              value !== null &&
              typeof (value as Record<string, unknown>).read === 'function' &&
              typeof (value as Record<string, unknown>).write === 'function'),
          'must be a file path or an object with read() and write(state)',
        )
        .optional(),
      pollInterval: integerIn(1).optional(),
      maxInputsPerBatch: integerIn(1, BATCH_JOB_DEFAULTS.maxInputsPerBatch).optional(),
      maxBatchBytes: integerIn(1, BATCH_JOB_DEFAULTS.maxBatchBytes).optional(),
      maxAttempts: integerIn(1).optional(),
      onProgress: z.custom((value) => typeof value === 'function', 'must be a function').optional(),
      signal: z.custom((value) => value instanceof AbortSignal, 'must be an AbortSignal').optional(),
      normalize: booleanOption.optional(),
      vectorType: z
        .enum(['array', 'float32', 'float32-view'], { error: 'must be "array", "float32" or "float32-view"' })
        .optional(),
      onFailure: z.enum(['throw', 'collect'], { error: 'must be "throw" or "collect"' }).optional(),
      cancel: booleanOption.optional(),
      detach: booleanOption.optional(),
      jobId: z
        .string({ error: 'must be a string' })
        .regex(/^[A-Za-z0-9_-]{1,64}$/, { error: 'must be 1 to 64 letters, digits, _ or -' })
        .optional(),
      maxTokensPerInput: integerIn(1).optional(),
      truncate: booleanOption.optional(),
      tokenizer: z
        .custom(
          (value) => typeof (value as { count?: unknown } | null)?.count === 'function',
          'must have count(text) and truncate(text, maxTokens) methods',
        )
        .optional(),
    },
    { error: 'must be an object' },
  )
  .strict();

/** What both ways of running a job share: the checked options, and the runner, its plan read. */
interface PreparedJob {
  runner: BatchJobRunner;
  config: ReturnType<typeof resolveBatchConfig>;
  spoolDir: string | undefined;
  dispose: () => void;
}

/** Checks everything, reads the journal and plans the input; nothing is uploaded yet. */
async function prepare(
  client: EmbeddingsClient<VectorType>,
  params: BatchJobParams,
  options: BatchJobOptions,
  port: BatchApiPort | undefined,
): Promise<PreparedJob> {
  parseArgument(BatchJobOptionsSchema, 'batch job options', options);
  const { maxTokensPerInput, truncate, tokenizer, normalize, vectorType, onFailure } = options;
  // createMany()'s checks of params and of the token options, and its resolution of the rest.
  const config = resolveBatchConfig(client, params, {
    ...(maxTokensPerInput === undefined ? {} : { maxTokensPerInput }),
    ...(truncate === undefined ? {} : { truncate }),
    ...(tokenizer === undefined ? {} : { tokenizer }),
    ...(normalize === undefined ? {} : { normalize }),
    ...(vectorType === undefined ? {} : { vectorType }),
    ...(onFailure === undefined ? {} : { onFailure }),
  });
  if (params.inputType !== undefined) {
    throw new InvalidArgumentError(
      `Invalid embeddings params: \`inputType\` is not sent in Batch API lines, which are OpenAI's (got ${JSON.stringify(params.inputType)})`,
    );
  }
  const store = journalStore(options.journal);
  if (options.cancel && store === undefined) {
    throw new InvalidArgumentError(
      'Invalid batch job options: `cancel: true` needs the `journal` of the job to cancel',
    );
  }
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal?.reason);
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });
  const api = port ?? (await import('./port.js')).portOf(client);
  // A journal file gets the job's input files beside it, written as they are planned.
  const spoolDir = typeof options.journal === 'string' ? `${options.journal}.inputs` : undefined;
  const runner = new BatchJobRunner(api, store, {
    params: config.params,
    rules: { tokenizer: config.tokenizer, maxTokensPerInput: config.maxTokensPerInput, truncate: config.truncate },
    limits: {
      maxInputsPerBatch: options.maxInputsPerBatch ?? BATCH_JOB_DEFAULTS.maxInputsPerBatch,
      maxBatchBytes: options.maxBatchBytes ?? BATCH_JOB_DEFAULTS.maxBatchBytes,
      maxOutputBytes: BATCH_JOB_DEFAULTS.maxOutputBytes,
      outputBytesPerInput: outputBytesPerInput(config.params),
    },
    pollInterval: options.pollInterval ?? BATCH_JOB_DEFAULTS.pollInterval,
    maxAttempts: options.maxAttempts ?? BATCH_JOB_DEFAULTS.maxAttempts,
    signal: controller.signal,
    onProgress: options.onProgress,
    spoolDir,
  });
  const dispose = () => options.signal?.removeEventListener('abort', onAbort);
  try {
    await runner.start(params.input, options.jobId);
    if (options.cancel) await runner.cancel();
  } catch (error) {
    dispose();
    throw error;
  }
  return { runner, config, spoolDir, dispose };
}

/** Runs the job until it ends (or, detached, until every batch is submitted). */
async function runJob(runner: BatchJobRunner, options: BatchJobOptions): Promise<void> {
  if (options.detach) await runner.runToEnd(() => runner.submitted || runner.done);
  else if (!runner.done) await runner.runToEnd();
}

/** How the job's vectors are handed over: `'float32-view'` is taken as `'float32'`. */
function shapeOf(config: PreparedJob['config']): { normalize: boolean; vectorType: 'array' | 'float32' } {
  return { normalize: config.normalize, vectorType: config.vectorType === 'array' ? 'array' : 'float32' };
}

/** The job ended and its results were handed over: its files and its spooled input files go. */
async function cleanUp(job: PreparedJob): Promise<void> {
  if (!job.runner.state.filesDeleted) await deleteFiles(job.runner);
  if (job.spoolDir !== undefined) await rm(job.spoolDir, { recursive: true, force: true });
}

export async function runBatchJob(
  client: EmbeddingsClient<VectorType>,
  params: BatchJobParams,
  options: BatchJobOptions = {},
  port?: BatchApiPort,
): Promise<CreateManyResponse<number[] | Float32Array> | BatchJobSubmitted> {
  const job = await prepare(client, params, options, port);
  const { runner, config } = job;
  try {
    await runJob(runner, options);
    if (options.detach) {
      return { object: 'batch_job.submitted', jobId: runner.state.jobId, progress: runner.progress() };
    }
    const result = await assemble(runner, shapeOf(config));
    await cleanUp(job);
    if (result.failures.length > 0 && config.onFailure === 'throw') {
      throw new BatchEmbeddingError(METHOD, result.data, result.failures, runner.state.totalInputs);
    }
    return result;
  } finally {
    job.dispose();
  }
}

/**
 * Runs the job as runBatchJob() does, then yields every input's vector or failure in input
 * order, read from the journal's stored results shard by shard: the job's vectors are never
 * all in memory. Failures are yielded, not thrown (`onFailure` does not apply); a detached
 * call yields nothing.
 */
export async function* streamBatchJob(
  client: EmbeddingsClient<VectorType>,
  params: BatchJobParams,
  options: BatchJobOptions = {},
  port?: BatchApiPort,
): AsyncGenerator<StreamItem<number[] | Float32Array>, void, undefined> {
  const job = await prepare(client, params, options, port);
  const { runner, config } = job;
  try {
    await runJob(runner, options);
    if (options.detach) return;
    yield* eachResult(runner, shapeOf(config));
    await cleanUp(job);
  } finally {
    job.dispose();
  }
}
