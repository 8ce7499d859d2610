import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { APIUserAbortError, InvalidArgumentError, batchJobProgress, fileJournal, resultsDirOf } from '../index.js';
import type { BatchJobProgress, BatchJobState, PresetName } from '../index.js';
import { newClient } from './client.js';
import { FailuresFile, failuresPath } from './failures.js';
import { IdList, IdSet } from './id-set.js';
import type { CliIo } from './io.js';
import { stopAdvice } from './advice.js';
import { EXIT, UsageError, oneLine } from './io.js';
import { openOutput } from './open-output.js';
import { npyIdRefusal } from './output-npy.js';
import { checkReadable, inputFormat, openInput, readRecords } from './readers.js';
import type { FieldNames, InputFormat } from './readers.js';

/** The flags of `embedrail batch`, parsed. */
export interface BatchFlags extends FieldNames {
  out: string;
  journal: string;
  model: string;
  dimensions?: number;
  baseUrl?: string;
  apiKey?: string;
  preset: PresetName;
  pollInterval: number;
  maxInputsPerBatch?: number;
  maxAttempts: number;
  truncate: boolean;
  detach: boolean;
  format?: InputFormat;
}

/**
 * `embedrail batch <input> --out <file> --journal <file>`: embeds the input through the Batch
 * API at half the price, waiting for the batches (or, with `--detach`, submitting them and
 * leaving). Rerunning the same command resumes from the journal; once the job is done the
 * output is written whole, and failed ids go to `<out>.failures.jsonl`.
 */
export async function batch(input: string, flags: BatchFlags, io: CliIo): Promise<number> {
  const explicit = inputFormat(input, flags.format);
  if (input !== '-') await checkReadable(input, 'input');
  const client = newClient({ baseURL: flags.baseUrl, apiKey: flags.apiKey, preset: flags.preset });
  const failures = new FailuresFile(failuresPath(flags.out));
  let refused = 0;
  let sent = 0;
  let inputRead = false;
  try {
    // Bad records fail here, by id, as `embed` fails them; the job gets only what it can send.
    // The records are read as the job plans its shards: the CLI keeps no text and no vector.
    const { stream, format } = await openInput(input, explicit, io.stdin);
    const seen = new IdSet();
    // The output is opened once the job is done; an id it could not hold fails here, before any upload.
    const npy = extname(flags.out).toLowerCase() === '.npy';
    // The job gets the texts alone: ids stay here, compact, and name each result by its index.
    const ids = new IdList();
    async function* texts(): AsyncGenerator<string> {
      for await (const record of readRecords(stream, format, flags)) {
        const problem = seen.has(record.id)
          ? `id '${record.id}' appears more than once in the input; ids must be unique`
          : 'error' in record
            ? record.error
            : record.text === ''
              ? `input '${record.id}' is an empty string, which the embeddings API rejects`
              : npy
                ? npyIdRefusal(flags.out, record.id)
                : undefined;
        seen.add(record.id);
        if (problem !== undefined) {
          failures.add(record.id, new InvalidArgumentError(problem));
          refused++;
        } else {
          sent++;
          ids.push(record.id);
          yield (record as { id: string; text: string }).text;
        }
      }
      inputRead = true;
    }
    const params = {
      model: flags.model,
      input: texts(),
      ...(flags.dimensions === undefined ? {} : { dimensions: flags.dimensions }),
    };
    let lastLine = '';
    const common = {
      journal: flags.journal,
      pollInterval: flags.pollInterval,
      maxAttempts: flags.maxAttempts,
      truncate: flags.truncate,
      ...(flags.maxInputsPerBatch === undefined ? {} : { maxInputsPerBatch: flags.maxInputsPerBatch }),
      signal: io.signal,
      onProgress: (progress: BatchJobProgress) => {
        // A line per change: the journal is written more often than the counts move.
        const line = progressLine(progress);
        if (line !== lastLine) io.stderr.write(`${line}\n`);
        lastLine = line;
      },
    };
    if (flags.detach) {
      const submitted = await client.embeddings.runBatchJob(params, { ...common, detach: true });
      io.stderr.write(
        `embedrail: job ${submitted.jobId} submitted; rerun this command to collect it (embedrail batch status --journal ${flags.journal} --live shows where it is)\n`,
      );
      return EXIT.ok;
    }
    // Written in input order as the finished job's results are read, one shard at a time; the
    // file is opened only then, so a job that stops leaves an earlier output as it was.
    let output: Awaited<ReturnType<typeof openOutput>> | undefined;
    const open = () =>
      openOutput(flags.out, {
        resume: false,
        overwrite: true,
        dimensions: flags.dimensions,
        model: flags.model,
        inputType: undefined,
      });
    let embedded = 0;
    let failed = 0;
    try {
      for await (const item of client.embeddings.streamBatchJob(params, { ...common, vectorType: 'float32' })) {
        if (item.error !== undefined) {
          failures.add(ids.at(item.index)!, item.error);
          failed++;
          continue;
        }
        output ??= await open();
        output.write(ids.at(item.index)!, item.embedding);
        embedded++;
      }
      // Every input failed: the output is still written, empty.
      output ??= await open();
    } finally {
      output?.close();
    }
    // Counted only now: records are refused as the job reads the input, inside the loop above.
    failed += refused;
    io.stderr.write(
      `embedrail: ${embedded} embedded, ${failed} failed; vectors in ${flags.out}` +
        `${failed > 0 ? `, failures in ${failures.path}` : ''}\n`,
    );
    // The folder the journal keeps the vectors in, as the journal names it.
    const resultsDir = resultsDirOf(fileJournal(flags.journal))!;
    const kept = await folderBytes(resultsDir);
    if (kept > 0) {
      io.stderr.write(
        `embedrail: ${resultsDir} keeps the vectors too (${formatBytes(kept)}), so rerunning writes the output again without a request; delete it and ${flags.journal} once you have them\n`,
      );
    }
    return failed > 0 ? EXIT.failed : EXIT.ok;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    if (error instanceof InvalidArgumentError && inputRead && sent === 0) {
      throw new UsageError(`input '${input}' holds no text to embed`);
    }
    if (error instanceof InvalidArgumentError) throw new UsageError(oneLine(error));
    if (error instanceof APIUserAbortError && io.signal?.aborted) {
      io.stderr.write(`embedrail: interrupted; the batches keep running: rerun the same command to collect them\n`);
      return EXIT.interrupted;
    }
    // Whatever stopped it, the journal keeps what was done: after the fix a rerun resumes.
    const advice = stopAdvice(
      error,
      ` ${flags.journal} keeps what was done;`,
      false,
      'rerun the same command to resume',
    );
    io.stderr.write(`embedrail: stopped: ${advice}\n`);
    return EXIT.failed;
  } finally {
    failures.close();
    await client.close();
  }
}

/** The flags of `embedrail batch status`. */
export interface BatchStatusFlags {
  journal: string;
  /** Ask the server where each submitted batch not yet collected is now. */
  live: boolean;
  baseUrl?: string;
  apiKey?: string;
  preset: PresetName;
}

/**
 * `embedrail batch status --journal <file>`: what the journal says of the job, without a
 * request; with `--live`, each batch submitted and not yet collected as the server has it now,
 * and its requests done, failed and in all (the journal is left as it is).
 */
export async function batchStatus(flags: BatchStatusFlags, io: CliIo): Promise<number> {
  let state: BatchJobState | undefined;
  try {
    state = await fileJournal(flags.journal).read();
  } catch (error) {
    throw new UsageError(`cannot read --journal '${flags.journal}': ${oneLine(error)}`);
  }
  if (state === undefined) throw new UsageError(`--journal '${flags.journal}' does not exist`);
  const shown = { done: state.filesDeleted === true, cancelled: state.cancelled === true };
  if (!flags.live) {
    io.stdout.write(`${JSON.stringify({ ...batchJobProgress(state), ...shown })}\n`);
    return EXIT.ok;
  }
  const client = newClient({ baseURL: flags.baseUrl, apiKey: flags.apiKey, preset: flags.preset });
  const requests = { total: 0, completed: 0, failed: 0 };
  try {
    for (const batch of state.batches) {
      if (batch.batchId === undefined || batch.collected !== undefined) continue;
      const now = await client.batches.retrieve(batch.batchId, { signal: io.signal });
      batch.status = now.status;
      requests.total += now.request_counts?.total ?? 0;
      requests.completed += now.request_counts?.completed ?? 0;
      requests.failed += now.request_counts?.failed ?? 0;
    }
  } catch (error) {
    io.stderr.write(`embedrail: stopped: ${stopAdvice(error, '', false, 'the journal is unchanged')}\n`);
    return EXIT.failed;
  } finally {
    await client.close();
  }
  io.stdout.write(`${JSON.stringify({ ...batchJobProgress(state), ...shown, live: true, requests })}\n`);
  return EXIT.ok;
}

/** Bytes of the files in `dir`; 0 when there is no such folder. */
async function folderBytes(dir: string): Promise<number> {
  const names = await readdir(dir).catch(() => []);
  const sizes = await Promise.all(
    names.map((name) =>
      stat(join(dir, name)).then(
        (s) => s.size,
        () => 0,
      ),
    ),
  );
  return sizes.reduce((sum, size) => sum + size, 0);
}

function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${Math.ceil(bytes / 1e3)} kB`;
}

/** One progress line: batches by status, then inputs done, failed and retried. */
export function progressLine(p: BatchJobProgress): string {
  const statuses = Object.entries(p.batches)
    .map(([status, count]) => `${status} ${count}`)
    .join(', ');
  return `embedrail: batches ${statuses} · inputs ${p.completedInputs}/${p.totalInputs} done, ${p.failedInputs} failed, ${p.retriedInputs} retried`;
}
