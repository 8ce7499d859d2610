/** How a job treats a request's error: split the request, or stop the whole job. */
import {
  APIError,
  AuthenticationError,
  EmbeddingsError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
} from '../errors.js';

/** A 413, or a 400 that is about the inputs (their total or one of them) rather than another field. */
export function shouldSplit(error: EmbeddingsError): boolean {
  if (!(error instanceof APIError)) return false;
  if (error.status === 413) return true;
  return error.status === 400 && !namesOtherField(error);
}

/** Errors every other request of the job would get too: stop sending instead of repeating them. */
export function isFatal(error: EmbeddingsError): boolean {
  return (
    error instanceof AuthenticationError ||
    error instanceof PermissionDeniedError ||
    error instanceof NotFoundError ||
    error instanceof InvalidArgumentError ||
    (error instanceof RateLimitError && error.code === 'insufficient_quota') ||
    (error instanceof APIError && error.status === 400 && namesOtherField(error))
  );
}

/** OpenAI names the offending field in `param`; anything but the input is shared by every request. */
function namesOtherField(error: APIError): boolean {
  return typeof error.param === 'string' && error.param !== '' && !/^\$?\.?input\b/.test(error.param);
}
