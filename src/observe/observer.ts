/**
 * What a client tells about its requests, through three channels: its log, its events and
 * OpenTelemetry. The requester reports each request's life to a {@link RequestTrace}; the
 * trace fans it out to whichever channel is on, and builds nothing for one that is off.
 */
import type { BatchProgress } from '../batch/types.js';
import { APIConnectionError, APIError, APITimeoutError, APIUserAbortError } from '../errors.js';
import type { RateLimitWait } from '../rate-limit/index.js';
import { displayURL } from '../transport.js';
import { Events, type ClientEventName } from './events.js';
import type { Log } from './logger.js';
import { loadOtel, RequestSpan } from './otel.js';

/** A request as `create()` is about to send it. */
export interface RequestStart {
  baseURL: string;
  path: string;
  model: string;
  input: string | readonly unknown[];
  /** Left out where the server's default (floats) is asked for by leaving it out. */
  encodingFormat: string | undefined;
  dimensions: number | undefined;
  /** The client's preset, which names the provider better than its host can. */
  preset: string;
}

/** The parts of an answer a trace reads: never its vectors. */
interface Answer {
  model: string;
  data: readonly { embedding: ArrayLike<number> | string }[];
  usage: { prompt_tokens: number } | undefined;
}

/** One client's channels. */
export class Observer {
  readonly events: Events;
  readonly log: Log | undefined;
  #nextId = 1;

  constructor(log: Log | undefined) {
    this.log = log;
    this.events = new Events((error, event) => this.#listenerFailed(error, event));
  }

  /** Starts the trace of one request (and its span, when OpenTelemetry is there). */
  async start(start: RequestStart): Promise<RequestTrace> {
    const api = await loadOtel();
    return new RequestTrace(
      this,
      this.#nextId++,
      start,
      api === undefined ? undefined : new RequestSpan(api, spanStart(start)),
    );
  }

  /** A batch job's progress, to the `batchProgress` listeners. */
  batchProgress(progress: BatchProgress): void {
    this.events.emit('batchProgress', progress);
  }

  #listenerFailed(error: unknown, event: ClientEventName): void {
    const what = `a listener of the "${event}" event threw (the request goes on)`;
    if (this.log !== undefined) {
      this.log.error(what, { errorType: errorType(error) });
      return;
    }
    process.emitWarning(`${what}: ${error instanceof Error ? error.message : String(error)}`, {
      code: 'EMBEDRAIL_LISTENER_ERROR',
    });
  }
}

function spanStart(start: RequestStart) {
  const inputs = typeof start.input === 'string' || typeof start.input[0] === 'number' ? 1 : start.input.length;
  return { ...start, inputs };
}

/** One request's life, from its first turn to its answer or its error. */
export class RequestTrace {
  readonly #observer: Observer;
  readonly #id: number;
  readonly #url: string;
  readonly #span: RequestSpan | undefined;
  readonly #startedAt = performance.now();
  #attempts = 0;
  #attemptStartedAt = 0;
  #status: number | undefined;

  constructor(observer: Observer, id: number, start: RequestStart, span: RequestSpan | undefined) {
    this.#observer = observer;
    this.#id = id;
    this.#url = displayURL(`${start.baseURL}${start.path}`);
    this.#span = span;
    const { events, log } = observer;
    const inputs = spanStart(start).inputs;
    if (events.has('request')) {
      events.emit('request', { id, method: 'POST', url: this.#url, model: start.model, inputs });
    }
    if (log?.enabled('debug')) {
      log.debug(`request ${id}: POST ${this.#url} (${start.model}, ${inputs} input${inputs === 1 ? '' : 's'})`, {
        id,
        model: start.model,
        inputs,
        // Input text only at 'debug', and only when the user asked for it with `logInputs`.
        ...(log.inputs ? { input: JSON.stringify(start.input) } : {}),
      });
    }
  }

  /** An attempt got its turn and leaves now. */
  attempt(): void {
    this.#attempts++;
    this.#attemptStartedAt = performance.now();
    const { events } = this.#observer;
    if (events.has('attempt')) events.emit('attempt', { id: this.#id, attempt: this.#attempts });
  }

  /** The attempt was answered with `status` (any status). */
  answered(status: number, headers: Record<string, string>): void {
    this.#status = status;
    const durationMs = Math.round(performance.now() - this.#attemptStartedAt);
    const requestId = headers['x-request-id'];
    const { events, log } = this.#observer;
    if (events.has('response')) {
      events.emit('response', { id: this.#id, attempt: this.#attempts, status, durationMs, requestId });
    }
    if (log?.enabled('debug')) {
      log.debug(
        `request ${this.#id}: POST ${this.#url} answered ${status} in ${durationMs} ms (attempt ${this.#attempts}${requestId === undefined ? '' : `, request id ${requestId}`})`,
        { id: this.#id, attempt: this.#attempts, status, durationMs, requestId },
      );
    }
  }

  /** The attempt failed with `error`, and another follows after `delayMs`. */
  retry(attempt: number, error: unknown, delayMs: number): void {
    const status = error instanceof APIError ? error.status : undefined;
    const type = errorType(error);
    const { events, log } = this.#observer;
    events.emit('retry', { id: this.#id, attempt, status, errorType: type, delayMs });
    log?.info(
      `request ${this.#id}: retrying POST ${this.#url} in ${Math.round(delayMs)} ms after ${status === undefined ? type : `status ${status} (${type})`} on attempt ${attempt}`,
      { id: this.#id, attempt, status, errorType: type, delayMs },
    );
    this.#span?.event('retry', {
      attempt,
      'error.type': errorTypeAttribute(error),
      'embedrail.retry.delay_ms': delayMs,
    });
  }

  /** The next attempt waits for its rate-limit turn. */
  wait({ reason, untilMs }: RateLimitWait): void {
    const { events, log } = this.#observer;
    events.emit('rateLimitWait', { id: this.#id, reason, untilMs });
    if (log?.enabled('info')) {
      // The limiter's clock is Date.now unless a test gave it another.
      const waitMs = untilMs === undefined ? undefined : Math.max(0, Math.round(untilMs - Date.now()));
      log.info(
        `request ${this.#id}: waiting for a rate-limit turn (${reason}${waitMs === undefined ? ', until an answer comes' : `, about ${waitMs} ms`})`,
        { id: this.#id, reason, untilMs, waitMs },
      );
    }
    this.#span?.event('rate_limit_wait', { 'embedrail.wait.reason': reason });
  }

  succeeded(answer: Answer): void {
    const inputTokens = answer.usage?.prompt_tokens;
    const dimensions = answer.data[0]?.embedding.length;
    this.#end(true, undefined, answer.model, inputTokens);
    this.#span?.end({
      attempts: this.#attempts,
      status: this.#status,
      responseModel: answer.model,
      inputTokens,
      // A base64 string's length is not the vector's: decoded answers hold Float32Arrays.
      dimensions: typeof answer.data[0]?.embedding === 'string' ? undefined : dimensions,
    });
  }

  failed(error: unknown): void {
    this.#end(false, error, undefined, undefined);
    this.#span?.end({ attempts: this.#attempts, status: this.#status, errorType: errorTypeAttribute(error) });
  }

  #end(ok: boolean, error: unknown, responseModel: string | undefined, inputTokens: number | undefined): void {
    const durationMs = Math.round(performance.now() - this.#startedAt);
    const { events, log } = this.#observer;
    const type = ok ? undefined : errorType(error);
    if (events.has('requestEnd')) {
      events.emit('requestEnd', {
        id: this.#id,
        ok,
        attempts: this.#attempts,
        status: this.#status,
        durationMs,
        errorType: type,
        responseModel,
        inputTokens,
      });
    }
    const fields = { id: this.#id, attempts: this.#attempts, status: this.#status, durationMs };
    if (ok) {
      log?.debug(`request ${this.#id}: done in ${durationMs} ms after ${this.#attempts} attempt(s)`, {
        ...fields,
        inputTokens,
      });
    } else if (error instanceof APIUserAbortError) {
      // The caller's own doing (or a job stopping the requests it no longer needs): no fault.
      log?.debug(`request ${this.#id}: aborted after ${this.#attempts} attempt(s)`, fields);
    } else {
      // The error's class, status and code, not its message: a server's message may quote an input.
      const code = error instanceof APIError ? (error.code ?? undefined) : undefined;
      log?.error(
        `request ${this.#id}: POST ${this.#url} failed after ${this.#attempts} attempt(s): ${type}${this.#status === undefined ? '' : ` (status ${this.#status})`}`,
        { ...fields, errorType: type, code },
      );
    }
  }
}

function errorType(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

/** `error.type` as the conventions want it: the status code, `timeout`, or the class name. */
function errorTypeAttribute(error: unknown): string {
  if (error instanceof APIError) return String(error.status);
  if (error instanceof APITimeoutError) return 'timeout';
  if (error instanceof APIConnectionError) return 'APIConnectionError';
  return errorType(error);
}
