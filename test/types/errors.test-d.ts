// Type tests of the error classes a user narrows to in a catch block.
// Checked by `tsc` in vitest's typecheck mode (and by `npm run typecheck`), never run.
import { expectTypeOf, test } from 'vitest';
import {
  APIConnectionError,
  APIError,
  APITimeoutError,
  APIUserAbortError,
  EmbeddingsError,
  InvalidArgumentError,
  RateLimitError,
  ResponseTooLargeError,
  ResponseValidationError,
  isAPIError,
  isEmbeddingsError,
} from '../../src/index.js';

declare const caught: unknown;

test('every error class is an EmbeddingsError and an Error', () => {
  expectTypeOf<EmbeddingsError>().toExtend<Error>();
  expectTypeOf<APIError>().toExtend<EmbeddingsError>();
  expectTypeOf<RateLimitError>().toExtend<APIError>();
  expectTypeOf<APITimeoutError>().toExtend<APIConnectionError>();
  expectTypeOf<APIConnectionError>().toExtend<EmbeddingsError>();
  expectTypeOf<APIUserAbortError>().toExtend<EmbeddingsError>();
  expectTypeOf<InvalidArgumentError>().toExtend<EmbeddingsError>();
  expectTypeOf<ResponseValidationError>().toExtend<EmbeddingsError>();
  expectTypeOf<ResponseTooLargeError>().toExtend<EmbeddingsError>();
});

test("APIError's fields, under both spellings of the request id", () => {
  if (!(caught instanceof APIError)) return;
  expectTypeOf(caught.status).toEqualTypeOf<number>();
  expectTypeOf(caught.headers).toEqualTypeOf<Record<string, string>>();
  expectTypeOf(caught.requestId).toEqualTypeOf<string | undefined>();
  expectTypeOf(caught.requestID).toEqualTypeOf<string | undefined>();
  expectTypeOf(caught.code).toEqualTypeOf<string | null | undefined>();
  expectTypeOf(caught.type).toEqualTypeOf<string | undefined>();
  expectTypeOf(caught.param).toEqualTypeOf<string | null | undefined>();
  expectTypeOf(caught.body).toEqualTypeOf<unknown>();
  // @ts-expect-error the fields are read-only
  caught.status = 500;
});

test('ResponseTooLargeError names the limit and what arrived', () => {
  if (!(caught instanceof ResponseTooLargeError)) return;
  expectTypeOf(caught.limit).toEqualTypeOf<number>();
  expectTypeOf(caught.received).toEqualTypeOf<number>();
  expectTypeOf(caught.status).toEqualTypeOf<number>();
  expectTypeOf(caught.requestId).toEqualTypeOf<string | undefined>();
});

test('the guards narrow across copies of the package', () => {
  if (isAPIError(caught)) expectTypeOf(caught).toEqualTypeOf<APIError>();
  if (isEmbeddingsError(caught)) expectTypeOf(caught).toEqualTypeOf<EmbeddingsError>();
  expectTypeOf(isAPIError).parameter(0).toEqualTypeOf<unknown>();
});
