import {
  APIConnectionError,
  APIError,
  APITimeoutError,
  AuthenticationError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
} from '../index.js';
import { oneLine } from './io.js';

/**
 * The last line of a run that stopped on `error`: the cause in words a user acts on, then what
 * to change. `--resume` is advised only where it can finish the job: a rerun of a request the
 * server refused as such would be refused again, whatever is resumed.
 * `kept` says whether the output holds vectors worth keeping; `finish` is what to do when the
 * cause is none the user must fix first.
 */
export function stopAdvice(
  error: unknown,
  notDone: string,
  kept: boolean,
  finish = 'rerun with --resume to finish',
): string {
  const message = oneLine(error);
  const rerun = kept ? 'rerun with --resume' : 'rerun';
  if (error instanceof APITimeoutError) {
    return `the server did not answer in time: ${message};${notDone} check the server or raise --timeout, then ${rerun}`;
  }
  if (error instanceof APIConnectionError) {
    return `cannot reach the server: ${message};${notDone} check --base-url and that the server is running, then ${rerun}`;
  }
  if (error instanceof AuthenticationError || error instanceof PermissionDeniedError) {
    return `the server refused the API key (${error.status}): ${message};${notDone} fix --api-key or $EMBEDRAIL_API_KEY, then ${rerun}`;
  }
  if (error instanceof NotFoundError) {
    return `the server has no such model or endpoint (404): ${message};${notDone} fix --model or --base-url and rerun`;
  }
  if (error instanceof RateLimitError && error.code === 'insufficient_quota') {
    return `the account has no quota left: ${message};${notDone} add credit, then ${rerun}`;
  }
  if ((error instanceof APIError && error.status === 400) || error instanceof InvalidArgumentError) {
    return `the server refused the request itself: ${message};${notDone} fix the flag it names (--dimensions, --model) and rerun`;
  }
  return `${message};${notDone} ${finish}`;
}
