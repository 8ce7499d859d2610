import { endianness } from 'node:os';

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

/**
 * The shortest decimal that reads back as the same float32, as OpenAI prints its vectors
 * (`-0.099287055`). JSON.stringify would print the widened double (`-0.09928705543279648`),
 * twice the bytes and not what clients meet in production.
 */
export function formatFloat32(value: number): string {
  for (let digits = 7; digits < 9; digits++) {
    const text = value.toPrecision(digits);
    if (Math.fround(Number(text)) === value) return String(Number(text));
  }
  return String(Number(value.toPrecision(9)));
}

/** Little-endian float32 bytes in base64, OpenAI's `encoding_format: "base64"`. */
export function toBase64(vector: Float32Array): string {
  if (LITTLE_ENDIAN_HOST) return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString('base64');
  const bytes = Buffer.allocUnsafe(vector.length * 4);
  for (let i = 0; i < vector.length; i++) bytes.writeFloatLE(vector[i]!, i * 4);
  return bytes.toString('base64');
}

function floatArray(vector: Float32Array): string {
  const parts = new Array<string>(vector.length);
  for (let i = 0; i < vector.length; i++) parts[i] = formatFloat32(vector[i]!);
  return `[${parts.join(',')}]`;
}

/**
 * The response body of POST /v1/embeddings, written by hand so each vector is formatted once
 * in its wire form instead of through an intermediate object tree.
 */
export function embeddingsBody(
  vectors: readonly Float32Array[],
  encodingFormat: 'float' | 'base64',
  model: string,
  promptTokens: number,
): string {
  const items = vectors.map((vector, index) => {
    const embedding = encodingFormat === 'base64' ? `"${toBase64(vector)}"` : floatArray(vector);
    return `{"object":"embedding","index":${index},"embedding":${embedding}}`;
  });
  const usage = `{"prompt_tokens":${promptTokens},"total_tokens":${promptTokens}}`;
  return `{"object":"list","data":[${items.join(',')}],"model":${JSON.stringify(model)},"usage":${usage}}`;
}
