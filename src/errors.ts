/**
 * Error classes. Names follow openai-node's so code written against it migrates unchanged.
 * Every class sets `name`, keeps `cause`, and never holds the API key.
 */

/** Base class of every error this package throws: `err instanceof EmbeddingsError`. */
export class EmbeddingsError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A parameter or option was invalid; thrown before any network call. */
export class InvalidArgumentError extends EmbeddingsError {}

/** Fields an error response may carry in OpenAI's `{ "error": { ... } }` body. */
interface ServerErrorFields {
  message?: string;
  code?: string | null;
  type?: string;
  param?: string | null;
}

/** The server answered with a non-2xx status. */
export class APIError extends EmbeddingsError {
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

  constructor(init: {
    method: string;
    path: string;
    status: number;
    headers: Record<string, string>;
    body: unknown;
  }) {
    const fields = serverErrorFields(init.body);
    const detail = fields?.message ? `: ${fields.message}` : '';
    super(`${init.method} ${init.path} failed with status ${init.status}${detail}`);
    this.status = init.status;
    this.headers = init.headers;
    this.requestId = init.headers['x-request-id'];
    this.code = fields?.code;
    this.type = fields?.type;
    this.param = fields?.param;
    this.body = init.body;
  }
}

export class BadRequestError extends APIError {}
export class AuthenticationError extends APIError {}
export class PermissionDeniedError extends APIError {}
export class NotFoundError extends APIError {}
export class ConflictError extends APIError {}
export class UnprocessableEntityError extends APIError {}
export class RateLimitError extends APIError {}
export class InternalServerError extends APIError {}

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

/** The request never got an HTTP answer: DNS, refused, reset, socket closed. */
export class APIConnectionError extends EmbeddingsError {
  constructor(method: string, path: string, options?: { cause?: unknown; message?: string }) {
    super(options?.message ?? `${method} ${path} failed: connection error${causeText(options?.cause)}`, options);
  }
}

/** An attempt exceeded its `timeout` (headers and body together). */
export class APITimeoutError extends APIConnectionError {
  constructor(method: string, path: string, timeoutMs: number, options?: { cause?: unknown }) {
    super(method, path, { ...options, message: `${method} ${path} timed out after ${timeoutMs} ms` });
  }
}

/** The caller's `AbortSignal` fired. Never retried. */
export class APIUserAbortError extends EmbeddingsError {
  constructor(message = 'Request was aborted', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The server answered 2xx, but the body is not a valid embeddings response for this request. */
export class ResponseValidationError extends EmbeddingsError {
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

function serverErrorFields(body: unknown): ServerErrorFields | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const error = (body as { error?: unknown }).error;
  if (typeof error === 'object' && error !== null) return error as ServerErrorFields;
  // Text Embeddings Inference and others send `{ "error": "<message>", "error_type": ... }`.
  if (typeof error === 'string') return { message: error };
  // Some compatible servers (vLLM, TEI) put the message at the top level.
  if (typeof (body as ServerErrorFields).message === 'string') return body as ServerErrorFields;
  return undefined;
}

function causeText(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === 'string' ? ` (${code})` : ` (${cause.message})`;
  }
  return '';
}
