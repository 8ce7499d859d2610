/**
 * Runs a Batch API job to its end: uploads each shard and creates its batch (submit.ts), polls,
 * collects the results and sends the retryable inputs again. Every step is written to the
 * journal before the next one starts, so a process killed at any point resumes from the journal
 * without creating a batch twice or downloading again what it had stored.
 */
import { randomBytes } from 'node:crypto';
import { APIError, APIUserAbortError, InvalidArgumentError } from '../errors.js';
import { sleep } from '../retry.js';
import type { BatchParams } from '../batch/types.js';
import type { TextRules } from '../batch/planner.js';
import {
  batchJobProgress,
  eachIndex,
  type BatchJobState,
  type BatchJournalStore,
  type JournalBatch,
} from './journal.js';
import { planShards, type Plan, type ShardLimits } from './plan.js';
import { findCreated, listedBatchesOf, submit } from './submit.js';
import { collect, deleteBatchFiles, ResultsStore } from './collect.js';
import type { BatchApiPort, BatchJobProgress, BatchObject } from './types.js';

/** Statuses after which a batch changes no more. */
const FINAL = new Set(['completed', 'expired', 'cancelled', 'failed']);
/** Polls slow down to this many times `pollInterval` while nothing changes. */
const MAX_POLL_FACTOR = 8;
/** A batch refused for a full queue waits at most this long before it is submitted again. @unit ms */
const MAX_QUEUE_BACKOFF_MS = 60 * 60 * 1000;

export interface RunnerConfig {
  params: BatchParams;
  rules: TextRules;
  limits: ShardLimits;
  pollInterval: number;
  maxAttempts: number;
  signal: AbortSignal;
  onProgress: ((progress: BatchJobProgress) => void) | undefined;
  /** Where each shard's input file is written as it is planned; without one they stay in memory. */
  spoolDir?: string | undefined;
}

export class BatchJobRunner {
  state!: BatchJobState;
  plan!: Plan;
  readonly results: ResultsStore;
  readonly #startedAt = performance.now();
  /** Batches of the job found in `batches.list` when its journal was lost, by their metadata key. */
  #found: ReadonlyMap<string, BatchObject> = new Map();

  constructor(
    readonly api: BatchApiPort,
    readonly store: BatchJournalStore | undefined,
    readonly config: RunnerConfig,
  ) {
    this.results = new ResultsStore(store);
  }

  /** Reads the journal and the input; checks they agree, and writes the plan before anything is uploaded. */
  async start(input: unknown, knownJobId?: string): Promise<void> {
    const saved = await this.store?.read();
    if (saved !== undefined && knownJobId !== undefined && saved.jobId !== knownJobId) {
      throw new InvalidArgumentError(
        `Invalid batch job options: the journal holds job ${saved.jobId}, not \`jobId\` ${JSON.stringify(knownJobId)}`,
      );
    }
    const jobId = saved?.jobId ?? knownJobId ?? `ejob_${randomBytes(6).toString('hex')}`;
    this.plan = await planShards(
      input,
      jobId,
      this.config.params,
      this.config.rules,
      this.config.limits,
      this.config.spoolDir,
    );
    if (saved !== undefined) {
      this.#checkResumable(saved);
      this.state = saved;
      return;
    }
    const { model, dimensions } = this.config.params;
    this.state = {
      version: 1,
      jobId,
      model,
      ...(dimensions === undefined ? {} : { dimensions }),
      totalInputs: this.plan.totalInputs,
      shards: this.plan.shards.map(({ shard, firstIndex, count, sha256 }) => ({ shard, firstIndex, count, sha256 })),
      batches: this.plan.shards.map(({ shard, firstIndex, count }) => ({
        key: `s${shard}`,
        shard,
        attempt: 1,
        inputs: [[firstIndex, firstIndex + count]],
        submissions: 0,
      })),
    };
    // A job named without its journal: what it created is in batches.list, found by metadata.
    if (knownJobId !== undefined) {
      this.#found = await listedBatchesOf(this.api, jobId, this.config.signal);
    }
    await this.save();
  }

  /** A journal of another input or model would mix two jobs' vectors: refuse it. */
  #checkResumable(saved: BatchJobState): void {
    const { model, dimensions } = this.config.params;
    const shards = this.plan.shards;
    const same =
      saved.model === model &&
      saved.dimensions === dimensions &&
      saved.totalInputs === this.plan.totalInputs &&
      saved.shards.length === shards.length &&
      saved.shards.every((s, i) => s.sha256 === shards[i]!.sha256);
    if (!same) {
      throw new InvalidArgumentError(
        `The journal holds job ${saved.jobId} of ${saved.totalInputs} inputs for ${saved.model}; this call's input, model, dimensions or limits differ. Use a new journal for a new job.`,
      );
    }
  }

  async save(): Promise<void> {
    await this.store?.write(this.state);
    this.report();
  }

  /** Marks the job cancelled (no batch is created from here on) and cancels every batch still running. */
  async cancel(): Promise<void> {
    this.state.cancelled = true;
    await this.save();
    for (const batch of this.state.batches) {
      if (batch.batchId === undefined || batch.collected !== undefined) continue;
      if (FINAL.has(batch.status ?? '') || batch.status === 'cancelling') continue;
      try {
        batch.status = (await this.api.cancel(batch.batchId)).status;
      } catch (error) {
        // 409: it ended meanwhile (the journal's status was older); the next poll collects it.
        if (!(error instanceof APIError && error.status === 409)) throw error;
      }
    }
    await this.save();
  }

  /** Journals that every file of the job is deleted: the job is over, and a rerun only reads its results. */
  async markFilesDeleted(): Promise<void> {
    this.state.filesDeleted = true;
    await this.save();
  }

  /** Uploads and creates every batch that is due, polls the open ones once and collects the finished. */
  async step(): Promise<boolean> {
    let changed = false;
    for (const batch of this.state.batches) {
      if (batch.collected !== undefined) continue;
      this.#throwIfAborted();
      if (batch.batchId === undefined) {
        if (this.state.cancelled) changed = (await this.#failUnsubmitted(batch)) || changed;
        else changed = (await submit(this, batch, this.#found)) || changed;
        continue;
      }
      const seen = await this.api.retrieve(batch.batchId, this.config.signal);
      if (seen.status !== batch.status) changed = true;
      if (!FINAL.has(seen.status)) {
        if (seen.status !== batch.status) {
          batch.status = seen.status;
          await this.save();
        }
        continue;
      }
      await this.#finish(batch, seen);
      changed = true;
    }
    return changed;
  }

  /** True when every batch was collected. */
  get done(): boolean {
    return this.state.batches.every((batch) => batch.collected !== undefined);
  }

  /** Every batch was created (or collected): a detached call may leave. */
  get submitted(): boolean {
    return this.state.batches.every((batch) => batch.collected !== undefined || batch.batchId !== undefined);
  }

  /** Runs steps until every batch is collected, sleeping between polls (longer while nothing changes). */
  async runToEnd(until: () => boolean = () => this.done): Promise<void> {
    let delay = this.config.pollInterval;
    for (;;) {
      const changed = await this.step();
      if (until()) return;
      delay = changed ? this.config.pollInterval : Math.min(delay * 1.5, this.config.pollInterval * MAX_POLL_FACTOR);
      await sleep(this.#nextWake(delay), this.config.signal).catch(() => this.#throwIfAborted());
    }
  }

  /** `delay`, or less when a batch refused for a full queue is due sooner. */
  #nextWake(delay: number): number {
    const now = Date.now();
    let wake = delay;
    for (const batch of this.state.batches) {
      if (batch.batchId === undefined && batch.collected === undefined && batch.notBefore !== undefined) {
        wake = Math.min(wake, Math.max(0, batch.notBefore - now));
      }
    }
    return wake;
  }

  /** A cancelled job submits nothing more: a batch not yet created fails its inputs. */
  async #failUnsubmitted(batch: JournalBatch): Promise<boolean> {
    // Killed between its creation and the journal's record of it: the batch exists, cancel it too.
    const created = batch.creating ? await findCreated(this, batch) : undefined;
    if (created !== undefined) {
      batch.batchId = created.id;
      batch.status = created.status;
      batch.submissions++;
      delete batch.creating;
      await this.save();
      if (!FINAL.has(created.status)) batch.status = (await this.api.cancel(created.id)).status;
      return true;
    }
    const message = 'the job was cancelled before this input was submitted';
    batch.collected = {
      ok: 0,
      tokens: 0,
      retry: [],
      failed: [...eachIndex(batch.inputs)].map((index) => ({ index, code: 'batch_cancelled', message })),
    };
    await this.save();
    return true;
  }

  /** A batch reached a final status: a full queue sends it again later; anything else is collected. */
  async #finish(batch: JournalBatch, seen: BatchObject): Promise<void> {
    batch.status = seen.status;
    const queueFull = seen.status === 'failed' && seen.errors?.data?.some((e) => e.code === 'token_limit_exceeded');
    if (queueFull && !this.state.cancelled) {
      // The organisation's queue of enqueued tokens is full: the same file is submitted again
      // once earlier batches had time to finish (OpenAI: "Enqueued token limit reached").
      const backoff = Math.min(this.config.pollInterval * 2 ** batch.submissions, MAX_QUEUE_BACKOFF_MS);
      delete batch.batchId;
      delete batch.status;
      batch.notBefore = Date.now() + backoff;
      await this.save();
      return;
    }
    if (seen.output_file_id) batch.outputFileId = seen.output_file_id;
    if (seen.error_file_id) batch.errorFileId = seen.error_file_id;
    const retry = await collect(this, batch, seen);
    if (retry !== undefined) this.state.batches.push(retry);
    await this.save();
    // Its vectors are stored: its files only take the organisation's storage (and the local
    // server's maxStoredBytes) for the rest of a long job. A retry uploads its own file.
    if (this.results.persistent) await deleteBatchFiles(this, batch);
  }

  #throwIfAborted(): void {
    const { signal } = this.config;
    if (signal.aborted) {
      throw new APIUserAbortError(`runBatchJob was aborted; the journal holds job ${this.state.jobId} to resume`, {
        cause: signal.reason,
      });
    }
  }

  report(): void {
    this.config.onProgress?.(this.progress());
  }

  progress(): BatchJobProgress {
    return { ...batchJobProgress(this.state), elapsedMs: Math.max(0, performance.now() - this.#startedAt) };
  }
}
