/** How a job treats a request's error: split the request, fail its inputs, or stop the whole job. */
import {
  APIConnectionError,
  APIError,
  AuthenticationError,
  EmbeddingsError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
} from '../errors.js';
import { readStatedCap } from './refusal-caps.js';

/** Lone inputs of one split request that, failing alike with a 400 naming no field before any success, stop the job. */
const LONE_FAILURES_TO_STOP = 3;
/**
 * Requests in a row that, once some request succeeded, lose their connection or get a 5xx past
 * their retries and stop the job: a server gone or broken for good would otherwise fail every
 * input in turn, at the cost of every retry. One failing request between successes (a poison
 * input, a passing fault) never stops it.
 */
const SERVER_FAILURES_TO_STOP = 3;

/** The one-input requests of one split request that failed with a 400 naming no field, and its message. */
export interface LoneFailures {
  count: number;
  message: string;
}

/**
 * What a failed request means for the job:
 * - `split`: send it again in halves, so only the offending inputs fail;
 * - `halt`: end the job with this error; its inputs are not failed one by one (nothing was learnt about them);
 * - `fatal`: fail its inputs, and every input not sent yet, with this error;
 * - `fail`: fail its inputs and go on.
 */
export type Verdict = 'split' | 'halt' | 'fatal' | 'fail';

/**
 * The record of how a job's requests ended so far, which decides what the next failure
 * means: the same error tells a different story before the first success and after it.
 */
export class RequestRecord {
  /** Some request of the job got its vectors. */
  #answered = false;
  /** Requests in a row that lost their connection or got a 5xx past their retries. */
  #serverFailures = 0;

  succeeded(): void {
    this.#answered = true;
    this.#serverFailures = 0;
  }

  /** Judges the error of a request of `inputs` units; `lone` is shared by the halves of one split request. */
  judge(error: EmbeddingsError, inputs: number, lone: LoneFailures): Verdict {
    if (inputs > 1 && shouldSplit(error)) return 'split';
    // The client's retries are spent and nothing ever got through: the server is not there
    // (wrong --base-url, down, a firewall). Failing every input of the job in turn would only
    // repeat this, request after request.
    if (error instanceof APIConnectionError && !this.#answered) return 'halt';
    // A server gone or broken in the middle of the job: what it answered stands, the rest fails unsent.
    const serverFailed = error instanceof APIConnectionError || (error instanceof APIError && error.status >= 500);
    const gone = serverFailed && ++this.#serverFailures >= SERVER_FAILURES_TO_STOP;
    return gone || isFatal(error) || this.#failsEveryInput(inputs, error, lone) ? 'fatal' : 'fail';
  }

  /**
   * Some 400s about the whole request name no field (OpenAI: "This model does not support
   * specifying dimensions"), so they are bisected like a 400 about one input, and every request
   * would end as 2n - 1 requests of one input each. The same such 400 for several lone inputs
   * of one split request, before anything succeeded, is about the request: stop the job instead.
   */
  #failsEveryInput(inputs: number, error: EmbeddingsError, lone: LoneFailures): boolean {
    if (inputs !== 1 || this.#answered) return false;
    if (!(error instanceof APIError) || (error.status !== 400 && error.status !== 422) || Boolean(error.param)) {
      return false;
    }
    if (lone.count > 0 && error.message !== lone.message) return false;
    lone.message = error.message;
    return ++lone.count >= LONE_FAILURES_TO_STOP;
  }
}

/**
 * What a client's server refused for size, per model: the most inputs and tokens one request
 * may hold, as its refusals stated them (Infinity until one does). Every job of the client
 * sizes its requests by it, so a cap costs one refusal per client, not one per job.
 */
export interface LearntCaps {
  inputs: number;
  tokens: number;
  /** Some request for this model got its vectors: the server's caps, if any, were met once. */
  answered: boolean;
}

const learntCaps = new WeakMap<object, Map<string, LearntCaps>>();

/** The caps learnt so far for `model` on `client` (a WeakMap: they go with the client). */
export function learntCapsOf(client: object, model: string): LearntCaps {
  let byModel = learntCaps.get(client);
  if (byModel === undefined) learntCaps.set(client, (byModel = new Map<string, LearntCaps>()));
  let caps = byModel.get(model);
  if (caps === undefined) byModel.set(model, (caps = { inputs: Infinity, tokens: Infinity, answered: false }));
  return caps;
}

/**
 * Learns from a refusal of a request of `inputs` units and `tokens` tokens the cap it states.
 * Returns whether the request is now over a cap, so it must be sent again in parts that fit:
 * `'stated'` when the refusal named the cap, `'guessed'` when it named none ("Too many inputs
 * in request") and the cap became half the request. A cap the request already met by the
 * client's count teaches nothing (undefined): the request is split as any other refusal about
 * its inputs.
 */
export function learnCap(
  error: EmbeddingsError,
  caps: LearntCaps,
  inputs: number,
  tokens: () => number,
): 'stated' | 'guessed' | undefined {
  if (!(error instanceof APIError) || ![400, 413, 422].includes(error.status) || namesOtherField(error)) {
    return undefined;
  }
  const stated = readStatedCap(error.message);
  if (stated === undefined || inputs < 2) return undefined;
  // Counted only for a refusal that states a tokens cap: any other failure leaves the tokenizer unloaded.
  const size = stated.kind === 'inputs' ? inputs : tokens();
  const cap = stated.max ?? Math.floor(size / 2);
  if (cap < 1 || size <= cap) return undefined;
  caps[stated.kind] = Math.min(caps[stated.kind], cap);
  return stated.max === undefined ? 'guessed' : 'stated';
}

/** A 413, or a 400 or 422 that is about the inputs (their total or one of them) rather than another field. */
function shouldSplit(error: EmbeddingsError): boolean {
  if (!(error instanceof APIError)) return false;
  if (error.status === 413) return true;
  // text-embeddings-inference answers 422 to a request its validation refuses, inputs included.
  return (error.status === 400 || error.status === 422) && !namesOtherField(error);
}

/** Errors every other request of the job would get too: stop sending instead of repeating them. */
function isFatal(error: EmbeddingsError): boolean {
  return (
    error instanceof AuthenticationError ||
    error instanceof PermissionDeniedError ||
    error instanceof NotFoundError ||
    error instanceof InvalidArgumentError ||
    (error instanceof RateLimitError && error.code === 'insufficient_quota') ||
    (error instanceof APIError && (error.status === 400 || error.status === 422) && namesOtherField(error))
  );
}

/** OpenAI names the offending field in `param`; anything but the input is shared by every request. */
function namesOtherField(error: APIError): boolean {
  return typeof error.param === 'string' && error.param !== '' && !/^\$?\.?input\b/.test(error.param);
}
