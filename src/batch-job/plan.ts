/**
 * Plans a Batch API job: reads every input, checks it as createMany() does, and cuts the
 * inputs into shards (one input file, one batch each) under every limit of the Batch API.
 * Pure but for the input it reads: the same inputs and limits always give the same shards
 * and the same `custom_id`s, which is what lets a rerun match the journal it resumes.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAtomically } from './journal.js';
import { InvalidArgumentError } from '../errors.js';
import { prepareText, readItem, type TextRules } from '../batch/planner.js';
import { preview } from '../schemas.js';
import type { BatchParams, StreamInput } from '../batch/types.js';

/** What a shard may hold. */
export interface ShardLimits {
  /** Embedding inputs per batch (OpenAI: 50,000 across all lines; one input per line, so also lines). */
  maxInputsPerBatch: number;
  /** UTF-8 bytes of one input file (OpenAI: 200 MB). @unit bytes */
  maxBatchBytes: number;
  /** Bytes the output file of one batch may reach, estimated per vector. @unit bytes */
  maxOutputBytes: number;
  /** Estimated output bytes per input: its base64 vector and the line around it. @unit bytes */
  outputBytesPerInput: number;
}

/** One planned shard: a run of consecutive inputs, its JSONL body, and a digest of that body. */
export interface PlannedShard {
  shard: number;
  /** Index of its first input; it holds inputs `firstIndex .. firstIndex + count - 1`. */
  firstIndex: number;
  count: number;
  /** The input file, one request line per input: its bytes, or the file they were written to. */
  body: Buffer | { path: string };
  /** sha256 of `body`, so a rerun can tell it planned the same shard. */
  sha256: string;
}

/** A job's whole plan: shards in order, and the caller's ids by input index (when any input had one). */
export interface Plan {
  shards: PlannedShard[];
  totalInputs: number;
  ids: (string | undefined)[] | undefined;
}

/** Output dimensions of the models whose size is known, for the output-size budget. */
const MODEL_DIMENSIONS: Readonly<Record<string, number>> = {
  'text-embedding-3-small': 1536,
  'text-embedding-3-large': 3072,
  'text-embedding-ada-002': 1536,
};
/** An unknown model is budgeted as the largest OpenAI model, so its output is never underestimated. */
const UNKNOWN_MODEL_DIMENSIONS = 3072;
/** Bytes of an output line besides the vector: ids, status, usage, request id. @unit bytes */
const OUTPUT_LINE_OVERHEAD = 400;

/**
 * Estimated bytes of one output line: a base64 float32 vector takes dims × 4 × 4/3 bytes,
 * plus the line around it.
 */
export function outputBytesPerInput(params: Pick<BatchParams, 'model' | 'dimensions' | 'encoding_format'>): number {
  const dims = params.dimensions ?? MODEL_DIMENSIONS[params.model] ?? UNKNOWN_MODEL_DIMENSIONS;
  // A float JSON number takes up to about 20 characters against base64's 5.33 per value.
  const perValue = params.encoding_format === 'float' ? 20 : (4 * 4) / 3;
  return Math.ceil(dims * perValue) + OUTPUT_LINE_OVERHEAD;
}

/** The `custom_id` of input `index` in `shard` of job `jobId`: the same on every rerun. */
export function customId(jobId: string, shard: number, index: number): string {
  return `${jobId}-${shard}-${index}`;
}

/** Input index named by a `custom_id` of job `jobId`, or undefined when it is not one of the job's. */
export function indexOfCustomId(jobId: string, id: string): number | undefined {
  if (!id.startsWith(`${jobId}-`)) return undefined;
  const match = /^(\d+)-(\d+)$/.exec(id.slice(jobId.length + 1));
  if (match === null) return undefined;
  const index = Number(match[2]);
  return Number.isSafeInteger(index) ? index : undefined;
}

/** The request line of one input, as the Batch API reads it. */
export function requestLine(id: string, params: BatchParams, text: string): string {
  const body: Record<string, unknown> = { model: params.model, input: text };
  if (params.dimensions !== undefined) body.dimensions = params.dimensions;
  if (params.user !== undefined) body.user = params.user;
  // Base64 is a quarter of float JSON's size; decoded like create()'s answers.
  body.encoding_format = params.encoding_format ?? 'base64';
  return `${JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/embeddings', body })}\n`;
}

/**
 * Reads and checks every input, then cuts them into shards. Every input is read before the
 * first shard is returned, so a bad input anywhere fails the job before anything is uploaded.
 */
export async function planShards(
  input: unknown,
  jobId: string,
  params: BatchParams,
  rules: TextRules,
  limits: ShardLimits,
  spoolDir?: string,
): Promise<Plan> {
  if (spoolDir !== undefined) await mkdir(spoolDir, { recursive: true });
  const perShard = Math.max(
    1,
    Math.min(limits.maxInputsPerBatch, Math.floor(limits.maxOutputBytes / limits.outputBytesPerInput)),
  );
  const shards: PlannedShard[] = [];
  let lines: string[] = [];
  let bytes = 0;
  let firstIndex = 0;
  let ids: (string | undefined)[] | undefined;
  // With a spool directory each shard's file is written as soon as it is planned, and only its
  // path kept: a million inputs' request lines never sit in memory together.
  const close = async () => {
    const data = Buffer.from(lines.join(''), 'utf8');
    const sha256 = createHash('sha256').update(data).digest('hex');
    let body: PlannedShard['body'] = data;
    if (spoolDir !== undefined) {
      body = { path: join(spoolDir, `s${shards.length}.jsonl`) };
      await writeAtomically(body.path, data);
    }
    shards.push({ shard: shards.length, firstIndex, count: lines.length, body, sha256 });
    firstIndex += lines.length;
    lines = [];
    bytes = 0;
  };

  let index = 0;
  for await (const item of inputsOf(input)) {
    const { id, text, field } = readItem(item, index);
    const prepared = prepareText(text, field, rules);
    if (id !== undefined) (ids ??= [])[index] = id;
    const line = requestLine(customId(jobId, shards.length, index), params, prepared.text);
    let size = Buffer.byteLength(line, 'utf8');
    if (lines.length > 0 && bytes + size > limits.maxBatchBytes) {
      await close();
      // The shard number is part of the id: the line moves to the next shard, so it is rebuilt.
      const moved = requestLine(customId(jobId, shards.length, index), params, prepared.text);
      lines.push(moved);
      size = Buffer.byteLength(moved, 'utf8');
    } else {
      lines.push(line);
    }
    if (size > limits.maxBatchBytes) {
      throw new InvalidArgumentError(
        `\`${field}\` takes ${size} bytes as a request line, over \`maxBatchBytes\` (${limits.maxBatchBytes})`,
      );
    }
    bytes += size;
    index++;
    if (lines.length >= perShard) await close();
  }
  if (lines.length > 0) await close();
  if (index === 0) throw new InvalidArgumentError('`input` must hold at least one text (got none)');
  if (ids !== undefined) ids.length = index;
  return { shards, totalInputs: index, ids };
}

/**
 * The input file that sends inputs `indices` of `shard` again: their request lines, byte for
 * byte, in the order given (ascending). Line k of a shard is input `firstIndex + k`, so the
 * lines are found by counting line breaks (JSON escapes any in a text), never by parsing; a
 * spooled shard is streamed, and only the lines kept are held.
 */
export async function requestLinesOf(shard: PlannedShard, indices: Iterable<number>): Promise<Buffer> {
  const wanted = indices[Symbol.iterator]();
  let next = wanted.next();
  const kept: Buffer[] = [];
  let line = 0;
  const chunks: AsyncIterable<Buffer> | Buffer[] = Buffer.isBuffer(shard.body)
    ? [shard.body]
    : createReadStream(shard.body.path);
  for await (const chunk of chunks) {
    let start = 0;
    while (!next.done && start < chunk.length) {
      const end = chunk.indexOf(0x0a, start);
      const keep = line === next.value - shard.firstIndex;
      // A copy: a line kept must not hold on to the whole chunk it was read in.
      if (keep) kept.push(Buffer.from(chunk.subarray(start, end === -1 ? chunk.length : end + 1)));
      if (end === -1) break;
      if (keep) next = wanted.next();
      line++;
      start = end + 1;
    }
    if (next.done) break;
  }
  if (!next.done) {
    const last = shard.firstIndex + shard.count - 1;
    throw new InvalidArgumentError(
      `Cannot send input ${next.value} again from shard ${shard.shard}: it holds inputs ${shard.firstIndex} to ${last}, sent again in ascending order`,
    );
  }
  return Buffer.concat(kept);
}

/** The inputs of `input` one by one: a string, an array, an iterable or an async iterable. */
async function* inputsOf(input: unknown): AsyncGenerator<unknown> {
  if (typeof input === 'string') {
    yield input;
    return;
  }
  if (Array.isArray(input)) {
    // A plain loop, not for...of over entries: a sparse array's holes must be read (and refused).
    for (let i = 0; i < input.length; i++) yield input[i] as StreamInput;
    return;
  }
  if (typeof input === 'object' && input !== null) {
    if (typeof (input as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
      yield* input as AsyncIterable<unknown>;
      return;
    }
    if (typeof (input as Iterable<unknown>)[Symbol.iterator] === 'function') {
      yield* input as Iterable<unknown>;
      return;
    }
  }
  throw new InvalidArgumentError(
    `\`input\` must be a string, an array, an iterable or an async iterable of texts (got ${preview(input)})`,
  );
}
