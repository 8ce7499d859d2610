import { inspect } from 'node:util';
import { describe, expect, test, vi } from 'vitest';
import * as embedrail from '../src/index.js';
import {
  APIConnectionError,
  APIError,
  APITimeoutError,
  APIUserAbortError,
  AuthenticationError,
  BadRequestError,
  ConflictError,
  EmbeddingsError,
  InternalServerError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
  ResponseTooLargeError,
  ResponseValidationError,
  UnprocessableEntityError,
  isAPIError,
  isEmbeddingsError,
} from '../src/index.js';
import { BatchEmbeddingError } from '../src/batch/errors.js';
import { useFakeApi } from './support/fake-api.js';
import { jsonHandler } from './support/openai-like.js';
import { apiErrorFor } from '../src/errors.js';

const make = (status: number, body: unknown = {}, headers: Record<string, string> = {}) =>
  apiErrorFor({ method: 'POST', path: '/embeddings', status, headers, body });

describe('apiErrorFor', () => {
  test.each([
    [400, BadRequestError],
    [401, AuthenticationError],
    [403, PermissionDeniedError],
    [404, NotFoundError],
    [409, ConflictError],
    [422, UnprocessableEntityError],
    [429, RateLimitError],
    [500, InternalServerError],
    [502, InternalServerError],
    [503, InternalServerError],
    [418, APIError],
  ])('maps status %i to %s', (status, ErrorClass) => {
    const error = make(status);
    expect(error).toBeInstanceOf(ErrorClass);
    expect(error.constructor).toBe(ErrorClass);
    expect(error).toBeInstanceOf(APIError);
    expect(error).toBeInstanceOf(EmbeddingsError);
    expect(error.name).toBe(ErrorClass.name);
    expect(error.status).toBe(status);
  });

  test("carries the server's error fields, request id and message", () => {
    const body = {
      error: { message: 'Too many inputs', type: 'invalid_request_error', param: 'input', code: 'bad_input' },
    };
    const error = make(400, body, { 'x-request-id': 'req_123' });
    expect(error.message).toBe('POST /embeddings failed with status 400: Too many inputs');
    expect(error).toMatchObject({
      code: 'bad_input',
      type: 'invalid_request_error',
      param: 'input',
      requestId: 'req_123',
      body,
    });
  });

  test('takes a top-level message from servers that do not nest it', () => {
    expect(make(413, { message: 'payload too large' }).message).toBe(
      'POST /embeddings failed with status 413: payload too large',
    );
  });

  test('takes the message from servers that send the error as a string', () => {
    const error = make(413, {
      error: 'Input validation error: inputs must have less than 512 tokens',
      error_type: 'validation',
    });
    expect(error.message).toBe(
      'POST /embeddings failed with status 413: Input validation error: inputs must have less than 512 tokens',
    );
  });

  test("takes FastAPI's detail: a string (Voyage, Jina), or pydantic's errors with the field as param (Mistral)", () => {
    expect(make(400, { detail: 'The max allowed batch size is 16.' }).message).toBe(
      'POST /embeddings failed with status 400: The max allowed batch size is 16.',
    );
    const pydantic = make(422, {
      detail: [
        { type: 'extra_forbidden', loc: ['body', 'truncate'], msg: 'Extra inputs are not permitted', input: 'END' },
        { type: 'missing', loc: ['body', 'model'], msg: 'Field required' },
      ],
    });
    expect(pydantic.message).toBe(
      'POST /embeddings failed with status 422: truncate: Extra inputs are not permitted; model: Field required',
    );
    expect(pydantic.param).toBe('truncate');
    const mistral = make(422, {
      object: 'error',
      message: { detail: [{ type: 'extra_forbidden', loc: ['body', 'task'], msg: 'Extra inputs are not permitted' }] },
      type: 'invalid_request_error',
      param: null,
      code: null,
    });
    expect(mistral.message).toBe('POST /embeddings failed with status 422: task: Extra inputs are not permitted');
    expect([mistral.param, mistral.type]).toEqual(['task', 'invalid_request_error']);
  });

  test('keeps a message with method, path and status when the body is not JSON', () => {
    const error = make(502, '<html>Bad Gateway</html>');
    expect(error.message).toBe('POST /embeddings failed with status 502');
    expect(error.body).toBe('<html>Bad Gateway</html>');
  });
});

describe('other errors', () => {
  test('set their name, keep their cause and belong to EmbeddingsError', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const url = 'http://127.0.0.1:9/v1/embeddings';
    const errors = [
      new APIConnectionError('POST', url, { cause }),
      new APITimeoutError('POST', url, 100, { cause }),
      new APIUserAbortError('Request was aborted', { cause }),
      new ResponseValidationError('POST', '/embeddings', 200, 'bad', { cause }),
    ];
    for (const error of errors) {
      expect(error).toBeInstanceOf(EmbeddingsError);
      expect(error.name).toBe(error.constructor.name);
      expect(error.cause).toBe(cause);
    }
    expect(errors[0]!.message).toBe('POST http://127.0.0.1:9/v1/embeddings: connection refused (ECONNREFUSED)');
    expect(errors[1]).toBeInstanceOf(APIConnectionError);
    expect(errors[1]!.message).toBe('POST http://127.0.0.1:9/v1/embeddings: timed out after 100 ms');
    expect(errors[3]!.message).toBe('POST /embeddings returned status 200 with an invalid body: bad');
  });
});

/** Every error class the package exports, with the name it must keep whatever a bundler does. */
const ERROR_CLASSES = Object.entries(embedrail).filter(
  ([, value]) =>
    typeof value === 'function' && (value === EmbeddingsError || value.prototype instanceof EmbeddingsError),
) as [string, typeof EmbeddingsError][];

describe('error names', () => {
  test('every exported error class is found', () => {
    expect(ERROR_CLASSES.map(([name]) => name).sort()).toEqual([
      'APIConnectionError',
      'APIError',
      'APITimeoutError',
      'APIUserAbortError',
      'AuthenticationError',
      'BadRequestError',
      'BatchEmbeddingError',
      'BatchJobInputError',
      'BatchLineError',
      'ConflictError',
      'EmbeddingsError',
      'InternalServerError',
      'InvalidArgumentError',
      'NotFoundError',
      'PermissionDeniedError',
      'RateLimitError',
      'ResponseTooLargeError',
      'ResponseValidationError',
      'UnprocessableEntityError',
    ]);
  });

  test.each(ERROR_CLASSES)('%s keeps its literal name when a minifier renames the class', (name, ErrorClass) => {
    const original = Object.getOwnPropertyDescriptor(ErrorClass, 'name')!;
    Object.defineProperty(ErrorClass, 'name', { value: 'U', configurable: true });
    try {
      const error = Object.create(ErrorClass.prototype) as Error;
      expect(ErrorClass.name).toBe('U');
      expect(error.name).toBe(name);
    } finally {
      Object.defineProperty(ErrorClass, 'name', original);
    }
  });

  test('the name is not an own property, so JSON and inspect show no extra field', () => {
    const error = make(429, { error: { message: 'slow down' } });
    expect(Object.keys(error)).not.toContain('name');
    expect(JSON.stringify(error)).not.toMatch(/embedrail\.error|"name"/);
    expect(inspect(error)).toMatch(/^RateLimitError: POST \/embeddings failed with status 429: slow down/);
  });
});

describe('errors from another copy of the package (the CommonJS build seen from ESM)', () => {
  test('are instanceof the classes of this copy by their brand, and pass the guards', async () => {
    vi.resetModules();
    const other = await import('../src/index.js');
    expect(other.APIError).not.toBe(APIError);
    const foreign = new other.BadRequestError({
      method: 'POST',
      path: '/embeddings',
      status: 400,
      headers: {},
      body: {},
    });
    expect(foreign instanceof other.BadRequestError).toBe(true);
    expect(foreign instanceof BadRequestError).toBe(true);
    expect(foreign instanceof APIError).toBe(true);
    expect(foreign instanceof EmbeddingsError).toBe(true);
    expect(foreign instanceof RateLimitError).toBe(false);
    expect(foreign instanceof APIConnectionError).toBe(false);
    expect(isAPIError(foreign)).toBe(true);
    expect(isEmbeddingsError(foreign)).toBe(true);
    const timeout = new other.APITimeoutError('POST', 'http://h/v1/embeddings', 5);
    expect(timeout instanceof APIConnectionError).toBe(true);
    expect(timeout instanceof APIError).toBe(false);
    expect(isAPIError(timeout)).toBe(false);
    expect(new other.BatchEmbeddingError('createMany', [], [], 0) instanceof BatchEmbeddingError).toBe(true);
    // And the other way round.
    expect(make(500) instanceof other.InternalServerError).toBe(true);
  });

  test('leave plain errors, look-alikes and your own subclasses alone', () => {
    class MyError extends APIError {}
    expect(isEmbeddingsError(new Error('x'))).toBe(false);
    expect(isEmbeddingsError({ name: 'APIError', status: 400 })).toBe(false);
    expect(isAPIError(null)).toBe(false);
    expect(make(400) instanceof MyError).toBe(false);
    expect(new MyError({ method: 'POST', path: '/e', status: 400, headers: {}, body: {} }) instanceof APIError).toBe(
      true,
    );
    expect(
      new ResponseTooLargeError({
        method: 'POST',
        url: 'http://h/v1/embeddings',
        status: 200,
        limit: 1,
        received: 2,
      }) instanceof ResponseValidationError,
    ).toBe(false);
  });
});

describe("openai-node's fields", () => {
  const api = useFakeApi();

  test('an APIError read at the wire has requestID and error as openai-node spells them', async () => {
    const body = {
      error: { message: 'Invalid model', type: 'invalid_request_error', param: 'model', code: 'model_not_found' },
    };
    api.use(jsonHandler(body, 404, { 'x-request-id': 'req_42' }));
    const client = new embedrail.EmbeddingsClient({ baseURL: api.url, maxRetries: 0 });
    const error = await client.embeddings.create({ model: 'nope', input: 'x' }).catch((e) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({
      status: 404,
      requestID: 'req_42',
      requestId: 'req_42',
      error: body.error,
      code: 'model_not_found',
      param: 'model',
      type: 'invalid_request_error',
    });
    expect(error.headers['x-request-id']).toBe('req_42');
    await client.close();
  });

  test('error is the whole body when it holds no error object', () => {
    expect(make(500, 'Bad Gateway').error).toBe('Bad Gateway');
    expect(make(400, { message: 'flat' }).error).toEqual({ message: 'flat' });
  });
});
