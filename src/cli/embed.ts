import { rmSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import { InvalidArgumentError } from '../index.js';
import type { InputType, PresetName } from '../index.js';
import { openCache } from './cache.js';
import { newClient } from './client.js';
import { FailuresFile, failuresPath } from './failures.js';
import { exists } from './files.js';
import { IdSet } from './id-set.js';
import type { CliIo } from './io.js';
import { EXIT, UsageError } from './io.js';
import { stopAdvice } from './advice.js';
import { openOutput } from './open-output.js';
import { metaPath } from './output.js';
import { idsPath } from './output-npy.js';
import type { OutputWriter } from './output.js';
import { ProgressDisplay, newStats } from './progress.js';
import type { RunStats } from './progress.js';
import { checkReadable, countRecords, inputFormat, openInput, readRecords } from './readers.js';
import type { FieldNames, InputFormat, InputRecord } from './readers.js';

/** The flags of `embedrail embed`, parsed. */
export interface EmbedFlags extends FieldNames {
  out: string;
  model: string;
  dimensions?: number;
  baseUrl?: string;
  apiKey?: string;
  preset: PresetName;
  /** Absent: no input-type field is sent, as the library does. */
  inputType?: InputType;
  concurrency: number;
  rpm?: number;
  tpm?: number;
  /** Absent: the preset's cap. */
  batchSize?: number;
  truncate: boolean;
  maxRetries: number;
  timeout: number;
  resume: boolean;
  overwrite: boolean;
  format?: InputFormat;
  /** A redis:// URL or a folder: vectors found there are not sent. */
  cache?: string;
}

/**
 * `embedrail embed <input> --out <file>`: streams the input through `client.embeddings.stream()`
 * and appends each vector as its request completes, so memory holds what is in flight, not the
 * corpus. Inputs that fail go to `<out>.failures.jsonl` and make the exit code 1.
 */
export async function embed(input: string, flags: EmbedFlags, io: CliIo): Promise<number> {
  const explicit = inputFormat(input, flags.format);
  if (input !== '-') await checkReadable(input, 'input');
  if (flags.resume && flags.overwrite) throw new UsageError('--resume and --overwrite contradict each other; pick one');
  if (input !== '-') await refuseOverlap(input, flags.out);
  const client = newClient({
    baseURL: flags.baseUrl,
    apiKey: flags.apiKey,
    preset: flags.preset,
    maxConcurrency: flags.concurrency,
    maxRetries: flags.maxRetries,
    timeout: flags.timeout,
  });
  const cache =
    flags.cache === undefined
      ? undefined
      : await openCache(flags.cache, io).catch(async (error: unknown) => {
          await client.close();
          throw error;
        });
  // Files this run creates; a run that ends unfinished before its first vector (a usage error,
  // a stop, an interruption) removes them again, so the corrected command does not trip over an
  // empty output that "already exists".
  const created = await missing([flags.out, idsPath(flags.out), metaPath(flags.out)]);
  const output = await openOutput(flags.out, {
    resume: flags.resume,
    overwrite: flags.overwrite,
    dimensions: flags.dimensions,
    model: flags.model,
    inputType: flags.inputType,
  }).catch(async (error: unknown) => {
    await client.close();
    await cache?.close();
    throw error;
  });
  const failures = new FailuresFile(failuresPath(flags.out));
  const stats = newStats();
  const display = new ProgressDisplay(stats, io.stderr);
  let stopped: unknown;
  let usage: UsageError | undefined;
  // Ctrl+C on a silent pipe (`tail -f log | embedrail embed -`) must not wait for its next
  // line: sniffing the format ends when stdin is closed, reading records when the signal aborts.
  const closeStdin = () => {
    if (input === '-') io.stdin.destroy();
  };
  io.signal?.addEventListener('abort', closeStdin, { once: true });
  let closeStream = () => {};
  let cutShort = false;
  try {
    const { stream, format } = await openInput(input, explicit, io.stdin);
    closeStream = () => stream.destroy();
    if (input !== '-') stats.total = await countRecords(input, format, flags);
    display.start();
    const records = untilAborted(readRecords(stream, format, flags), io.signal, () => {
      cutShort = true;
    });
    const inputs = admitted(records, output, stats, (id, error) => {
      failures.add(id, error);
      stats.failed++;
    });
    const results = client.embeddings.stream(
      {
        model: flags.model,
        input: inputs,
        ...(output.requestDimensions === undefined ? {} : { dimensions: output.requestDimensions }),
        ...(output.requestInputType === undefined ? {} : { inputType: output.requestInputType }),
      },
      {
        ...(flags.batchSize === undefined ? {} : { maxInputsPerRequest: flags.batchSize }),
        truncate: flags.truncate,
        ...(flags.rpm === undefined && flags.tpm === undefined
          ? {}
          : { rateLimit: { requestsPerMinute: flags.rpm, tokensPerMinute: flags.tpm } }),
        onFailure: 'collect',
        ...(cache === undefined ? {} : { cache: cache.cache }),
        vectorType: 'float32',
        signal: io.signal,
        onProgress: (progress) => {
          stats.tokens = progress.tokens;
          stats.requests = progress.requests;
          stats.retries = progress.retries;
          stats.rateLimited = progress.rateLimited;
          // The limiter's beliefs, reported as each wait starts: the line says the job waits.
          stats.rateLimit = progress.rateLimit;
          display.update();
        },
      },
    );
    for await (const item of results) {
      // Every input we hand over carries its id, so every result does.
      const id = item.id!;
      if (item.error) {
        failures.add(id, item.error);
        stats.failed++;
      } else {
        output.write(id, item.embedding);
        stats.embedded++;
      }
      display.update();
    }
  } catch (error) {
    if (error instanceof UsageError) usage = error;
    else stopped = error;
  } finally {
    io.signal?.removeEventListener('abort', closeStdin);
    // An open pipe still being read would keep the process alive after the run; sniffed stdin
    // is read through a replaying wrapper, so both close.
    closeStream();
    closeStdin();
    try {
      output.close();
    } finally {
      failures.close();
      const unfinished = usage !== undefined || stopped !== undefined || cutShort;
      if (unfinished && stats.embedded === 0) {
        for (const file of output.files) if (created.has(file)) rmSync(file, { force: true });
      }
      // A usage error is reported on its own line; a summary beside it would bury it.
      display.stop(usage !== undefined ? undefined : { out: flags.out, failures: failures.path });
      await client.close();
      await cache?.close();
    }
  }
  if (usage !== undefined) {
    // A bad line partway through (stdin is checked as it arrives) keeps what came before it.
    if (stats.embedded === 0) throw usage;
    throw new UsageError(
      `${usage.message}; the ${stats.embedded} inputs embedded before it are kept in '${flags.out}': ` +
        `fix the input and rerun with --resume to embed the rest`,
    );
  }
  // Inputs that never arrived are not done either, even when everything read so far is.
  if (stopped === undefined && cutShort) stopped = new Error('interrupted');
  return finish(stopped, stats, io, stats.embedded > 0 || output.done.size > 0);
}

/** `--overwrite` onto the input would empty it before a line is read: refuse instead. */
async function refuseOverlap(input: string, out: string): Promise<void> {
  const source = await realpath(input);
  for (const file of [out, idsPath(out), metaPath(out), failuresPath(out)]) {
    if (source === (await realpath(file).catch(() => resolve(file)))) {
      throw new UsageError(`input '${input}' is also the output file '${file}'; write the output elsewhere`);
    }
  }
}

async function missing(paths: string[]): Promise<Set<string>> {
  const absent = new Set<string>();
  for (const path of paths) if (!(await exists(path))) absent.add(path);
  return absent;
}

/**
 * Ends `source` the moment `signal` aborts, even while it waits on a pipe that stays open
 * (`tail -f log | embedrail embed -`): Ctrl+C must stop the run, not wait for the next line.
 */
async function* untilAborted<T>(
  source: AsyncIterable<T>,
  signal: AbortSignal | undefined,
  onCut: () => void,
): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  let ended = false;
  try {
    for (;;) {
      const next = signal === undefined ? await iterator.next() : await nextUnlessAborted(iterator, signal);
      if (next === undefined || next.done) {
        ended = next !== undefined && !signal?.aborted;
        if (!ended) onCut();
        return;
      }
      yield next.value;
    }
  } finally {
    // A read still pending on the source settles once the input is closed; nothing waits for it.
    if (!ended) void Promise.resolve(iterator.return?.()).catch(() => {});
  }
}

/**
 * The next item, or `undefined` once `signal` aborts. The abort listener lives for one read
 * only: racing every read against one promise that never settles kept a reaction, and the
 * record it resolved with, per input for the whole run (0.6 KB a line).
 */
function nextUnlessAborted<T>(iterator: AsyncIterator<T>, signal: AbortSignal): Promise<IteratorResult<T> | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    iterator.next().then(
      (next) => {
        signal.removeEventListener('abort', onAbort);
        resolve(next);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * The inputs to send: records already in the output are skipped (resume); broken records,
 * repeated ids, empty texts and ids the output cannot hold become failures here, before
 * anything is sent, so that each id ends in exactly one place.
 */
async function* admitted(
  records: AsyncIterable<InputRecord>,
  output: OutputWriter,
  stats: RunStats,
  fail: (id: string, error: Error) => void,
): AsyncGenerator<{ id: string; text: string }> {
  const seen = new IdSet();
  for await (const record of records) {
    // Repeats first: a second copy of an id already done must fail as it did in the first run.
    if (seen.has(record.id)) {
      fail(
        record.id,
        new InvalidArgumentError(`id '${record.id}' appears more than once in the input; ids must be unique`),
      );
      continue;
    }
    seen.add(record.id);
    if (output.done.has(record.id)) {
      stats.resumed++;
      continue;
    }
    if ('error' in record) {
      fail(record.id, new InvalidArgumentError(record.error));
      continue;
    }
    const refused = output.accepts(record.id);
    if (refused !== undefined) fail(record.id, new InvalidArgumentError(refused));
    else if (record.text === '') {
      // OpenAI answers 400 to an empty string; say so per id instead of failing its whole request.
      fail(
        record.id,
        new InvalidArgumentError(`input '${record.id}' is an empty string, which the embeddings API rejects`),
      );
    } else yield record;
  }
}

function finish(stopped: unknown, stats: RunStats, io: CliIo, kept: boolean): number {
  if (stopped === undefined) return stats.failed > 0 ? EXIT.failed : EXIT.ok;
  // Failed inputs are not in the output either: a rerun with --resume sends them again.
  const left =
    stats.total === undefined
      ? ''
      : ` ${Math.max(0, stats.total - stats.resumed - stats.embedded)} inputs are not done;`;
  if (io.signal?.aborted) {
    io.stderr.write(`embedrail: interrupted;${left} rerun with --resume to finish\n`);
    return EXIT.interrupted;
  }
  io.stderr.write(`embedrail: stopped: ${stopAdvice(stopped, left, kept)}\n`);
  return EXIT.failed;
}
