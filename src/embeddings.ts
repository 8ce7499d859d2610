import { createMany } from './batch/create-many.js';
import { stream } from './batch/stream.js';
import type {
  CreateManyOptions,
  CreateManyParams,
  CreateManyResponse,
  StreamItem,
  StreamOptions,
  StreamParams,
} from './batch/types.js';
import { postWithRetries, resolveCallOptions, type EmbeddingsClient } from './client.js';
import {
  base64ByteLength,
  decodeBase64Float32,
  encodeFloat32Base64,
  firstNonFinite,
  normalizeInPlace,
  toNumberArray,
} from './decode.js';
import { ResponseValidationError, type EmbeddingsError } from './errors.js';
import type { RequestOptions, ResolvedRequestOptions, VectorType } from './options.js';
import {
  EmbeddingResponseEnvelope,
  parseCreateParams,
  preview,
  type EmbeddingCreateParams,
  type EncodingFormat,
} from './schemas.js';
import type { TransportResponse } from './transport.js';

/** `number[]` for `vectorType: 'array'`, `Float32Array` for `'float32'`. */
export type VectorFor<T extends VectorType> = T extends 'float32' ? Float32Array : number[];

/** What `create()` returns per vector: base64 strings when asked for explicitly, else vectors. */
export type ResultVector<F, T extends VectorType> = F extends 'base64' ? string : VectorFor<T>;

/** One embedding, at the position of its input. */
export interface Embedding<E = number[]> {
  object: 'embedding';
  /** Position of the input this vector belongs to. */
  index: number;
  embedding: E;
}

/** Token counts the server reported (zeros when a compatible server sends none). */
export interface EmbeddingUsage {
  prompt_tokens: number;
  total_tokens: number;
}

/** The answer of `create()`: OpenAI's shape, `data` sorted by index with one item per input. */
export interface CreateEmbeddingResponse<E = number[]> {
  object: 'list';
  data: Embedding<E>[];
  model: string;
  usage: EmbeddingUsage;
}

/** Points where the batch engine hooks into each HTTP attempt of one request. */
export interface AttemptHooks {
  /** Awaited before every HTTP attempt, the first and each retry: the pacer waits here. */
  beforeAttempt?: (signal: AbortSignal | undefined) => Promise<void>;
  /** Every HTTP response's status and lower-cased headers, success or error (for x-ratelimit-*). */
  onResponse?: (status: number, headers: Record<string, string>) => void;
  /** Before each retry sleep: the error that caused it and the delay chosen. */
  onRetry?: (info: { attempt: number; error: EmbeddingsError; delayMs: number }) => void;
}

const PATH = '/embeddings';

/** The embeddings resource: `client.embeddings`. */
export class Embeddings<V extends VectorType = 'array'> {
  readonly #client: EmbeddingsClient<V>;

  constructor(client: EmbeddingsClient<V>) {
    this.#client = client;
  }

  /**
   * Embeds `params.input` in one request. Asks for base64 unless you set `encoding_format`,
   * decodes it to float32, checks one vector per input, and normalises unless told not to.
   * @example
   * const res = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'] });
   * res.data[1].embedding; // number[] for 'b'
   */
  async create<F extends EncodingFormat | undefined = undefined, T extends VectorType = V>(
    params: EmbeddingCreateParams & { encoding_format?: F },
    options?: RequestOptions<T>,
  ): Promise<CreateEmbeddingResponse<ResultVector<F, T>>> {
    const response = await createEmbeddings(this.#client, params, options);
    return response as CreateEmbeddingResponse<ResultVector<F, T>>;
  }

  /**
   * Embeds any number of texts: requests packed by count and token budget, sent through a
   * sliding window, paced to the rate limits, identical texts sent once. Resolves in
   * `create()`'s shape, `data[i].index === i`; with failures it rejects with
   * `BatchEmbeddingError` (or, under `onFailure: 'collect'`, lists them in `failures`).
   * @example
   * const res = await client.embeddings.createMany({ model: 'text-embedding-3-small', input: texts });
   */
  createMany<T extends VectorType = V>(
    params: CreateManyParams,
    options?: CreateManyOptions<T>,
  ): Promise<CreateManyResponse<VectorFor<T>>> {
    return createMany(this.#client, params, options) as Promise<CreateManyResponse<VectorFor<T>>>;
  }

  /**
   * Embeds an iterable or async iterable of texts (or `{ id, text }`), read lazily, and
   * yields `{ index, id?, embedding }` as requests complete (input order with `ordered`).
   * @example
   * for await (const item of client.embeddings.stream({ model, input: lines })) save(item);
   */
  stream<T extends VectorType = V>(
    params: StreamParams,
    options?: StreamOptions<T>,
  ): AsyncGenerator<StreamItem<VectorFor<T>>, void, undefined> {
    return stream(this.#client, params, options) as AsyncGenerator<StreamItem<VectorFor<T>>, void, undefined>;
  }
}

/** One validated, retried, decoded request. The resource and the batch engine both call it. */
export async function createEmbeddings(
  client: EmbeddingsClient<VectorType>,
  params: EmbeddingCreateParams,
  options: RequestOptions | undefined,
  hooks: AttemptHooks = {},
): Promise<CreateEmbeddingResponse<number[] | Float32Array | string>> {
  const checked = parseCreateParams(params);
  const resolved = resolveCallOptions(client, options);
  // No format from the caller: base64 is a quarter of float JSON's size and decodes far faster.
  const body = { ...checked, encoding_format: checked.encoding_format ?? 'base64' };
  const response = await postWithRetries(client, PATH, body, resolved, hooks);
  return readResponse(response, checked, resolved);
}

/** Number of vectors a request must get back. */
export function countInputs(input: EmbeddingCreateParams['input']): number {
  if (typeof input === 'string') return 1;
  return typeof input[0] === 'number' ? 1 : input.length;
}

function readResponse(
  response: TransportResponse,
  params: EmbeddingCreateParams,
  options: ResolvedRequestOptions,
): CreateEmbeddingResponse<number[] | Float32Array | string> {
  const fail = (reason: string, cause?: unknown) =>
    new ResponseValidationError('POST', PATH, response.status, reason, {
      cause,
      requestId: response.headers['x-request-id'],
    });

  let json: unknown;
  try {
    json = JSON.parse(response.text);
  } catch (error) {
    throw fail(`body is not JSON (${JSON.stringify(response.redact(response.text.slice(0, 1024)).slice(0, 80))})`, error);
  }
  const envelope = EmbeddingResponseEnvelope.safeParse(json);
  if (!envelope.success) {
    const issue = envelope.error.issues[0]!;
    throw fail(`\`${issue.path.join('.') || 'body'}\`: ${issue.message}`, envelope.error);
  }
  const { data, model, usage } = envelope.data;

  const expected = countInputs(params.input);
  if (data.length !== expected) throw fail(`expected ${expected} embeddings, got ${data.length}`);
  const sorted = data.slice().sort((a, b) => a.index - b.index);
  sorted.forEach((item, position) => {
    if (item.index !== position) {
      const got = data.map((d) => d.index).join(',');
      throw fail(`expected indexes 0..${expected - 1}, got ${got.length > 80 ? `${got.slice(0, 77)}...` : got}`);
    }
  });

  const wantBase64 = params.encoding_format === 'base64';
  const wantFloat32 = options.vectorType === 'float32';
  let dimensions = params.dimensions;
  const out = sorted.map((item) => {
    const at = `data[${item.index}].embedding`;
    const checkLength = (length: number) => {
      if (length === 0) throw fail(`${at} is empty`);
      dimensions ??= length;
      if (length !== dimensions) throw fail(`${at} has ${length} dimensions, expected ${dimensions}`);
    };
    // The caller asked for base64 and got it: hand the server's string back untouched, after
    // the checks its length allows without decoding.
    if (wantBase64 && typeof item.embedding === 'string') {
      const bytes = base64ByteLength(item.embedding);
      if (bytes % 4 !== 0) throw fail(`${at}: base64 vector has ${bytes} bytes, not a multiple of 4`);
      checkLength(bytes / 4);
      return { object: 'embedding' as const, index: item.index, embedding: item.embedding };
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
    checkLength(vector.length);
    if (wantBase64) return { object: 'embedding' as const, index: item.index, embedding: encodeFloat32Base64(vector) };
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
    return { object: 'embedding' as const, index: item.index, embedding: vector };
  });

  return {
    object: 'list',
    data: out,
    model,
    usage: usage ?? { prompt_tokens: 0, total_tokens: 0 },
  };
}
