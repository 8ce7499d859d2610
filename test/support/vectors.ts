import { delay, http, HttpResponse } from 'msw';
import { encodeFloat32Base64 } from '../../src/decode.js';

/** A deterministic, unnormalised vector for `text`, so a test can tell which input a vector belongs to. */
export function vectorOf(text: string, dimensions = 8): Float32Array {
  const out = new Float32Array(dimensions);
  for (let i = 0; i < dimensions; i++) out[i] = ((text.charCodeAt(i % Math.max(1, text.length)) || 1) % 17) + i + 1;
  return out;
}

type Format = 'request' | 'float' | 'base64';

/**
 * A well-behaved embeddings endpoint: one vector per input, in the format the request asked
 * for (or a forced one, to play a server that ignores `encoding_format`).
 */
export function embeddingsHandler(
  options: { format?: Format; shuffle?: boolean; headers?: Record<string, string>; delayMs?: number } = {},
) {
  return http.post('*/embeddings', async ({ request }) => {
    if (options.delayMs) await delay(options.delayMs);
    const body = (await request.json()) as { input: unknown; model: string; dimensions?: number; encoding_format?: string };
    const inputs = typeof body.input === 'string' || typeof (body.input as unknown[])[0] === 'number'
      ? [body.input]
      : (body.input as unknown[]);
    const format = options.format === undefined || options.format === 'request' ? body.encoding_format ?? 'float' : options.format;
    const data = inputs.map((input, index) => {
      const vector = vectorOf(String(input), body.dimensions ?? 8);
      return { object: 'embedding', index, embedding: format === 'base64' ? encodeFloat32Base64(vector) : Array.from(vector) };
    });
    if (options.shuffle) data.reverse();
    return HttpResponse.json(
      { object: 'list', data, model: body.model, usage: { prompt_tokens: inputs.length, total_tokens: inputs.length } },
      { headers: { 'x-request-id': 'req_test', ...options.headers } },
    );
  });
}

/** Answers every embeddings request with `body` as JSON (status 200 unless given). */
export function jsonHandler(body: unknown, status = 200, headers: Record<string, string> = {}) {
  return http.post('*/embeddings', () => HttpResponse.json(body as object, { status, headers }));
}
