/**
 * stream(): reads its input lazily, packs requests as it goes and yields each result as
 * soon as its request completes (or in input order with `ordered`). A reader task pulls
 * input only while a request slot is free and fewer than (maxConcurrency + 1) requests'
 * worth of inputs are read but not yet taken by the consumer, so memory stays bounded
 * for an endless input and a consumer that stops pulling stops the reading.
 */
import pLimit from 'p-limit';
import type { EmbeddingsClient } from '../client.js';
import { EmbeddingsError, InvalidArgumentError } from '../errors.js';
import type { VectorType } from '../options.js';
import { preview } from '../schemas.js';
import { resolveBatchConfig } from './config.js';
import { BatchEmbeddingError } from './errors.js';
import { Job } from './job.js';
import { BatchBuilder, Deduper, prepareText, readItem, type Batch } from './planner.js';
import type { BatchFailure, StreamInput, StreamItem, StreamOptions, StreamParams } from './types.js';

const METHOD = 'stream';

/** A source that goes quiet holds a partial request back for at most this long. @unit ms */
const IDLE_FLUSH_MS = 100;

type Item = StreamItem<number[] | Float32Array>;

export async function* stream(
  client: EmbeddingsClient<VectorType>,
  params: StreamParams,
  options: StreamOptions = {},
): AsyncGenerator<Item, void, undefined> {
  const config = resolveBatchConfig(client, params, options);
  const ordered = options.ordered ?? false;
  const iterator = iteratorOf(params.input);
  const total = Array.isArray(params.input) ? params.input.length : undefined;
  const { maxConcurrency } = config;
  const readAhead = (maxConcurrency + 1) * config.maxInputsPerRequest;

  // Results waiting for the consumer: a queue read from `head`, compacted as it drains.
  let ready: Item[] = [];
  let head = 0;
  // ordered: results that arrived before an earlier input's; `null` marks a dropped failure.
  const held = new Map<number, Item | null>();
  let nextToYield = 0;
  const failures: BatchFailure[] = [];
  /** Inputs read and not yet handed to the consumer. */
  let outstanding = 0;
  let inFlight = 0;
  let nextIndex = 0;
  let stopReading = false;
  let readerDone = false;
  let readerError: unknown;

  let waiters: (() => void)[] = [];
  const wake = () => {
    const woken = waiters;
    waiters = [];
    for (const resolve of woken) resolve();
  };
  const sleepUntilWoken = () => new Promise<void>((resolve) => waiters.push(resolve));

  const publish = (index: number, item: Item | null) => {
    if (!ordered) {
      if (item) ready.push(item);
    } else {
      held.set(index, item);
      for (let next = held.get(nextToYield); next !== undefined; next = held.get(nextToYield)) {
        held.delete(nextToYield++);
        if (next) ready.push(next);
      }
    }
    wake();
  };

  const deduper = new Deduper(config.dedupe);
  const job = new Job(client, config, {
    embedding: (index, id, embedding) => publish(index, id === undefined ? { index, embedding } : { index, id, embedding }),
    failure: (index, id, error) => {
      if (config.onFailure === 'collect') {
        publish(index, id === undefined ? { index, error } : { index, id, error });
        return;
      }
      // 'throw': an endless input cannot be finished first, so reading stops at the first failure
      // and what is already read or in flight settles before the stream throws.
      failures.push(id === undefined ? { index, error } : { index, id, error });
      outstanding--;
      stopReading = true;
      publish(index, null);
    },
    unitSettled: (unit) => deduper.close(unit),
  }, total);

  // An abort must end a consumer that sleeps while nothing is in flight and the source is silent.
  job.controller.signal.addEventListener('abort', wake, { once: true });

  const limit = pLimit(maxConcurrency);
  const dispatch = (batch: Batch) => {
    inFlight++;
    void limit(async () => {
      try {
        await job.lookupAndSend(batch);
      } finally {
        inFlight--;
        wake();
      }
    }).catch((error: unknown) => {
      // Job methods settle their own errors; anything else is a defect that must not pass silently.
      job.halt(error);
    });
  };

  const rules = { tokenizer: config.tokenizer, maxTokensPerInput: config.maxTokensPerInput, truncate: config.truncate };
  const builder = new BatchBuilder(config);
  const halted = () => job.stopped || stopReading;
  /** The reader is waiting on the source, which may take any time (or never answer). */
  let readingSource = false;
  let readingSince = 0;
  /** The source said it is done, or threw: it needs no return() call. */
  let sourceEnded = false;
  // What was read is still sent (or failed, after a fatal error) unless the job was stopped.
  const flushRest = () => {
    const rest = builder.flush();
    if (rest === undefined) return;
    if (job.fatal !== undefined) job.failUnsent(rest.units);
    else if (!job.stopped) dispatch(rest);
  };

  // A trickling source (a pipe, a queue) still gets its results: what was read is sent once the
  // source has been silent for IDLE_FLUSH_MS, instead of waiting for a full request.
  const idleFlush = setInterval(() => {
    const idle = readingSource && performance.now() - readingSince >= IDLE_FLUSH_MS;
    if (idle && builder.size > 0 && inFlight < maxConcurrency && !halted()) dispatch(builder.flush()!);
  }, IDLE_FLUSH_MS);
  idleFlush.unref();

  const read = async () => {
    try {
      for (;;) {
        while (!halted() && !(inFlight < maxConcurrency && outstanding < readAhead)) {
          // Reading is held back but a slot is free: send the partial request instead of idling.
          if (inFlight < maxConcurrency && builder.size > 0) dispatch(builder.flush()!);
          else await sleepUntilWoken();
        }
        if (halted()) break;
        readingSource = true;
        readingSince = performance.now();
        let next: IteratorResult<StreamInput>;
        try {
          next = await iterator.next();
        } catch (error) {
          sourceEnded = true;
          throw error;
        }
        readingSource = false;
        if (next.done) sourceEnded = true;
        if (next.done || halted()) break;
        const index = nextIndex++;
        outstanding++;
        let id: string | undefined;
        let prepared: { text: string; tokens: number };
        try {
          const item = readItem(next.value, index);
          id = item.id;
          prepared = prepareText(item.text, item.field, rules);
        } catch (error) {
          // A plugged-in tokenizer may throw anything; the failure still names its input.
          job.failInput(index, id, error instanceof EmbeddingsError ? error : new EmbeddingsError(`\`input[${index}]\`: ${String(error)}`, { cause: error }));
          continue;
        }
        const unit = deduper.add(index, id, prepared.text, prepared.tokens);
        if (unit) for (const batch of builder.add(unit)) dispatch(batch);
      }
    } catch (error) {
      readerError = error;
    } finally {
      clearInterval(idleFlush);
      readingSource = false;
      flushRest();
      readerDone = true;
      wake();
    }
  };

  void read();
  let finished = false;
  try {
    for (;;) {
      while (head < ready.length) {
        const item = ready[head++]!;
        if (head > 1024 && head * 2 > ready.length) {
          ready = ready.slice(head);
          head = 0;
        }
        outstanding--;
        wake();
        yield item;
      }
      // Once halted, a reader stuck waiting on the source holds nothing back: finish without it.
      const readerIdle = readerDone || (halted() && readingSource);
      if (readerIdle && !readerDone) flushRest();
      if (head < ready.length) continue;
      if (readerIdle && inFlight === 0) break;
      await sleepUntilWoken();
    }
    finished = true;
  } finally {
    // The consumer left early (break, return, throw): cancel what is in flight, stop reading.
    stopReading = true;
    clearInterval(idleFlush);
    if (!finished) job.stop(new EmbeddingsError('stream() was closed by its consumer'));
    job.dispose();
    wake();
    // A source we stopped reading early is closed, so it can release a file or a connection.
    if (!sourceEnded) void Promise.resolve(iterator.return?.()).catch(() => {});
  }

  // An abort after the source ended and every input settled took nothing away.
  job.throwIfCut(METHOD, sourceEnded && job.progress.settledInputs === nextIndex);
  if (readerError !== undefined) throw readerError;
  if (failures.length > 0) {
    failures.sort((a, b) => a.index - b.index);
    throw new BatchEmbeddingError(METHOD, [], failures, job.progress.settledInputs);
  }
  if (job.fatal !== undefined) throw job.fatal;
}

function iteratorOf(input: unknown): Iterator<StreamInput> | AsyncIterator<StreamInput> {
  if (typeof input === 'object' && input !== null) {
    const asyncFactory = (input as AsyncIterable<StreamInput>)[Symbol.asyncIterator];
    if (typeof asyncFactory === 'function') return asyncFactory.call(input);
    const syncFactory = (input as Iterable<StreamInput>)[Symbol.iterator];
    if (typeof syncFactory === 'function') return syncFactory.call(input);
  }
  throw new InvalidArgumentError(`\`input\` must be an iterable or async iterable of texts (got ${preview(input)})`);
}
