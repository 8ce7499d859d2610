/**
 * createMany(): every input is checked before anything is sent, identical texts are
 * merged, requests are packed by count and token budget, and a sliding window (p-limit)
 * keeps `maxConcurrency` of them in flight until every input has a vector or a failure.
 */
import type { EmbeddingsClient } from '../client.js';
import { InvalidArgumentError } from '../errors.js';
import type { VectorType } from '../options.js';
import { preview } from '../schemas.js';
import { resolveBatchConfig } from './config.js';
import { BatchEmbeddingError } from './errors.js';
import { Job } from './job.js';
import { Deduper, packBatches, prepareText, type Unit } from './planner.js';
import { RequestWindow } from './window.js';
import type { Embedding } from '../types.js';
import type { BatchFailure, CreateManyOptions, CreateManyParams, CreateManyResponse } from './types.js';

const METHOD = 'createMany';

export async function createMany(
  client: EmbeddingsClient<VectorType>,
  params: CreateManyParams,
  options?: CreateManyOptions,
): Promise<CreateManyResponse<number[] | Float32Array>> {
  const config = resolveBatchConfig(client, params, options);
  const texts = readInput(params.input);

  // Every input is checked first, so a bad one at the end fails the call before any request.
  const rules = { tokenizer: config.tokenizer, maxTokensPerInput: config.maxTokensPerInput, truncate: config.truncate };
  const deduper = new Deduper(config.dedupe);
  const units: Unit[] = [];
  // A plain loop, not forEach: forEach skips the holes of a sparse array, which would lose them.
  for (let index = 0; index < texts.length; index++) {
    const unit = deduper.add(index, undefined, prepareText(texts[index], `input[${index}]`, rules));
    if (unit) units.push(unit);
  }

  const vectors: (number[] | Float32Array | undefined)[] = new Array<number[] | Float32Array | undefined>(texts.length);
  const failures: BatchFailure[] = [];
  const job = new Job(
    client,
    config,
    {
      embedding: (index, _id, vector) => {
        vectors[index] = vector;
      },
      failure: (index, _id, error) => {
        failures.push({ index, error });
      },
    },
    texts.length,
  );

  try {
    const misses = await job.lookup(units);
    const batches = packBatches(misses, config, config.tokenizer);
    const requests = new RequestWindow(job, config.maxConcurrency);
    // Queued requests are dropped at once after an abort, and failed unsent after a fatal error (send() checks first).
    await Promise.all(batches.map((batch) => requests.run(() => job.send(batch))));
  } finally {
    job.dispose();
  }

  // An abort that came after the last input settled took nothing away: the result stands.
  job.throwIfCut(METHOD, job.progress.settledInputs >= texts.length);

  const data: Embedding<number[] | Float32Array>[] = [];
  vectors.forEach((embedding, index) => {
    if (embedding !== undefined) data.push({ object: 'embedding', index, embedding });
  });
  failures.sort((a, b) => a.index - b.index);
  if (failures.length > 0 && config.onFailure === 'throw') {
    throw new BatchEmbeddingError(METHOD, data, failures, texts.length);
  }
  return {
    object: 'list',
    data,
    model: job.model ?? config.params.model,
    usage: job.usage,
    failures,
  };
}

function readInput(input: unknown): readonly unknown[] {
  if (typeof input === 'string') return [input];
  if (!Array.isArray(input)) {
    throw new InvalidArgumentError(`\`input\` must be a string or an array of strings (got ${preview(input)})`);
  }
  if (input.length === 0) throw new InvalidArgumentError('`input` must hold at least one text (got [])');
  return input;
}
