/**
 * One batch job's requests: pacing hooks, caps learnt from refusals, bisecting on 413 and on
 * 400s and 422s about single inputs, cache reads and writes, and delivery of each vector to
 * every position that asked for it. Shared by createMany() (a finite list) and stream() (a
 * lazy source).
 */
import { defaultMaxListeners, setMaxListeners } from 'node:events';
import type { EmbeddingsClient } from '../client.js';
import { normalizeInPlace, toNumberArray } from '../decode.js';
import { createEmbeddings } from '../create.js';
import { APIUserAbortError, EmbeddingsError, InvalidArgumentError } from '../errors.js';
import type { VectorType } from '../options.js';
import { composeRateLimiters, InMemoryRateLimiter, type RateLimiter, type RateLimitWait } from '../rate-limit/index.js';
import { requesterOf, type AttemptHooks } from '../requester.js';
import { cacheKey } from './cache.js';
import { learnCap, learntCapsOf, RequestRecord, type LearntCaps, type LoneFailures } from './job-errors.js';
import type { BatchConfig } from './config.js';
import { ProbeGate } from './probe-gate.js';
import { countBatch, halves, packBatches, toBatch, type Batch, type RequestLimits, type Unit } from './planner.js';
import { estimateTokens, knowsTokensPerByte, learnTokensPerByte } from '../token-charge.js';
import { ProgressTracker } from './progress.js';
import type { BatchProgress } from './types.js';
import type { RowTarget } from '../receive/reader.js';

/** What a request charges the rate limiter: tokens, whether estimated, and the bytes of its uncounted texts. */
interface Charge {
  tokens: number;
  estimated: boolean;
  bytes: number | undefined;
}

/** Where a job hands each input's outcome. */
export interface JobSink {
  embedding(index: number, id: string | undefined, vector: number[] | Float32Array): void;
  failure(index: number, id: string | undefined, error: EmbeddingsError): void;
  /** A unit got its outcome; stream() stops merging duplicates into it from here on. */
  unitSettled?(unit: Unit): void;
  /**
   * Memory to write a request's rows straight into, given the input index each of its rows
   * is for (createMany's matrix); its rows still reach `embedding()`, as views into it.
   */
  rowsFor?(indices: readonly number[]): RowTarget | undefined;
}

/** Share of a server's token burst one request may hold, when the burst is under a minute's limit. */
const BURST_SHARE = 0.5;
/** Keys per cache.get() call, so one lookup never builds a huge array. */
const CACHE_LOOKUP_CHUNK = 2048;

/**
 * Abort listeners one request of the job may hold on its signal at once: its retries, its
 * concurrency slot, a turn of each rate limiter (the call's and the client's) and its socket
 * or retry sleep. A full window of 8 is past Node's default of 10, and the warning says "leak".
 */
const ABORT_LISTENERS_PER_REQUEST = 5;

/** What follows a request once the probe gate has its answer. */
interface AfterAnswer {
  /** More requests (parts, halves) or the answer's delivery, run after the gate opens. */
  next?: () => Promise<void>;
  /** A guessed cap closed the gate again: the first part probes it, so this request does not open it. */
  probeAgain?: boolean;
}

export class Job {
  readonly progress: ProgressTracker;
  /** The client's rate limiter, behind the job's own when the call set a `rateLimit`. */
  readonly rateLimiter: RateLimiter;
  /** Aborted by the caller's signal, or by stop(); cancels every request in flight. */
  readonly controller = new AbortController();
  /** An error that makes every further request pointless (bad key, unknown model...). */
  #fatal: EmbeddingsError | undefined;
  /**
   * An error that ends the job as a whole, rethrown by the caller: an onProgress or cache
   * error, or a server that could not be reached before any request succeeded. Inputs not
   * done by then are not failed one by one: nothing about them was learnt.
   */
  #stopError: unknown;
  /** Model name the server reported. */
  model: string | undefined;
  readonly usage = { prompt_tokens: 0, total_tokens: 0 };
  readonly #client: EmbeddingsClient<VectorType>;
  readonly #config: BatchConfig;
  readonly #sink: JobSink;
  readonly #onCallerAbort: () => void;
  readonly #record = new RequestRecord();
  /** The last wait reported through onProgress: each waiting request reports the same one. */
  #reportedWait: RateLimitWait | undefined;
  /** The caps the client's server stated in refusals, shared by the client's jobs for this model. */
  readonly #caps: LearntCaps;
  /** Holds requests back while one probes the server's caps. */
  readonly #gate = new ProbeGate();

  constructor(
    client: EmbeddingsClient<VectorType>,
    config: BatchConfig,
    sink: JobSink,
    totalInputs: number | undefined,
  ) {
    this.#client = client;
    this.#config = config;
    this.#sink = sink;
    const shared = requesterOf(client).rateLimiter;
    const { requestsPerMinute, tokensPerMinute } = config.rateLimit;
    // The call's limits may only tighten the client's: its own limiter comes first, so a request
    // waiting on it holds no turn of the shared one.
    this.rateLimiter =
      requestsPerMinute === undefined && tokensPerMinute === undefined
        ? shared
        : composeRateLimiters(new InMemoryRateLimiter({ ...config.rateLimit, learnFromAnswers: false }), shared);
    this.#caps = learntCapsOf(client, config.params.model);
    // A limiter still probing the server sends the first request alone anyway: holding the
    // others back until it is answered costs nothing then. A client whose limits are known
    // sends a full window at once, as before.
    if (!this.#caps.answered && shared.snapshot?.().concurrency !== undefined) this.#gate.close();
    const snapshot = this.rateLimiter.snapshot?.bind(this.rateLimiter);
    const { observer } = requesterOf(client);
    // The client's batchProgress listeners hear what onProgress hears; only onProgress may stop the job.
    const onProgress = (progress: BatchProgress) => {
      config.onProgress?.(progress);
      observer.batchProgress(progress);
    };
    this.progress = new ProgressTracker(totalInputs, onProgress, () => snapshot?.());
    // The job owns this signal and bounds its requests by the window: that many listeners is no leak.
    setMaxListeners(
      Math.max(defaultMaxListeners, ABORT_LISTENERS_PER_REQUEST * config.maxConcurrency),
      this.controller.signal,
    );
    this.#onCallerAbort = () => this.controller.abort(config.signal!.reason);
    if (config.signal?.aborted) this.#onCallerAbort();
    else config.signal?.addEventListener('abort', this.#onCallerAbort, { once: true });
  }

  /** The caller aborted (as opposed to the job stopping itself). */
  get aborted(): boolean {
    return this.#config.signal?.aborted === true;
  }

  /** The error every input not done yet fails with, once one request showed the others cannot succeed. */
  get fatal(): EmbeddingsError | undefined {
    return this.#fatal;
  }

  /** No new request may start. */
  get stopped(): boolean {
    return this.controller.signal.aborted || this.#fatal !== undefined || this.#stopError !== undefined;
  }

  /** Cancels in-flight requests of a job that will not use their results. */
  stop(reason?: unknown): void {
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  /** Ends the job with `error`, which the caller then throws (the first such error wins). */
  halt(error: unknown): void {
    this.#stopError ??= error;
    this.stop(error);
  }

  /**
   * Throws what ended the job before its end: the caller's abort, unless `allSettled` (every
   * input had settled by then, so the abort took nothing away), or the error it was halted with.
   */
  throwIfCut(method: string, allSettled: boolean): void {
    if (this.aborted && !allSettled) throw this.#abortError(method);
    if (this.#stopError !== undefined) throw this.#stopError;
  }

  dispose(): void {
    this.#config.signal?.removeEventListener('abort', this.#onCallerAbort);
  }

  /** The error to throw when the caller aborted: it says how much had finished. */
  #abortError(method: string): APIUserAbortError {
    const { settledInputs, totalInputs } = this.progress;
    const of = totalInputs === undefined ? '' : ` of ${totalInputs}`;
    return new APIUserAbortError(`${method} was aborted after ${settledInputs}${of} inputs finished`, {
      cause: this.#config.signal?.reason,
    });
  }

  /** Looks `units` up in the cache, delivers the hits and returns the misses. */
  async lookup(units: Unit[]): Promise<Unit[]> {
    const { cache, cacheScope } = this.#config;
    if (cache === undefined || units.length === 0) return units;
    const misses: Unit[] = [];
    let hits = 0;
    for (let start = 0; start < units.length; start += CACHE_LOOKUP_CHUNK) {
      if (this.stopped) return misses.concat(units.slice(start));
      const chunk = units.slice(start, start + CACHE_LOOKUP_CHUNK);
      let found: (Float32Array | undefined)[];
      try {
        found = await cache.get(chunk.map((unit) => (unit.key ??= cacheKey(cacheScope, unit.text))));
      } catch (error) {
        this.halt(error);
        return misses.concat(units.slice(start));
      }
      if (!Array.isArray(found) || found.length !== chunk.length) {
        this.halt(
          new InvalidArgumentError(`\`cache.get()\` must resolve to an array of ${chunk.length} entries, one per key`),
        );
        return misses.concat(units.slice(start));
      }
      chunk.forEach((unit, i) => {
        const vector = found[i];
        // A stored vector of another size belongs to another setting; fetch it again.
        const fits =
          vector instanceof Float32Array &&
          vector.length > 0 &&
          (cacheScope.dimensions === undefined || vector.length === cacheScope.dimensions);
        if (fits) {
          this.#deliver(unit, vector, false);
          hits++;
        } else {
          misses.push(unit);
        }
      });
    }
    if (hits > 0) this.#report();
    return misses;
  }

  /** Sends the units of `batch` the cache does not hold; like send(), settles every unit and never rejects. */
  async lookupAndSend(batch: Batch): Promise<void> {
    if (this.#fatal !== undefined) return this.failUnsent(batch.units);
    if (this.stopped) return;
    const misses = await this.lookup(batch.units);
    await this.send(misses.length === batch.units.length ? batch : toBatch(misses));
  }

  /**
   * Sends one request and settles every unit in it: never rejects. A refusal that states a cap
   * ("maximum allowed batch size 32") sets it for the client's later requests and sends this
   * one again in parts that fit; a 413, or a 400 or 422 that concerns the inputs, splits the
   * request in halves until only the offending inputs fail.
   */
  async send(batch: Batch, lone: LoneFailures = { count: 0, message: '' }): Promise<void> {
    if (batch.units.length === 0) return;
    const opens = await this.#gate.enter();
    let after: AfterAnswer = {};
    try {
      after = await this.#request(batch, lone);
    } finally {
      // Opened on every exit, throws included: a request that held it closed would hang the job.
      // Only a guessed cap keeps it closed, for the first of the parts to probe again.
      if (!after.probeAgain) this.#answered(opens);
    }
    await after.next?.();
  }

  /**
   * Sends `batch` once and decides what follows; what follows runs once the probe gate has its
   * answer (requests held back go meanwhile), so parts and halves are not held behind themselves.
   */
  async #request(batch: Batch, lone: LoneFailures): Promise<AfterAnswer> {
    if (this.#fatal !== undefined) {
      this.#fail(batch.units, this.#fatal);
      return {};
    }
    if (this.stopped) return {};
    // A cap learnt since this request was packed (by this job or another of the client's).
    const limits = this.#limits();
    // The packed total is an upper bound: counted exactly only when a learnt cap is below it.
    const over =
      batch.units.length > limits.maxInputsPerRequest ||
      (batch.tokens > limits.maxTokensPerRequest &&
        countBatch(batch, this.#config.tokenizer) > limits.maxTokensPerRequest);
    // One input over a token cap goes alone: the server's answer decides its fate.
    if (over && batch.units.length > 1) return { next: () => this.#sendParts(batch, limits, lone) };
    const charge = this.#charge(batch);
    let response: Awaited<ReturnType<typeof createEmbeddings>>;
    try {
      response = await createEmbeddings(
        this.#client,
        { ...this.#config.params, input: batch.units.map((unit) => unit.text) },
        { ...this.#config.request, signal: this.controller.signal },
        this.#hooks(charge.tokens),
        // A cache keeps the vectors it is given: they must not be views into the caller's memory.
        this.#config.cache === undefined
          ? this.#sink.rowsFor?.(batch.units.map((unit) => unit.indices[0]!))
          : undefined,
      );
    } catch (caught) {
      if (this.controller.signal.aborted) return {};
      const error = caught instanceof EmbeddingsError ? caught : new EmbeddingsError(String(caught), { cause: caught });
      // A refusal that states a cap: every later request of the client fits it, this one is sent again in parts that do.
      const learnt = learnCap(error, this.#caps, batch.units.length, () => countBatch(batch, this.#config.tokenizer));
      if (learnt !== undefined) {
        // A guessed cap is probed again by the first part before the others go.
        if (learnt === 'guessed') this.#gate.close();
        return { next: () => this.#sendParts(batch, this.#limits(), lone), probeAgain: learnt === 'guessed' };
      }
      const verdict = this.#record.judge(error, batch.units.length, lone);
      if (verdict === 'split') {
        const [left, right] = halves(batch);
        // One half after the other: the split stays inside this request's concurrency slot.
        return {
          next: async () => {
            await this.send(left, lone);
            await this.send(right, lone);
          },
        };
      }
      if (verdict === 'halt') {
        this.halt(error);
        return {};
      }
      if (verdict === 'fatal') this.#fatal = error;
      this.#fail(batch.units, error);
      return {};
    }
    this.#record.succeeded();
    this.#caps.answered = true;
    return { next: () => this.#accept(batch, response, charge) };
  }

  /** Counts an answer, caches its vectors and hands them on. */
  async #accept(batch: Batch, response: Awaited<ReturnType<typeof createEmbeddings>>, charge: Charge): Promise<void> {
    this.model ??= response.model;
    this.usage.prompt_tokens += response.usage.prompt_tokens;
    this.usage.total_tokens += response.usage.total_tokens;
    const used = response.usage.prompt_tokens;
    this.progress.tokens += used || charge.tokens;
    const { model } = this.#config.params;
    if (charge.bytes !== undefined) learnTokensPerByte(this.#client, model, charge.bytes, used);
    // What was estimated is replaced by the server's count.
    if (charge.estimated && used > 0) this.rateLimiter.reconcile?.({ charged: charge.tokens, used });
    const vectors = response.data.map((item) => item.embedding as Float32Array);
    const { cache, cacheScope } = this.#config;
    if (cache !== undefined) {
      // Written before the results are handed on: a crash loses at most what was in flight.
      try {
        await cache.set(batch.units.map((unit, i) => [(unit.key ??= cacheKey(cacheScope, unit.text)), vectors[i]!]));
      } catch (error) {
        this.halt(error);
      }
    }
    batch.units.forEach((unit, i) => this.#deliver(unit, vectors[i]!, cache === undefined));
    this.#report();
  }

  /**
   * Tokens a request is charged against the tokens-per-minute budget: what was counted, and an
   * estimate from the server's tokens per byte for the rest (reconciled with its answer). Until
   * an answer taught that ratio, the request is counted exactly: a byte per token would
   * overcharge a budget four times for English, and misteach the burst a server's
   * `remaining-tokens` measures.
   */
  #charge(batch: Batch): Charge {
    let counted = 0;
    let uncounted = 0;
    let bytes: number | undefined = 0;
    for (const unit of batch.units) {
      bytes = unit.bytes === undefined || bytes === undefined ? undefined : bytes + unit.bytes;
      if (unit.tokens !== undefined) counted += unit.tokens;
      else uncounted += unit.bytes ?? unit.bound;
    }
    if (uncounted === 0) return { tokens: counted, estimated: false, bytes };
    const { model } = this.#config.params;
    if (!knowsTokensPerByte(this.#client, model)) {
      return { tokens: countBatch(batch, this.#config.tokenizer), estimated: false, bytes };
    }
    return { tokens: counted + estimateTokens(this.#client, model, uncounted), estimated: true, bytes };
  }

  /** What a request packed now may hold: read as each request opens, so packing follows the caps learnt. */
  readonly limits = (): RequestLimits => this.#limits();

  /** Requests of the job may hold no more than this: the job's options, tightened by what refusals stated. */
  #limits(): RequestLimits {
    return {
      maxInputsPerRequest: Math.min(this.#config.maxInputsPerRequest, this.#caps.inputs),
      maxTokensPerRequest: Math.min(this.#config.maxTokensPerRequest, this.#caps.tokens, this.#burstCap()),
    };
  }

  /**
   * Tokens a request may hold on a server whose bucket is smaller than its per-minute limit:
   * {@link BURST_SHARE} of the burst learnt. A request of nearly the whole bucket must reach
   * the server just as the bucket fills, neither before (a 429) nor after (its refill wasted),
   * and how long an upload and the server's count take varies by more than that allows: at
   * the wire, requests of 98% of a one-second bucket paced at 1.28 times the least the limits
   * allow. With room to spare in the bucket, the variation is absorbed by what it still holds.
   */
  #burstCap(): number {
    const tokens = this.rateLimiter.snapshot?.().tokens;
    if (tokens?.burst === undefined || tokens.perMinute === undefined || tokens.source === 'configured') {
      return Infinity;
    }
    if (tokens.burst >= tokens.perMinute) return Infinity;
    return Math.max(1, Math.floor(tokens.burst * BURST_SHARE));
  }

  /** Sends `batch` again as requests that fit `limits`, one after the other inside this request's slot. */
  async #sendParts(batch: Batch, limits: RequestLimits, lone: LoneFailures): Promise<void> {
    for (const part of packBatches(batch.units, limits, this.#config.tokenizer)) await this.send(part, lone);
  }

  /** The probe has its answer (when `opens`): the requests held back may go. */
  #answered(opens: boolean): void {
    if (opens) this.#gate.open();
  }

  /** Fails units without sending them (after a fatal error). */
  failUnsent(units: Unit[]): void {
    if (this.#fatal !== undefined && units.length > 0) this.#fail(units, this.#fatal);
  }

  /** Pacing and counting for each attempt of one request. */
  #hooks(tokens: number): AttemptHooks {
    return {
      rateLimiter: this.rateLimiter,
      tokens,
      onWait: (wait) => {
        // A wait is news when it starts, not when the next request completes. Every request in
        // line reports the same wait: onProgress hears it once.
        const last = this.#reportedWait;
        if (last !== undefined && last.untilMs === wait.untilMs && last.reason === wait.reason) return;
        this.#reportedWait = wait;
        this.#report();
      },
      onAttempt: () => {
        this.#reportedWait = undefined;
        this.progress.requests++;
      },
      onResponse: (status) => {
        if (status !== 429) return;
        this.progress.rateLimited++;
        this.#report();
      },
      onRetry: () => {
        this.progress.retries++;
      },
    };
  }

  /** Fails one input that never became a unit (it did not pass the input checks). */
  failInput(index: number, id: string | undefined, error: EmbeddingsError): void {
    this.progress.failedInputs++;
    this.#sink.failure(index, id, error);
    this.#report();
  }

  #fail(units: Unit[], error: EmbeddingsError): void {
    for (const unit of units) {
      this.#sink.unitSettled?.(unit);
      unit.indices.forEach((index, k) => {
        this.progress.failedInputs++;
        this.#sink.failure(index, unit.ids[k], error);
      });
    }
    this.#report();
  }

  /** Shapes a raw vector as asked (normalised, array or float32) for each position of `unit`. */
  #deliver(unit: Unit, raw: Float32Array, owned: boolean): void {
    const { normalize, vectorType } = this.#config;
    this.#sink.unitSettled?.(unit);
    // A row view shares its response's buffer: only 'float32-view' may hand it on as it is.
    const ownsBuffer = raw.byteLength === raw.buffer.byteLength;
    let first: number[] | Float32Array =
      vectorType === 'array'
        ? toNumberArray(raw)
        : owned && (vectorType === 'float32-view' || ownsBuffer)
          ? raw
          : raw.slice();
    if (normalize) first = normalizeInPlace(first);
    unit.indices.forEach((index, k) => {
      const vector = k === 0 ? first : first.slice();
      this.progress.completedInputs++;
      this.#sink.embedding(index, unit.ids[k], vector);
    });
  }

  #report(): void {
    if (this.#stopError !== undefined) return;
    try {
      this.progress.report();
    } catch (error) {
      this.halt(error);
    }
  }
}
