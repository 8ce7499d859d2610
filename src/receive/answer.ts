import { LITTLE_ENDIAN_HOST, normalizeInPlace, toNumberArray } from '../decode.js';
import type { ResolvedRequestOptions } from '../options.js';
import { EmbeddingResponseEnvelope, type EmbeddingCreateParams } from '../schemas.js';
import type { TransportResponse } from '../transport.js';
import type { CreateEmbeddingResponse, Embedding } from '../types.js';
import { EmbeddingsReader } from './reader.js';

/**
 * The reader for an answer to `params`, made afresh for each attempt so it reads the body's
 * chunks as they arrive; `undefined` when the answer is not for it: taken only when the client
 * chose base64 itself (a caller who asked for `encoding_format` gets the server's strings or
 * floats as they are), and on little-endian hosts (a big-endian one would swap every float:
 * the full way does that).
 */
export function answerReader(
  params: EmbeddingCreateParams,
  rows: number,
  options: ResolvedRequestOptions,
): (() => EmbeddingsReader) | undefined {
  if (params.encoding_format !== undefined || !LITTLE_ENDIAN_HOST) return undefined;
  const init = {
    rows,
    dimensions: params.dimensions,
    // Arrays are normalised as doubles, after conversion, as the full way does.
    normalize: options.normalize && options.vectorType !== 'array',
    maxBytes: options.maxResponseBytes,
    ownRows: options.vectorType === 'float32',
  };
  return () => new EmbeddingsReader(init);
}

/**
 * `create()`'s answer as {@link EmbeddingsReader} read it, in the layout asked for, or
 * `undefined` when the body must be read the full way (a float answer, an unusual one, a
 * faulty one: the full way's checks name the fault). A response read without a reader (one
 * the transport was not given) is read from its chunks here.
 */
export function readAnswerFast(
  response: TransportResponse,
  params: EmbeddingCreateParams,
  rows: number,
  options: ResolvedRequestOptions,
): CreateEmbeddingResponse<number[] | Float32Array> | undefined {
  let reader = response.sink instanceof EmbeddingsReader ? response.sink : undefined;
  if (reader === undefined) {
    reader = answerReader(params, rows, options)?.();
    if (reader === undefined) return undefined;
    for (const chunk of response.body) reader.write(chunk);
  }
  const layout = options.vectorType;
  const answer = reader.end();
  if (answer === undefined) return undefined;
  const envelope = EmbeddingResponseEnvelope.safeParse({ ...answer.rest, data: [] });
  if (!envelope.success) return undefined;
  const { vectors } = answer;
  const data = new Array<Embedding<number[] | Float32Array>>(rows);
  for (let index = 0; index < rows; index++) {
    // Float32 rows come from the reader as asked: each its own, or views into one buffer.
    let embedding: number[] | Float32Array = vectors[index]!;
    if (layout === 'array') {
      embedding = toNumberArray(embedding);
      if (options.normalize) normalizeInPlace(embedding);
    }
    data[index] = { object: 'embedding', index, embedding };
  }
  const { model, usage } = envelope.data;
  return { object: 'list', data, model, usage };
}
