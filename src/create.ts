import type { EmbeddingsClient } from './client.js';
import type { RequestOptions, VectorType } from './options.js';
import { requesterOf, type AttemptHooks } from './requester.js';
import { readResponse, type AnyVector } from './response.js';
import { parseCreateParams, type EmbeddingCreateParams } from './schemas.js';
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
  // No format from the caller: base64 is a quarter of float JSON's size and decodes far faster.
  const body = { ...checked, encoding_format: checked.encoding_format ?? 'base64' };
  const response = await requester.post(PATH, body, resolved, hooks);
  return readResponse(PATH, response, checked, resolved);
}
