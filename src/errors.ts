/**
 * Error classes. The status classes, `APIError`, `APIConnectionError` and `APIUserAbortError`
 * have openai-node's names, and `APIError` its fields (see the README for what differs).
 * Every class has a literal `name`, keeps `cause`, and never holds the API key.
 */

/**
 * Marks every error class of this package, under a key shared by every copy of it loaded in one
 * process (the ESM and CommonJS builds, two versions in node_modules): the value is the chain of
 * class names from the error's class up to `EmbeddingsError`.
 */
const BRAND = Symbol.for('embedrail.error');

type Branded = { [BRAND]?: readonly string[] };

/**
 * Gives `Class` a literal name (a minifier renames classes, so `constructor.name` may read "U")
 * and its place in the brand chain, both on the prototype so they stay out of JSON and inspect.
 */
export function brand(Class: abstract new (...args: never[]) => Error, name: string): void {
  const parent = (Object.getPrototypeOf(Class.prototype) as Branded)[BRAND] ?? [];
  for (const [key, value] of [
    ['name', name],
    [BRAND, [name, ...parent]],
  ] as const) {
    Object.defineProperty(Class.prototype, key, {
      value,
      writable: key === 'name',
      configurable: true,
      enumerable: false,
    });
  }
}

/** The brand chain of `value` when it is an error of any copy of this package. */
function brandOf(value: unknown): readonly string[] | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const chain = (value as Branded)[BRAND];
  return Array.isArray(chain) ? chain : undefined;
}

/** Base class of every error this package throws: `err instanceof EmbeddingsError`. */
export class EmbeddingsError extends Error {
  static {
    brand(this, 'EmbeddingsError');
  }

  /**
   * `instanceof` that also recognises errors thrown by another copy of this package (the
   * CommonJS build seen from the ESM one): by the shared brand and the class's literal name.
   * A subclass you write yourself keeps plain prototype `instanceof`.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    if (!Object.hasOwn(this.prototype, BRAND)) return false;
    return brandOf(value)?.includes((this.prototype as { name: string }).name) ?? false;
  }
}

/** Whether `value` is an `EmbeddingsError` from any copy of this package (ESM or CommonJS build). */
export function isEmbeddingsError(value: unknown): value is EmbeddingsError {
  return brandOf(value) !== undefined;
}

/** Whether `value` is an `APIError` (a non-2xx answer) from any copy of this package. */
export function isAPIError(value: unknown): value is APIError {
  return brandOf(value)?.includes('APIError') ?? false;
}

/** A parameter or option was invalid; thrown before any network call. */
export class InvalidArgumentError extends EmbeddingsError {
  static {
    brand(this, 'InvalidArgumentError');
  }
}

/** Fields an error response may carry in OpenAI's `{ "error": { ... } }` body. */
interface ServerErrorFields {
  message?: string;
  code?: string | null;
  type?: string;
  param?: string | null;
}

/**
 * Azure OpenAI serves a model under a deployment name its user chose, and answers the model's
 * own name (`text-embedding-3-small`) with a 404 that does not say which name it wanted.
 */
const DEPLOYMENT_HINT =
  ' (Azure OpenAI wants the deployment name you chose, not the model name: pass it as `model`, or as `deployment` to createAzureClient)';

/** The server answered with a non-2xx status. */
export class APIError extends EmbeddingsError {
  static {
    brand(this, 'APIError');
  }

  /** HTTP status code. */
  readonly status: number;
  /** Response headers, names lower-cased. */
  readonly headers: Record<string, string>;
  /** The server's `x-request-id`, quote it when asking the provider for help. */
  readonly requestId: string | undefined;
  /** `error.code` from the body, e.g. `rate_limit_exceeded`. */
  readonly code: string | null | undefined;
  /** `error.type` from the body, e.g. `invalid_request_error`. */
  readonly type: string | undefined;
  /** `error.param` from the body: the request field the server objected to. */
  readonly param: string | null | undefined;
  /** The parsed JSON body, or the raw text when it was not JSON (cut to 2 kB). */
  readonly body: unknown;

  constructor(init: { method: string; path: string; status: number; headers: Record<string, string>; body: unknown }) {
    const fields = serverErrorFields(init.body);
    const detail = fields?.message ? `: ${fields.message}` : '';
    const hint = init.status === 404 && fields?.code === 'DeploymentNotFound' ? DEPLOYMENT_HINT : '';
    super(`${init.method} ${init.path} failed with status ${init.status}${detail}${hint}`);
    this.status = init.status;
    this.headers = init.headers;
    this.requestId = init.headers['x-request-id'];
    this.code = fields?.code;
    this.type = fields?.type;
    this.param = fields?.param;
    this.body = init.body;
  }

  /** `requestId` under openai-node's spelling. */
  get requestID(): string | undefined {
    return this.requestId;
  }

  /** The body's `error` object, or the whole body when it has none: openai-node's `error`. */
  get error(): unknown {
    const error = (this.body as { error?: unknown } | null | undefined)?.error;
    return typeof error === 'object' && error !== null ? error : this.body;
  }
}

export class BadRequestError extends APIError {
  static {
    brand(this, 'BadRequestError');
  }
}
export class AuthenticationError extends APIError {
  static {
    brand(this, 'AuthenticationError');
  }
}
export class PermissionDeniedError extends APIError {
  static {
    brand(this, 'PermissionDeniedError');
  }
}
export class NotFoundError extends APIError {
  static {
    brand(this, 'NotFoundError');
  }
}
export class ConflictError extends APIError {
  static {
    brand(this, 'ConflictError');
  }
}
export class UnprocessableEntityError extends APIError {
  static {
    brand(this, 'UnprocessableEntityError');
  }
}
export class RateLimitError extends APIError {
  static {
    brand(this, 'RateLimitError');
  }
}
export class InternalServerError extends APIError {
  static {
    brand(this, 'InternalServerError');
  }
}

const BY_STATUS: Record<number, typeof APIError> = {
  400: BadRequestError,
  401: AuthenticationError,
  403: PermissionDeniedError,
  404: NotFoundError,
  409: ConflictError,
  422: UnprocessableEntityError,
  429: RateLimitError,
};

/** The one place that picks an `APIError` subclass for a status. */
export function apiErrorFor(init: ConstructorParameters<typeof APIError>[0]): APIError {
  const ErrorClass = BY_STATUS[init.status] ?? (init.status >= 500 ? InternalServerError : APIError);
  return new ErrorClass(init);
}

/**
 * The request never got an HTTP answer: DNS, refused, reset, socket closed, TLS. The message
 * names the method and the URL tried (origin and path: never credentials or a query string).
 */
export class APIConnectionError extends EmbeddingsError {
  static {
    brand(this, 'APIConnectionError');
  }

  constructor(method: string, url: string, options?: { cause?: unknown; message?: string }) {
    super(options?.message ?? `${method} ${url}: ${connectionFailure(options?.cause)}`, options);
  }
}

/** An attempt exceeded its `timeout` (headers and body together). */
export class APITimeoutError extends APIConnectionError {
  static {
    brand(this, 'APITimeoutError');
  }

  constructor(method: string, url: string, timeoutMs: number, options?: { cause?: unknown }) {
    super(method, url, { ...options, message: `${method} ${url}: timed out after ${timeoutMs} ms` });
  }
}

/** The caller's `AbortSignal` fired. Never retried. */
export class APIUserAbortError extends EmbeddingsError {
  static {
    brand(this, 'APIUserAbortError');
  }

  constructor(message = 'Request was aborted', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The server answered 2xx, but the body is not a valid embeddings response for this request. */
export class ResponseValidationError extends EmbeddingsError {
  static {
    brand(this, 'ResponseValidationError');
  }

  /** HTTP status of the response that failed validation. */
  readonly status: number;
  /** The server's `x-request-id`, when it sent one. */
  readonly requestId: string | undefined;

  constructor(
    method: string,
    path: string,
    status: number,
    reason: string,
    options?: { cause?: unknown; requestId?: string | undefined },
  ) {
    super(`${method} ${path} returned status ${status} with an invalid body: ${reason}`, options);
    this.status = status;
    this.requestId = options?.requestId;
  }
}

/**
 * A response body grew past `maxResponseBytes` (counted after decoding gzip, deflate or br).
 * Reading stopped there and the connection was closed. Never retried: the same request would
 * get the same answer.
 */
export class ResponseTooLargeError extends EmbeddingsError {
  static {
    brand(this, 'ResponseTooLargeError');
  }

  /** HTTP status of the response. */
  readonly status: number;
  /** The `maxResponseBytes` in force. */
  readonly limit: number;
  /** Body bytes received (decoded) when reading stopped: just over `limit`. */
  readonly received: number;
  /** The server's `x-request-id`, when it sent one. */
  readonly requestId: string | undefined;

  constructor(init: {
    method: string;
    url: string;
    status: number;
    limit: number;
    received: number;
    encoding?: string | undefined;
    requestId?: string | undefined;
  }) {
    const decoded = init.encoding ? ` decoded from ${init.encoding}` : '';
    super(
      `${init.method} ${init.url}: status ${init.status} response body is larger than maxResponseBytes ` +
        `(${init.limit} bytes): reading stopped after ${init.received} bytes${decoded}`,
    );
    this.status = init.status;
    this.limit = init.limit;
    this.received = init.received;
    this.requestId = init.requestId;
  }
}

function serverErrorFields(body: unknown): ServerErrorFields | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { error, message, detail, type } = body as {
    error?: unknown;
    message?: unknown;
    detail?: unknown;
    type?: unknown;
  };
  if (typeof error === 'object' && error !== null) return error;
  // Text Embeddings Inference and others send `{ "error": "<message>", "error_type": ... }`.
  if (typeof error === 'string') return { message: error };
  // Some compatible servers (vLLM, TEI) put the message at the top level.
  if (typeof message === 'string') return body;
  // Mistral wraps its validation's `{ detail: [...] }` in `message`, beside OpenAI's `type`.
  if (typeof message === 'object' && message !== null) {
    const nested = detailFields((message as { detail?: unknown }).detail);
    if (nested) return typeof type === 'string' ? { ...nested, type } : nested;
  }
  // Voyage and Jina send `{ "detail": "<message>" }`; FastAPI servers pydantic's `{ "detail": [...] }`.
  return detailFields(detail);
}

/** One of pydantic's validation errors: where (`["body", "truncate"]`) and what. */
interface PydanticError {
  loc?: unknown;
  msg?: unknown;
}

/**
 * FastAPI's `detail`: a string, or pydantic's list of errors. The first error's place becomes
 * `param` (without pydantic's leading `body`), so a refused field stops a job like OpenAI's
 * `param` does instead of splitting it; every error's text becomes the message.
 */
function detailFields(detail: unknown): ServerErrorFields | undefined {
  if (typeof detail === 'string') return { message: detail };
  if (!Array.isArray(detail)) return undefined;
  const errors = detail.filter(
    (item): item is PydanticError =>
      typeof item === 'object' && item !== null && typeof (item as PydanticError).msg === 'string',
  );
  if (errors.length === 0) return undefined;
  const place = (item: PydanticError): string =>
    Array.isArray(item.loc) ? item.loc.filter((part, i) => !(i === 0 && part === 'body')).join('.') : '';
  const message = errors.map((item) => (place(item) ? `${place(item)}: ${String(item.msg)}` : String(item.msg)));
  return { message: message.join('; '), param: place(errors[0]!) || null };
}

/** What the common socket error codes mean, in words a user can act on. */
const CONNECTION_FAILURES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  EPIPE: 'connection closed while sending',
  UND_ERR_SOCKET: 'connection closed by the server',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
};

function connectionFailure(cause: unknown): string {
  if (!(cause instanceof Error)) return 'connection error';
  const code = (cause as { code?: unknown }).code;
  if (typeof code !== 'string') return `connection error (${cause.message})`;
  return `${CONNECTION_FAILURES[code] ?? 'connection error'} (${code})`;
}
