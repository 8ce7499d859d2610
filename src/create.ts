import type { EmbeddingsClient } from './client.js';
import type { RequestOptions, VectorType } from './options.js';
import type { RateLimiter } from './rate-limit/index.js';
import { requesterOf, type AttemptHooks } from './requester.js';
import { answerReader } from './receive/answer.js';
import { buildRequestBody } from './request-body.js';
import { countInputs, readResponse, type AnyVector } from './response.js';
import { parseCreateParams, type EmbeddingCreateParams } from './schemas.js';
import { tokenizerForModel } from './tokenizer.js';
import type { CreateEmbeddingResponse } from './types.js';

const PATH = '/embeddings';

/** One validated, retried, decoded request. The resource and the batch engine both call it. */
export async function createEmbeddings(
  client: EmbeddingsClient<VectorType>,
  params: EmbeddingCreateParams,
  options: RequestOptions | undefined,
  hooks: AttemptHooks = {},
): Promise<CreateEmbeddingResponse<AnyVector>> {
  const checked = parseCreateParams(params);
  const requester = requesterOf(client);
  const resolved = requester.resolve(options);
  const body = buildRequestBody(requester.options.preset, checked, resolved.extraBody);
  const limiter = hooks.rateLimiter ?? requester.rateLimiter;
  const tokens = hooks.tokens ?? (paysTokens(limiter) ? countTokens(checked) : 0);
  // The answer is read as its chunks arrive, by a reader made for each attempt.
  const receive = answerReader(checked, countInputs(checked.input), resolved);
  const response = await requester.post(PATH, body, { ...resolved, receive }, { ...hooks, tokens });
  return readResponse(PATH, response, checked, resolved);
}

/**
 * Whether `limiter` has a tokens budget to charge. Counting costs a tokenizer pass over every
 * input, which buys nothing while no tokens limit is configured or learnt (the answers'
 * `remaining-tokens` keep the budget true either way). A limiter that cannot say is charged.
 */
function paysTokens(limiter: RateLimiter): boolean {
  const belief = limiter.snapshot?.().tokens;
  return belief === undefined || belief.perMinute !== undefined || belief.burst !== undefined;
}

/** Tokens of `params.input` as the batch engine counts them: token ids as they are, texts with the model's tokenizer. */
function countTokens({ input, model }: EmbeddingCreateParams): number {
  const tokenizer = tokenizerForModel(model);
  if (typeof input === 'string') return tokenizer.count(input);
  let total = 0;
  for (const item of input) {
    if (typeof item === 'number') total += 1;
    else if (typeof item === 'string') total += tokenizer.count(item);
    else total += item.length;
  }
  return total;
}
