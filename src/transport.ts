import { Agent, request, type Dispatcher } from 'undici';
import { APIConnectionError, APITimeoutError, EmbeddingsError, apiErrorFor } from './errors.js';
import type { HeadersInput } from './options.js';
import { abortError } from './retry.js';
import { VERSION } from './version.js';

export interface TransportInit {
  baseURL: string;
  apiKey: string | undefined;
  organization: string | undefined;
  project: string | undefined;
  defaultHeaders: HeadersInput;
  dispatcher: Dispatcher | undefined;
}

export interface AttemptOptions {
  timeout: number;
  signal: AbortSignal | undefined;
  headers: HeadersInput;
}

/** A 2xx answer: status, lower-cased headers and the body as text. */
export interface TransportResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
}

/** Error bodies are kept for diagnosis, but an HTML error page need not be kept whole. */
const MAX_ERROR_BODY_CHARS = 2048;

/**
 * One HTTP attempt on undici. Knows URLs, headers, timeouts and statuses; nothing about
 * embeddings. The API key lives in a private field, so it never shows in inspect or JSON.
 */
export class Transport {
  readonly baseURL: string;
  readonly #headers: Record<string, string>;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;

  constructor(init: TransportInit) {
    this.baseURL = init.baseURL;
    this.#dispatcher = init.dispatcher ?? new Agent({ keepAliveTimeout: 30_000 });
    this.#ownsDispatcher = init.dispatcher === undefined;
    this.#headers = mergeHeaders(
      {
        accept: 'application/json',
        'content-type': 'application/json',
        'user-agent': `embedrail/${VERSION} node/${process.version}`,
        authorization: init.apiKey ? `Bearer ${init.apiKey}` : undefined,
        'openai-organization': init.organization,
        'openai-project': init.project,
      },
      init.defaultHeaders,
    );
  }

  /** POSTs `body` as JSON to `${baseURL}${path}`; throws typed errors for anything but 2xx. */
  async post(path: string, body: unknown, options: AttemptOptions): Promise<TransportResponse> {
    const { signal } = options;
    if (signal?.aborted) throw abortError(signal);
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), options.timeout);
    const combined = signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal;
    try {
      const response = await request(`${this.baseURL}${path}`, {
        method: 'POST',
        dispatcher: this.#dispatcher,
        headers: mergeHeaders(this.#headers, options.headers),
        body: JSON.stringify(body),
        signal: combined,
      });
      // Reading the body stays inside the timer: a server that stalls mid-body times out too.
      const text = await response.body.text();
      const headers = flattenHeaders(response.headers);
      if (response.statusCode >= 200 && response.statusCode < 300) {
        return { status: response.statusCode, headers, text };
      }
      throw apiErrorFor({
        method: 'POST',
        path,
        status: response.statusCode,
        headers,
        body: parseErrorBody(text),
      });
    } catch (error) {
      if (error instanceof EmbeddingsError) throw error;
      if (signal?.aborted) throw abortError(signal);
      if (timeout.signal.aborted) throw new APITimeoutError('POST', path, options.timeout, { cause: error });
      if (error instanceof Error && isTransportFailure(error)) {
        throw new APIConnectionError('POST', path, { cause: error });
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the keep-alive pool if the client created it; a user's dispatcher is left alone. */
  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }
}

/** Lower-cases names; later layers win; `null`/`undefined` removes. */
export function mergeHeaders(...layers: HeadersInput[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const layer of layers) {
    for (const [name, value] of Object.entries(layer)) {
      const key = name.toLowerCase();
      if (value === null || value === undefined) delete out[key];
      else out[key] = value;
    }
  }
  return out;
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function parseErrorBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text.length > MAX_ERROR_BODY_CHARS ? `${text.slice(0, MAX_ERROR_BODY_CHARS)}...` : text;
  }
}

/** undici's socket errors and Node's system errors: the request never got a full answer. */
function isTransportFailure(error: Error): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('UND_ERR') || code.startsWith('E'));
}
