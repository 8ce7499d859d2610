import { describe, expect, test } from 'vitest';
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
  ResponseValidationError,
  UnprocessableEntityError,
} from '../src/index.js';
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
    const body = { error: { message: 'Too many inputs', type: 'invalid_request_error', param: 'input', code: 'bad_input' } };
    const error = make(400, body, { 'x-request-id': 'req_123' });
    expect(error.message).toBe('POST /embeddings failed with status 400: Too many inputs');
    expect(error).toMatchObject({ code: 'bad_input', type: 'invalid_request_error', param: 'input', requestId: 'req_123', body });
  });

  test('takes a top-level message from servers that do not nest it', () => {
    expect(make(413, { message: 'payload too large' }).message).toBe(
      'POST /embeddings failed with status 413: payload too large',
    );
  });

  test('takes the message from servers that send the error as a string', () => {
    const error = make(413, { error: 'Input validation error: inputs must have less than 512 tokens', error_type: 'validation' });
    expect(error.message).toBe('POST /embeddings failed with status 413: Input validation error: inputs must have less than 512 tokens');
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
    const errors = [
      new APIConnectionError('POST', '/embeddings', { cause }),
      new APITimeoutError('POST', '/embeddings', 100, { cause }),
      new APIUserAbortError('Request was aborted', { cause }),
      new ResponseValidationError('POST', '/embeddings', 200, 'bad', { cause }),
    ];
    for (const error of errors) {
      expect(error).toBeInstanceOf(EmbeddingsError);
      expect(error.name).toBe(error.constructor.name);
      expect(error.cause).toBe(cause);
    }
    expect(errors[0]!.message).toBe('POST /embeddings failed: connection error (ECONNREFUSED)');
    expect(errors[1]).toBeInstanceOf(APIConnectionError);
    expect(errors[1]!.message).toBe('POST /embeddings timed out after 100 ms');
    expect(errors[3]!.message).toBe('POST /embeddings returned status 200 with an invalid body: bad');
  });
});
