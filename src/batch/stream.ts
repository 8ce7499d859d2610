/**
 * stream(): reads its input lazily, packs requests as it goes and yields each result as
 * soon as its request completes (or in input order with `ordered`). A reader task pulls
 * input only while a request slot is free and fewer than (maxConcurrency + 1) requests'
 * worth of inputs are read but not yet taken by the consumer, so memory stays bounded
 * for an endless input and a consumer that stops pulling stops the reading.
 *
 * The parts: the Job sends requests and settles inputs, a RequestWindow keeps them in
 * flight, a SourceReader feeds them, a ResultQueue holds results for the consumer, and a
 * Wakeup lets the reader and the consumer sleep until one of the others moved.
 */
import type { EmbeddingsClient } from '../client.js';
import { EmbeddingsError } from '../errors.js';
import type { VectorType } from '../options.js';
import { resolveBatchConfig } from './config.js';
import { BatchEmbeddingError } from './errors.js';
import { Job } from './job.js';
import { BatchBuilder, Deduper, prepareText, readItem, type Batch, type Prepared } from './planner.js';
import { ResultQueue } from './results.js';
import { iteratorOf, SourceReader } from './source.js';
import type { BatchFailure, StreamItem, StreamOptions, StreamParams } from './types.js';
import { Wakeup } from './wakeup.js';
import { RequestWindow } from './window.js';

const METHOD = 'stream';

type Item = StreamItem<number[] | Float32Array>;

export async function* stream(
  client: EmbeddingsClient<VectorType>,
  params: StreamParams,
  options: StreamOptions = {},
): AsyncGenerator<Item, void, undefined> {
  const config = resolveBatchConfig(client, params, options);
  const source = iteratorOf(params.input);
  const total = Array.isArray(params.input) ? params.input.length : undefined;
  const readAhead = (config.maxConcurrency + 1) * config.maxInputsPerRequest;

  const results = new ResultQueue<Item>(options.ordered ?? false);
  const wakeup = new Wakeup();
  /** onFailure 'throw': the failures the stream throws once what was read has settled. */
  const failures: BatchFailure[] = [];
  const publish = (index: number, item: Item | null) => {
    results.put(index, item);
    wakeup.wake();
  };

  const deduper = new Deduper(config.dedupe);
  const job = new Job(
    client,
    config,
    {
      embedding: (index, id, embedding) =>
        publish(index, id === undefined ? { index, embedding } : { index, id, embedding }),
      failure: (index, id, error) => {
        const failure = id === undefined ? { index, error } : { index, id, error };
        if (config.onFailure === 'collect') return publish(index, failure);
        // 'throw': an endless input cannot be finished first, so reading stops at the first failure
        // and what is already read or in flight settles before the stream throws.
        failures.push(failure);
        publish(index, null);
      },
      unitSettled: (unit) => deduper.close(unit),
    },
    total,
  );

  // An abort must end a consumer that sleeps while nothing is in flight and the source is silent.
  job.controller.signal.addEventListener('abort', () => wakeup.wake(), { once: true });

  const requests = new RequestWindow(job, config.maxConcurrency, () => wakeup.wake());
  const dispatch = (batch: Batch) => void requests.run(() => job.lookupAndSend(batch));
  const rules = { tokenizer: config.tokenizer, maxTokensPerInput: config.maxTokensPerInput, truncate: config.truncate };
  const builder = new BatchBuilder(job.limits, config.tokenizer);
  // What was read is still sent (or failed, after a fatal error) unless the job was stopped.
  const flushRest = () => {
    const rest = builder.flush();
    if (rest === undefined) return;
    if (job.fatal !== undefined) job.failUnsent(rest.units);
    else if (!job.stopped) dispatch(rest);
  };

  const reader = new SourceReader(
    source,
    {
      get stopped() {
        return job.stopped || failures.length > 0;
      },
      // Inputs read and not yet taken by the consumer (nor dropped) stay under the read-ahead.
      mayRead: (read) => requests.hasRoom && read - results.released < readAhead,
      add: (value, index) => {
        let id: string | undefined;
        let prepared: Prepared;
        try {
          const item = readItem(value, index);
          id = item.id;
          prepared = prepareText(item.text, item.field, rules);
        } catch (error) {
          // A plugged-in tokenizer may throw anything; the failure still names its input.
          job.failInput(
            index,
            id,
            error instanceof EmbeddingsError
              ? error
              : new EmbeddingsError(`\`input[${index}]\`: ${String(error)}`, { cause: error }),
          );
          return;
        }
        const unit = deduper.add(index, id, prepared);
        if (unit) for (const batch of builder.add(unit)) dispatch(batch);
      },
      sendPartial: () => {
        if (!requests.hasRoom || builder.size === 0) return false;
        dispatch(builder.flush()!);
        return true;
      },
      finish: flushRest,
    },
    wakeup,
  );

  reader.start();
  let finished = false;
  try {
    for (;;) {
      for (let item = results.take(); item !== undefined; item = results.take()) {
        wakeup.wake();
        yield item;
      }
      // Once halted, a reader stuck waiting on the source holds nothing back: finish without it.
      const readerIdle = reader.idle;
      if (readerIdle && !reader.done) flushRest();
      if (results.hasReady) continue;
      if (readerIdle && requests.pending === 0) break;
      await wakeup.sleep();
    }
    finished = true;
  } finally {
    // The consumer left early (break, return, throw): cancel what is in flight, stop reading.
    reader.halt();
    if (!finished) job.stop(new EmbeddingsError('stream() was closed by its consumer'));
    job.dispose();
    wakeup.wake();
    reader.close();
  }

  // An abort after the source ended and every input settled took nothing away.
  job.throwIfCut(METHOD, reader.ended && job.progress.settledInputs === reader.count);
  if (reader.error !== undefined) throw reader.error;
  if (failures.length > 0) {
    failures.sort((a, b) => a.index - b.index);
    throw new BatchEmbeddingError(METHOD, [], failures, job.progress.settledInputs);
  }
  if (job.fatal !== undefined) throw job.fatal;
}
