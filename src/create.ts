import type { EmbeddingsClient } from './client.js';
import type { RequestOptions, VectorType } from './options.js';
import type { RateLimiter } from './rate-limit/index.js';
import { requesterOf, type AttemptHooks } from './requester.js';
import { answerReader } from './receive/answer.js';
import type { RowTarget } from './receive/reader.js';
import { buildRequestBody } from './request-body.js';
import { countInputs, readResponse, type AnyVector } from './response.js';
import { parseCreateParams, type EmbeddingCreateParams } from './schemas.js';
import { estimateTokens, learnTokensPerByte } from './token-charge.js';
import type { CreateEmbeddingResponse } from './types.js';

const PATH = '/embeddings';

/**
 * One validated, retried, decoded request. The resource and the batch engine both call it;
 * the batch engine may give `into`, memory of its own that the answer's rows are decoded into.
 */
export async function createEmbeddings(
  client: EmbeddingsClient<VectorType>,
  params: EmbeddingCreateParams,
  options: RequestOptions | undefined,
  hooks: AttemptHooks = {},
  into?: RowTarget,
): Promise<CreateEmbeddingResponse<AnyVector>> {
  const checked = parseCreateParams(params);
  const requester = requesterOf(client);
  const resolved = requester.resolve(options);
  const body = buildRequestBody(requester.options.preset, checked, resolved.extraBody);
  const limiter = hooks.rateLimiter ?? requester.rateLimiter;
  // The batch engine charges what it counted itself; a single call learns and estimates here.
  const size = hooks.tokens === undefined ? measure(checked) : undefined;
  let tokens = hooks.tokens ?? 0;
  if (size !== undefined && paysTokens(limiter))
    tokens = size.tokens + estimateTokens(client, checked.model, size.bytes);
  const trace = await requester.observer.start({
    baseURL: requester.options.baseURL,
    path: PATH,
    model: checked.model,
    input: checked.input,
    encodingFormat: body.encoding_format as string | undefined,
    preset: requester.options.preset.name,
    dimensions: checked.dimensions,
  });
  let result: CreateEmbeddingResponse<AnyVector>;
  try {
    // The answer is read as its chunks arrive, by a reader made for each attempt.
    const receive = answerReader(checked, countInputs(checked.input), resolved, into);
    const response = await requester.post(PATH, body, { ...resolved, receive }, { ...hooks, tokens, trace });
    result = readResponse(PATH, response, checked, resolved);
    trace.succeeded(result);
  } catch (error) {
    trace.failed(error);
    throw error;
  }
  if (size !== undefined) {
    const used = result.usage.prompt_tokens;
    learnTokensPerByte(client, checked.model, size.bytes, used - size.tokens);
    // Texts were charged an estimate: the server's count replaces it.
    if (size.bytes > 0 && tokens > 0 && used > 0) limiter.reconcile?.({ charged: tokens, used });
  }
  return result;
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

/**
 * The size of `params.input` without a tokenizer (loading one and counting every text would
 * cost more than most requests): token ids as they are, texts by their UTF-8 bytes, which the
 * tokens charged are estimated from.
 */
function measure({ input }: EmbeddingCreateParams): { tokens: number; bytes: number } {
  if (typeof input === 'string') return { tokens: 0, bytes: Buffer.byteLength(input, 'utf8') };
  let tokens = 0;
  let bytes = 0;
  for (const item of input) {
    if (typeof item === 'number') tokens += 1;
    else if (typeof item === 'string') bytes += Buffer.byteLength(item, 'utf8');
    else tokens += item.length;
  }
  return { tokens, bytes };
}
