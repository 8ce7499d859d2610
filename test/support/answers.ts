import { encodeFloat32Base64 } from '../../src/decode.js';
import type { ResolvedRequestOptions, VectorType } from '../../src/options.js';
import { answerReader } from '../../src/receive/answer.js';
import { countInputs } from '../../src/response.js';
import type { EmbeddingCreateParams } from '../../src/schemas.js';
import type { BodySink, TransportResponse } from '../../src/transport.js';

/** A 2xx answer whose body came in `chunks`, read by no reader: what the full way is given. */
export function answerOf(chunks: Buffer[], sink?: BodySink): TransportResponse {
  return {
    status: 200,
    headers: {},
    body: chunks,
    get text() {
      return Buffer.concat(chunks).toString('utf8');
    },
    redact: (text) => text,
    sink,
  };
}

/**
 * The answer to `params` as the transport hands it over: each of `chunks` fed, as it came, to
 * the reader `create()` makes for the request.
 */
export function answerFor(
  chunks: Buffer[],
  params: EmbeddingCreateParams,
  options: ResolvedRequestOptions,
): TransportResponse {
  const sink = answerReader(params, countInputs(params.input), options)?.();
  for (const chunk of chunks) sink?.write(chunk);
  return answerOf(chunks, sink);
}

/** `body` cut at `cuts` (sorted positions). */
export function splitAt(body: Buffer, cuts: readonly number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let from = 0;
  for (const cut of cuts) {
    chunks.push(body.subarray(from, cut));
    from = cut;
  }
  chunks.push(body.subarray(from));
  return chunks;
}

export function requestOptions(vectorType: VectorType, normalize = true): ResolvedRequestOptions {
  return {
    timeout: 60_000,
    maxResponseBytes: 256 * 1024 * 1024,
    maxRetries: 0,
    normalize,
    vectorType,
    signal: undefined,
    headers: {},
    query: {},
    extraBody: {},
  };
}

/** A plain base64 answer of `rows` vectors of `dimensions`, values from `seed`, as OpenAI writes it. */
export function base64Answer(rows: number, dimensions: number, seed = 1): { body: string; vectors: Float32Array[] } {
  const vectors = Array.from({ length: rows }, (_, row) =>
    Float32Array.from({ length: dimensions }, (_, k) => Math.sin(seed * 7.1 + row * 3.3 + k * 0.7)),
  );
  const data = vectors.map((vector, index) => ({ object: 'embedding', index, embedding: encodeFloat32Base64(vector) }));
  const body = JSON.stringify({
    object: 'list',
    data,
    model: 'text-embedding-3-small',
    usage: { prompt_tokens: 5, total_tokens: 5 },
  });
  return { body, vectors };
}
