import { pipeline as pipelineCallback, Readable, Transform } from 'node:stream';
import type { Dispatcher } from 'undici';
import { ApiKeySource, type ApiKeyFunction, type AttemptKey } from './api-key.js';
import {
  APIConnectionError,
  APITimeoutError,
  EmbeddingsError,
  InvalidArgumentError,
  ResponseTooLargeError,
  ResponseValidationError,
  apiErrorFor,
} from './errors.js';
import { checkHeaderValue, checkHeaders, mergeHeaders, type HeadersInput } from './headers.js';
import { bodyText, contentEncodings, decodedStream, readBody } from './response-body.js';
import { abortError, rejectOnAbort } from './retry.js';
import { Agent, request } from './undici.js';
import { VERSION } from './version.js';

export interface TransportInit {
  baseURL: string;
  apiKey: string | ApiKeyFunction | undefined;
  /** `authorization` sends `Authorization: Bearer <key>`; `api-key` sends `api-key: <key>` (Azure's keys). */
  apiKeyHeader: 'authorization' | 'api-key';
  organization: string | undefined;
  project: string | undefined;
  defaultHeaders: HeadersInput;
  /** Query parameters of every request (Azure's `api-version`). */
  defaultQuery: Record<string, string>;
  dispatcher: Dispatcher | undefined;
}

export interface AttemptOptions {
  timeout: number;
  maxResponseBytes: number;
  signal: AbortSignal | undefined;
  headers: HeadersInput;
  /** This call's query parameters; `null` removes a default one. */
  query: QueryInput;
  /** Makes, for each attempt, what reads a 2xx body's chunks as they arrive (the answer's reader). */
  receive?: (() => BodySink) | undefined;
}

/** Reads a body chunk by chunk, as it arrives. */
export interface BodySink {
  write(chunk: Buffer): void;
}

/** The HTTP methods the resources use. */
export type HttpMethod = 'GET' | 'POST' | 'DELETE';

/**
 * What a request sends: JSON, nothing, or a byte stream of a given type (a multipart upload),
 * opened afresh for each attempt.
 */
export type Payload =
  | { kind: 'json'; value: unknown }
  | { kind: 'none' }
  | {
      kind: 'stream';
      contentType: string;
      /** Bytes in all, when known: sent as `content-length`, else the body goes chunked. */
      length: number | undefined;
      open: () => AsyncIterable<Uint8Array>;
    };

/** A 2xx answer whose body is left for the caller to read as it arrives. */
export interface StreamingResponse {
  status: number;
  headers: Record<string, string>;
  /** The body, decoded from its content-encoding. */
  body: Readable;
  redact: (text: string) => string;
  /** Whether the body was ended because it stayed silent longer than `timeout`. */
  timedOut: () => boolean;
}

/** Query parameter values; `null` removes one set at a lower level (the client's `defaultQuery`). */
export type QueryInput = Record<string, string | null | undefined>;

/** A 2xx answer: status, lower-cased headers and the body, as the chunks it came in and as text. */
export interface TransportResponse {
  status: number;
  headers: Record<string, string>;
  /** The decoded body's chunks, split wherever the network split them. */
  body: readonly Buffer[];
  /** The body as one string, made on first read: the fast reader of an answer never asks for it. */
  readonly text: string;
  /** Masks the credentials this request carried in `text` taken from the body, for messages. */
  redact: (text: string) => string;
  /** What `receive` made for this attempt, fed every chunk of the body. */
  sink?: BodySink | undefined;
}

/** Error bodies are kept for diagnosis, but an HTML error page need not be kept whole. */
const MAX_ERROR_BODY_CHARS = 2048;
/** Of an error body, only this much is read: enough for any JSON error, bounded for any page. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/**
 * One HTTP attempt on undici. Knows URLs, headers, timeouts and statuses; nothing about
 * embeddings. The API key lives in a private field, so it never shows in inspect or JSON; a key
 * function's keys live only in the attempt that asked for them.
 */
export class Transport {
  readonly baseURL: string;
  readonly #headers: Record<string, string>;
  readonly #defaultHeaders: HeadersInput;
  readonly #defaultQuery: Record<string, string>;
  readonly #key: ApiKeySource;
  readonly #keyHeader: 'authorization' | 'api-key';
  /** Every attempt's headers but the call's, built once when the key is a string (or none). */
  readonly #clientHeaders: Record<string, string> | undefined;
  /** The key generation each 401 was answered to, for `refreshKeyAfter`. */
  readonly #refused = new WeakMap<object, number>();
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;

  constructor(init: TransportInit) {
    this.baseURL = init.baseURL;
    // undici's own 300 s header and body timeouts would cut a longer `timeout` short.
    this.#dispatcher = init.dispatcher ?? new Agent({ keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0 });
    this.#ownsDispatcher = init.dispatcher === undefined;
    if (typeof init.apiKey === 'string') checkHeaderValue(init.apiKey, '`apiKey`');
    checkHeaderValue(init.organization, '`organization`');
    checkHeaderValue(init.project, '`project`');
    checkHeaders(init.defaultHeaders, 'defaultHeaders');
    this.#headers = mergeHeaders({
      accept: 'application/json',
      'content-type': 'application/json',
      'user-agent': `embedrail/${VERSION} node/${process.version}`,
      'openai-organization': init.organization,
      'openai-project': init.project,
    });
    this.#defaultHeaders = init.defaultHeaders;
    this.#defaultQuery = init.defaultQuery;
    this.#key = new ApiKeySource(init.apiKey || undefined);
    this.#keyHeader = init.apiKeyHeader;
    if (typeof init.apiKey !== 'function') this.#clientHeaders = this.#withKey(init.apiKey || undefined);
  }

  /** The client's header layers around `key`: fixed headers, the key, `defaultHeaders` (later ones win). */
  #withKey(key: string | undefined): Record<string, string> {
    const auth = key === undefined ? undefined : this.#keyHeader === 'api-key' ? key : `Bearer ${key}`;
    return mergeHeaders(this.#headers, { [this.#keyHeader]: auth }, this.#defaultHeaders);
  }

  /**
   * After `error`, a 401 to a key from the `apiKey` function: asks the function for a fresh key
   * (once for every request refused with the same one). `true` when another attempt may succeed.
   */
  refreshKeyAfter(error: unknown): Promise<boolean> {
    const generation = typeof error === 'object' && error !== null ? this.#refused.get(error) : undefined;
    return generation === undefined ? Promise.resolve(false) : this.#key.refreshAfter(generation);
  }

  /** POSTs `body` as JSON to `${baseURL}${path}`; throws typed errors for anything but 2xx. */
  async post(path: string, body: unknown, options: AttemptOptions): Promise<TransportResponse> {
    const response = await this.send('POST', path, { kind: 'json', value: body }, options, false);
    return response;
  }

  /**
   * One attempt of `method` on `${baseURL}${path}` with `payload`. A 2xx body is read whole
   * (bounded by `maxResponseBytes`) unless `stream` is set: then it is handed back unread, as
   * a Node stream decoded from any content-encoding, and `timeout` bounds the wait for the
   * headers and then each silence of the body, not the whole download. Anything but 2xx
   * throws the typed error, as `post()` does.
   */
  send(
    method: HttpMethod,
    path: string,
    payload: Payload,
    options: AttemptOptions,
    stream: true,
  ): Promise<StreamingResponse>;
  send(
    method: HttpMethod,
    path: string,
    payload: Payload,
    options: AttemptOptions,
    stream: false,
  ): Promise<TransportResponse>;
  send(
    method: HttpMethod,
    path: string,
    payload: Payload,
    options: AttemptOptions,
    stream: boolean,
  ): Promise<TransportResponse | StreamingResponse>;
  async send(
    method: HttpMethod,
    path: string,
    payload: Payload,
    options: AttemptOptions,
    stream: boolean,
  ): Promise<TransportResponse | StreamingResponse> {
    const { signal } = options;
    if (signal?.aborted) throw abortError(signal);
    const query = mergeQuery(this.#defaultQuery, options.query);
    const search = new URLSearchParams(query).toString();
    const url = `${this.baseURL}${path}${search ? `?${search}` : ''}`;
    // The attempt's time runs from here: a key function that hangs times out like a server.
    const timeout = new AbortController();
    let timer = setTimeout(() => timeout.abort(), options.timeout);
    const combined = signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal;
    let attemptKey: AttemptKey;
    try {
      // Asked for before each attempt, so a token that expires mid-job is replaced as it runs out.
      attemptKey = await rejectOnAbort(() => this.#key.get(), combined);
    } catch (error) {
      clearTimeout(timer);
      if (signal?.aborted) throw abortError(signal);
      if (timeout.signal.aborted) throw new APITimeoutError(method, displayURL(url), options.timeout, { cause: error });
      throw error;
    }
    const { key, generation } = attemptKey;
    const clientHeaders = this.#clientHeaders ?? this.#withKey(key);
    // A body's own type and length win over `defaultHeaders`: a multipart upload is multipart.
    const bodyHeaders: HeadersInput | undefined =
      payload.kind === 'json'
        ? undefined
        : payload.kind === 'none'
          ? { 'content-type': null }
          : { 'content-type': payload.contentType, 'content-length': payload.length?.toString() };
    const headers =
      bodyHeaders === undefined && Object.keys(options.headers).length === 0
        ? clientHeaders
        : mergeHeaders(clientHeaders, bodyHeaders ?? {}, options.headers);
    const redact = redactor(headers, query);
    let handedOver = false;
    // An upload's time is its silences, not its length: each chunk sent restarts the timer,
    // so a 200 MB file on a slow link is not cut off at `timeout`.
    const restart = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => timeout.abort(), options.timeout);
    };
    try {
      const response = await request(new URL(url), {
        method,
        dispatcher: this.#dispatcher,
        headers,
        body:
          payload.kind === 'json'
            ? JSON.stringify(payload.value)
            : payload.kind === 'none'
              ? undefined
              : Readable.from(ticking(payload.open(), restart), { objectMode: false }),
        signal: combined,
      });
      const status = response.statusCode;
      const responseHeaders = flattenHeaders(response.headers);
      const ok = status >= 200 && status < 300;
      const encodings = contentEncodings(responseHeaders['content-encoding']);
      if (ok && stream) {
        const decoded = decodedStream(response.body, encodings);
        if (decoded === undefined) {
          response.body.on('error', () => {}).destroy();
          throw new ResponseValidationError(method, path, status, unknownEncoding(encodings), {
            requestId: responseHeaders['x-request-id'],
          });
        }
        // From here the caller reads: each silence of the body longer than `timeout` ends it.
        clearTimeout(timer);
        handedOver = true;
        restart();
        // A pass-through that restarts the timer as each chunk goes by, at the reader's pace.
        const body = new Transform({
          transform(chunk: Buffer, _encoding, done) {
            restart();
            done(null, chunk);
          },
        });
        pipelineCallback(decoded, body, () => clearTimeout(timer));
        return { status, headers: responseHeaders, body, redact, timedOut: () => timeout.signal.aborted };
      }
      const sink = ok ? options.receive?.() : undefined;
      // Reading the body stays inside the timer: a server that stalls mid-body times out too.
      const read = await readBody(response.body, encodings, {
        maxBytes: ok ? options.maxResponseBytes : Math.min(options.maxResponseBytes, MAX_ERROR_BODY_BYTES),
        truncate: !ok,
        onChunk: sink && ((chunk) => sink.write(chunk)),
      });
      if (ok) {
        const requestId = responseHeaders['x-request-id'];
        const encoding = encodings.join(', ') || undefined;
        if (read.kind === 'bytes') return answer(status, responseHeaders, read.chunks, redact, sink);
        if (read.kind === 'too-large') {
          const { maxResponseBytes: limit } = options;
          throw new ResponseTooLargeError({
            method,
            url: displayURL(url),
            status,
            limit,
            received: read.received,
            encoding,
            requestId,
          });
        }
        const reason =
          read.kind === 'unknown-encoding'
            ? unknownEncoding(encodings)
            : `body could not be decoded as ${encoding} (${read.error.message})`;
        throw new ResponseValidationError(method, path, status, reason, {
          requestId,
          cause: read.kind === 'undecodable' ? read.error : undefined,
        });
      }
      // An error status is what matters: an error body that cannot be decoded is left out.
      const errorBody = read.kind === 'bytes' ? parseErrorBody(redact(bodyText(read.chunks)), read.truncated) : '';
      const error = apiErrorFor({ method, path, status, headers: responseHeaders, body: errorBody });
      if (status === 401 && this.#key.refreshable) this.#refused.set(error, generation);
      throw error;
    } catch (error) {
      if (error instanceof EmbeddingsError) throw error;
      if (signal?.aborted) throw abortError(signal);
      if (timeout.signal.aborted) throw new APITimeoutError(method, displayURL(url), options.timeout, { cause: error });
      const code = (error as { code?: unknown } | undefined)?.code;
      if (code === 'UND_ERR_INVALID_ARG') {
        throw new InvalidArgumentError(`${method} ${path}: ${(error as Error).message}`, { cause: error });
      }
      // undici's socket errors (UND_ERR_*), Node's system errors (ECONNRESET, ENOTFOUND) and
      // TLS failures (CERT_HAS_EXPIRED, DEPTH_ZERO_SELF_SIGNED_CERT) all carry a code.
      if (error instanceof Error && typeof code === 'string') {
        throw new APIConnectionError(method, displayURL(url), { cause: error });
      }
      throw error;
    } finally {
      if (!handedOver) clearTimeout(timer);
    }
  }

  /** Closes the keep-alive pool if the client created it; a user's dispatcher is left alone. */
  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }
}

/** Headers whose values are credentials: the key as sent, or a gateway's own key. */
const CREDENTIAL_HEADERS = ['authorization', 'proxy-authorization', 'api-key', 'x-api-key'];
/** Shorter values are not masked: they would mask ordinary words, and are no real secret. */
const MIN_SECRET_LENGTH = 8;

/** Query parameters whose values are credentials (`key=`, `sig=`, `access_token=`...). */
const CREDENTIAL_QUERY = /key|token|secret|sig|password|auth|credential/i;

/** Later layers win; `null`/`undefined` removes. */
function mergeQuery(defaults: Record<string, string>, query: QueryInput): Record<string, string> {
  const out = { ...defaults };
  for (const [name, value] of Object.entries(query)) {
    if (value === null || value === undefined) delete out[name];
    else out[name] = value;
  }
  return out;
}

/**
 * Servers echo a rejected key in their error text ("Incorrect API key provided: sk-..."), and
 * that text becomes an error's message, a log line and a CLI failures file: mask every
 * credential the request carried, in its headers or its query, before any of it is kept.
 */
function redactor(headers: Record<string, string>, query: Record<string, string>): (text: string) => string {
  // Built on first use: only an error or a bad answer ever quotes server text.
  let masked: string[] | undefined;
  return (text) => {
    masked ??= credentials(headers, query);
    return masked.reduce((out, secret) => (out.includes(secret) ? out.replaceAll(secret, '[redacted]') : out), text);
  };
}

/** The credential values `headers` and `query` carry, and the tokens inside `Bearer`/`Basic` ones, longest first. */
function credentials(headers: Record<string, string>, query: Record<string, string>): string[] {
  const secrets = new Set<string>();
  for (const [name, value] of Object.entries(query)) {
    if (CREDENTIAL_QUERY.test(name)) secrets.add(value);
  }
  for (const name of CREDENTIAL_HEADERS) {
    const value = headers[name];
    if (value === undefined) continue;
    secrets.add(value);
    const token = /^(?:bearer|basic|token)\s+(.+)$/i.exec(value)?.[1];
    if (token !== undefined) secrets.add(token);
  }
  return [...secrets].filter((s) => s.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
}

function answer(
  status: number,
  headers: Record<string, string>,
  body: Buffer[],
  redact: (text: string) => string,
  sink: BodySink | undefined,
): TransportResponse {
  let text: string | undefined;
  return {
    status,
    headers,
    body,
    sink,
    get text() {
      return (text ??= bodyText(body));
    },
    redact,
  };
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** `chunks`, calling `onChunk` as each one is taken. */
async function* ticking(chunks: AsyncIterable<Uint8Array>, onChunk: () => void): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of chunks) {
      onChunk();
      yield chunk;
    }
  } catch (error) {
    // The caller's source failed (a file gone, a generator that threw): no fault of the
    // connection, and nothing another attempt would mend.
    if (error instanceof EmbeddingsError) throw error;
    throw new InvalidArgumentError(`the content to upload could not be read (${(error as Error).message})`, {
      cause: error,
    });
  }
  onChunk();
}

function unknownEncoding(encodings: string[]): string {
  return `content-encoding ${JSON.stringify(encodings.join(', '))} is not supported (gzip, x-gzip, deflate and br are)`;
}

function parseErrorBody(text: string, truncated: boolean): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text.length > MAX_ERROR_BODY_CHARS || truncated ? `${text.slice(0, MAX_ERROR_BODY_CHARS)}...` : text;
  }
}

/**
 * The URL an error may show: origin and path only. A base URL may carry credentials
 * (`https://user:key@host`) or a key in its query string; neither belongs in a message.
 */
export function displayURL(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return url;
  }
}
