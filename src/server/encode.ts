import { encodeFloat32Base64 } from '../index.js';

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/** Shortest round-tripping decimal through toPrecision: exact for any float32, but slow. */
function formatByPrecision(value: number): string {
  for (let digits = 1; digits < 9; digits++) {
    const text = value.toPrecision(digits);
    if (Math.fround(Number(text)) === value) return String(Number(text));
  }
  return String(Number(value.toPrecision(9)));
}

/**
 * The shortest decimal that reads back as the same float32, as OpenAI prints its vectors
 * (`-0.099287055`). JSON.stringify would print the widened double (`-0.09928705543279648`),
 * twice the bytes and not what clients meet in production.
 *
 * Values of embeddings sit in [1e-4, 1): from 1e-4 to 1e5 it rounds with integer arithmetic, 4× faster
 * than toPrecision, which matters at three million floats per answer. `m / 10^p` is the
 * correctly rounded double of the decimal `m·10^-p`, exactly what parsing the text gives, so
 * the round-trip test is exact. Starting at 6 digits is safe: a float32 is within 6e-8
 * (relative) of its shortest decimal, so rounding to 6 digits reproduces any shorter one.
 */
export function formatFloat32(value: number): string {
  const abs = Math.abs(value);
  if (!(abs >= 1e-4 && abs < 1e5)) return formatByPrecision(value);
  let exponent = Math.floor(Math.log10(abs));
  // log10 may land one off next to a power of ten.
  const power = (n: number) => (n >= 0 ? POW10[n]! : 1 / POW10[-n]!);
  if (abs < power(exponent)) exponent--;
  else if (abs >= power(exponent + 1)) exponent++;
  for (let digits = 6; digits <= 9; digits++) {
    const scale = POW10[digits - 1 - exponent]!;
    const scaled = Math.round(abs * scale);
    if (Math.fround(scaled / scale) !== abs) continue;
    let text = String(scaled);
    // Rounding may carry into a new digit (9.9999995 → 10.000000): the point moves right.
    const pointAt = exponent + 1 + (text.length - digits);
    let end = text.length;
    while (end > 1 && text.charCodeAt(end - 1) === 48) end--;
    text = text.slice(0, end);
    if (pointAt <= 0) text = `0.${'0'.repeat(-pointAt)}${text}`;
    else if (text.length <= pointAt) text += '0'.repeat(pointAt - text.length);
    else text = `${text.slice(0, pointAt)}.${text.slice(pointAt)}`;
    return value < 0 ? `-${text}` : text;
  }
  return formatByPrecision(value);
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
  usage: 'openai' | 'total' | 'none' = 'openai',
): string {
  const items = vectors.map((vector, index) => {
    const embedding = encodingFormat === 'base64' ? `"${encodeFloat32Base64(vector)}"` : floatArray(vector);
    return `{"object":"embedding","index":${index},"embedding":${embedding}}`;
  });
  const head = `{"object":"list","data":[${items.join(',')}],"model":${JSON.stringify(model)}`;
  // Providers differ here: OpenAI's two counts, Voyage's total alone, Gemini's none.
  if (usage === 'none') return `${head}}`;
  if (usage === 'total') return `${head},"usage":{"total_tokens":${promptTokens}}}`;
  return `${head},"usage":{"prompt_tokens":${promptTokens},"total_tokens":${promptTokens}}}`;
}
