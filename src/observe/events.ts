import type { BatchProgress } from '../batch/types.js';
import type { RateLimitWaitReason } from '../rate-limit/index.js';

/*
 * Payloads carry numbers, names and the URL without its query: never the key, a header, an
 * input text or a server's error message (which may quote an input).
 */

/** A `create()` request is about to take its first turn (a batch job sends many). */
export interface RequestEvent {
  /** This client's number for the request, shared by every event about it. */
  id: number;
  method: 'POST';
  /** Origin and path, without query string or credentials. */
  url: string;
  model: string;
  /** Inputs in the request. */
  inputs: number;
}

/** An attempt got its turn and is being sent (the first, and each retry). */
export interface AttemptEvent {
  id: number;
  /** 1 for the first attempt. */
  attempt: number;
}

/** An attempt was answered, with any status (2xx, 429, 500...). */
export interface ResponseEvent {
  id: number;
  attempt: number;
  status: number;
  /** @unit ms from sending the attempt to its whole body read. */
  durationMs: number;
  /** The server's `x-request-id`, when it sent one. */
  requestId: string | undefined;
}

/** An attempt failed and another follows. */
export interface RetryEvent {
  id: number;
  /** The attempt that failed (1 for the first). */
  attempt: number;
  /** The HTTP status, or undefined for a connection error or a timeout. */
  status: number | undefined;
  /** The error's class name: `RateLimitError`, `InternalServerError`, `APITimeoutError`... */
  errorType: string;
  /**
   * @unit ms before the next attempt: slept by the retry, or (after a 429) the pause the rate
   * limiter holds every request of the client for.
   */
  delayMs: number;
}

/** An attempt waits for its rate-limit turn, or its wait's end or reason changed. */
export interface RateLimitWaitEvent {
  id: number;
  reason: RateLimitWaitReason;
  /** When the attempt may start, on the limiter's clock (epoch ms); undefined while it waits for an answer. */
  untilMs: number | undefined;
}

/** A request ended: with its answer, or with the error `create()` throws. */
export interface RequestEndEvent {
  id: number;
  ok: boolean;
  /** Attempts sent (0 when it ended before the first one left). */
  attempts: number;
  /** The last answer's status, undefined when none came. */
  status: number | undefined;
  /** @unit ms from the `request` event, waits and retries included. */
  durationMs: number;
  /** The error's class name when `ok` is false. */
  errorType: string | undefined;
  /** The model the server reported. */
  responseModel: string | undefined;
  /** Tokens the server counted, when it said. */
  inputTokens: number | undefined;
}

/** The client's events and what each listener receives. */
export interface ClientEvents {
  request: RequestEvent;
  attempt: AttemptEvent;
  response: ResponseEvent;
  retry: RetryEvent;
  rateLimitWait: RateLimitWaitEvent;
  requestEnd: RequestEndEvent;
  /** A `createMany()` or `stream()` job's counters, each time its `onProgress` would be called. */
  batchProgress: BatchProgress;
}

export type ClientEventName = keyof ClientEvents;

/** Every event name, for checking a listener's. */
export const CLIENT_EVENTS: readonly ClientEventName[] = Object.freeze([
  'request',
  'attempt',
  'response',
  'retry',
  'rateLimitWait',
  'requestEnd',
  'batchProgress',
]);
export type ClientEventListener<E extends ClientEventName> = (event: ClientEvents[E]) => void;

/**
 * Listeners per event, called in the order added. Unlike EventEmitter, a listener that throws
 * breaks nothing: the error goes to `onListenerError` and the request goes on.
 */
export class Events {
  readonly #listeners = new Map<ClientEventName, Set<(event: never) => void>>();
  readonly #onListenerError: (error: unknown, event: ClientEventName) => void;

  constructor(onListenerError: (error: unknown, event: ClientEventName) => void) {
    this.#onListenerError = onListenerError;
  }

  on<E extends ClientEventName>(event: E, listener: ClientEventListener<E>): void {
    let set = this.#listeners.get(event);
    if (set === undefined) this.#listeners.set(event, (set = new Set()));
    set.add(listener);
  }

  off<E extends ClientEventName>(event: E, listener: ClientEventListener<E>): void {
    this.#listeners.get(event)?.delete(listener);
  }

  /** Whether anyone listens: payloads are built only then. */
  has(event: ClientEventName): boolean {
    return (this.#listeners.get(event)?.size ?? 0) > 0;
  }

  emit<E extends ClientEventName>(event: E, payload: ClientEvents[E]): void {
    const set = this.#listeners.get(event);
    if (set === undefined) return;
    for (const listener of [...set] as ClientEventListener<E>[]) {
      try {
        listener(payload);
      } catch (error) {
        this.#onListenerError(error, event);
      }
    }
  }
}
