import {
  base64ByteLength,
  decodeBase64Float32,
  encodeFloat32Base64,
  firstNonFinite,
  normalizeInPlace,
  toNumberArray,
} from './decode.js';
import { ResponseValidationError } from './errors.js';
import type { ResolvedRequestOptions } from './options.js';
import { EmbeddingResponseEnvelope, preview, type EmbeddingCreateParams } from './schemas.js';
import { readAnswerFast } from './receive/answer.js';
import type { TransportResponse } from './transport.js';
import type { CreateEmbeddingResponse, Embedding } from './types.js';

/** Any vector `create()` may hand back, before the resource narrows it by its generics. */
export type AnyVector = number[] | Float32Array | string;

type Item = EmbeddingResponseEnvelope['data'][number];
/** Builds the error for a bad answer; the reason names the field and what was wrong. */
export type Fail = (reason: string, cause?: unknown) => Error;

/** What decoding reads of a call's options: whether to normalise, and the vectors' layout. */
export type DecodeOptions = Pick<ResolvedRequestOptions, 'normalize' | 'vectorType'>;

/** Number of vectors a request must get back. */
export function countInputs(input: EmbeddingCreateParams['input']): number {
  if (typeof input === 'string') return 1;
  return typeof input[0] === 'number' ? 1 : input.length;
}

/**
 * Checks a 2xx answer to `POST path` and turns it into `create()`'s shape: a well-formed
 * envelope, one item per input at indexes 0..n−1, and vectors that decode, are finite and
 * share one length. Every failure is a `ResponseValidationError` naming the field.
 */
export function readResponse(
  path: string,
  response: TransportResponse,
  params: EmbeddingCreateParams,
  options: ResolvedRequestOptions,
): CreateEmbeddingResponse<AnyVector> {
  return readAnswerFast(response, options) ?? parseResponse(path, response, params, options);
}

/**
 * {@link readResponse} the full way: the body as one string through `JSON.parse`, then every
 * check. Every answer the fast reader does not take comes here, and tests hold it to this.
 */
export function parseResponse(
  path: string,
  response: TransportResponse,
  params: EmbeddingCreateParams,
  options: ResolvedRequestOptions,
): CreateEmbeddingResponse<AnyVector> {
  const fail: Fail = (reason, cause) =>
    new ResponseValidationError('POST', path, response.status, reason, {
      cause,
      requestId: response.headers['x-request-id'],
    });
  let json: unknown;
  try {
    json = JSON.parse(response.text);
  } catch (error) {
    throw fail(
      `body is not JSON (${JSON.stringify(response.redact(response.text.slice(0, 1024)).slice(0, 80))})`,
      error,
    );
  }
  return decodeEmbeddingsBody(json, params, options, fail);
}

/**
 * An embeddings answer already parsed from JSON (a batch output line's `body`), checked and
 * decoded as `create()` checks and decodes one: the envelope, one item per input at indexes
 * 0..n−1, vectors that decode, are finite and share one length, then normalised and laid out
 * as `options` ask. Every failure is the error `fail` builds, its reason naming the field.
 */
export function decodeEmbeddingsBody(
  json: unknown,
  params: EmbeddingCreateParams,
  options: DecodeOptions,
  fail: Fail,
): CreateEmbeddingResponse<AnyVector> {
  const { data, model, usage } = readEnvelope(json, fail);
  const sorted = sortByIndex(data, countInputs(params.input), fail);
  const decode = itemDecoder(params, options, fail);
  return {
    object: 'list',
    data: sorted.map(decode),
    model,
    usage,
  };
}

/** The parsed body in the envelope's shape; vectors are left to `itemDecoder`. */
function readEnvelope(json: unknown, fail: Fail): EmbeddingResponseEnvelope {
  const envelope = EmbeddingResponseEnvelope.safeParse(json);
  if (!envelope.success) {
    const issue = envelope.error.issues[0]!;
    throw fail(`\`${issue.path.join('.') || 'body'}\`: ${issue.message}`, envelope.error);
  }
  return envelope.data;
}

/** `data` sorted by index, after checking it holds exactly indexes 0..expected−1. */
function sortByIndex(data: Item[], expected: number, fail: Fail): Item[] {
  if (data.length !== expected) throw fail(`expected ${expected} embeddings, got ${data.length}`);
  const sorted = data.slice().sort((a, b) => a.index - b.index);
  sorted.forEach((item, position) => {
    if (item.index !== position) {
      const got = data.map((d) => d.index).join(',');
      throw fail(`expected indexes 0..${expected - 1}, got ${got.length > 80 ? `${got.slice(0, 77)}...` : got}`);
    }
  });
  return sorted;
}

/**
 * Decodes one item at a time into the vector the caller asked for. Every vector must have
 * the requested `dimensions`, or else the length of the first one.
 */
function itemDecoder(
  params: EmbeddingCreateParams,
  options: DecodeOptions,
  fail: Fail,
): (item: Item) => Embedding<AnyVector> {
  const wantBase64 = params.encoding_format === 'base64';
  // Both float32 layouts: a vector read the full way owns its memory, which a view may too.
  const wantFloat32 = options.vectorType !== 'array';
  let dimensions = params.dimensions;
  const checkLength = (at: string, length: number) => {
    if (length === 0) throw fail(`${at} is empty`);
    dimensions ??= length;
    if (length !== dimensions) throw fail(`${at} has ${length} dimensions, expected ${dimensions}`);
  };
  const embedding = (item: Item, vector: AnyVector): Embedding<AnyVector> => ({
    object: 'embedding',
    index: item.index,
    embedding: vector,
  });

  return (item) => {
    const at = `data[${item.index}].embedding`;
    // The caller asked for base64 and got it: hand the server's string back untouched, after
    // the checks its length allows without decoding.
    if (wantBase64 && typeof item.embedding === 'string') {
      const bytes = base64ByteLength(item.embedding);
      if (bytes % 4 !== 0) throw fail(`${at}: base64 vector has ${bytes} bytes, not a multiple of 4`);
      checkLength(at, bytes / 4);
      return embedding(item, item.embedding);
    }
    let vector: number[] | Float32Array;
    if (typeof item.embedding === 'string') {
      try {
        vector = decodeBase64Float32(item.embedding);
      } catch (error) {
        throw fail(`${at}: ${(error as Error).message}`, error);
      }
    } else {
      // Servers that ignore encoding_format answer with floats; take them as they are.
      vector = item.embedding as number[];
    }
    // Decoded bytes can spell NaN or Infinity just as JSON can hold a string: check both.
    const bad = firstNonFinite(vector);
    if (bad !== -1) throw fail(`${at}[${bad}] is not a finite number (${preview(vector[bad])})`);
    checkLength(at, vector.length);
    if (wantBase64) return embedding(item, encodeFloat32Base64(vector));
    if (!wantFloat32 && vector instanceof Float32Array) vector = toNumberArray(vector);
    // Normalise before any conversion to float32: a unit vector always fits, a raw double may not.
    if (options.normalize) normalizeInPlace(vector);
    if (wantFloat32 && !(vector instanceof Float32Array)) {
      vector = Float32Array.from(vector);
      const overflow = firstNonFinite(vector);
      if (overflow !== -1) {
        throw fail(`${at}[${overflow}] is outside the float32 range (${(item.embedding as number[])[overflow]})`);
      }
    }
    return embedding(item, vector);
  };
}
