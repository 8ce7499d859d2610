import { LITTLE_ENDIAN_HOST, normalizeInPlace, toNumberArray } from '../decode.js';
import type { ResolvedRequestOptions } from '../options.js';
import { EmbeddingResponseEnvelope, type EmbeddingCreateParams } from '../schemas.js';
import type { TransportResponse } from '../transport.js';
import type { CreateEmbeddingResponse, Embedding } from '../types.js';
import { EmbeddingsReader, type RowTarget } from './reader.js';

/**
 * The reader for an answer to `params`, made afresh for each attempt so it reads the body's
 * chunks as they arrive; `undefined` when the answer is not for it: taken only when the client
 * chose base64 itself (a caller who asked for `encoding_format` gets the server's strings or
 * floats as they are), and on little-endian hosts (a big-endian one would swap every float:
 * the full way does that). Given `into`, the rows are decoded into that memory.
 */
export function answerReader(
  params: EmbeddingCreateParams,
  rows: number,
  options: ResolvedRequestOptions,
  into?: RowTarget,
): (() => EmbeddingsReader) | undefined {
  if (params.encoding_format !== undefined || !LITTLE_ENDIAN_HOST) return undefined;
  const init = {
    rows,
    dimensions: params.dimensions,
    // Arrays are normalised as doubles, after conversion, as the full way does.
    normalize: options.normalize && options.vectorType !== 'array',
    maxBytes: options.maxResponseBytes,
    ownRows: options.vectorType === 'float32',
    into,
  };
  return () => new EmbeddingsReader(init);
}

/**
 * `create()`'s answer as the {@link EmbeddingsReader} the transport fed read it, in the layout
 * asked for, or `undefined` when the body must be read the full way (no reader was made for
 * it, or it found a float answer, an unusual one, a faulty one: the full way's checks name
 * the fault).
 */
export function readAnswerFast(
  response: TransportResponse,
  options: ResolvedRequestOptions,
): CreateEmbeddingResponse<number[] | Float32Array> | undefined {
  const reader = response.sink;
  if (!(reader instanceof EmbeddingsReader)) return undefined;
  const layout = options.vectorType;
  const answer = reader.end();
  if (answer === undefined) return undefined;
  const envelope = EmbeddingResponseEnvelope.safeParse({ ...answer.rest, data: [] });
  if (!envelope.success) return undefined;
  const { vectors } = answer;
  const data = new Array<Embedding<number[] | Float32Array>>(vectors.length);
  for (let index = 0; index < vectors.length; index++) {
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
