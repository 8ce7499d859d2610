/** The JSON body of one `POST /embeddings`, in the words of the server the client's preset names. */
import { InvalidArgumentError } from './errors.js';
import { promptPrefix, type Preset } from './presets.js';
import type { EmbeddingCreateParams } from './schemas.js';

/**
 * `params` as `preset`'s server reads them: `dimensions` under the provider's name for it,
 * `inputType` as its field (or as a prompt prefix before each text, for models that want one;
 * else not sent at all), `encoding_format` base64 where the server answers it and left out
 * where it may not, then `extraBody` as given on top.
 */
export function buildRequestBody(
  preset: Preset,
  params: EmbeddingCreateParams,
  extraBody: Record<string, unknown>,
): Record<string, unknown> {
  const { inputType, dimensions, encoding_format, input, ...rest } = params;
  const prefix = promptPrefix(preset, params.model, inputType);
  const body: Record<string, unknown> = { ...rest, input: prefix === '' ? input : withPrefix(input, prefix, params) };
  // No format from the caller: base64 is a quarter of float JSON's size and decodes far faster.
  const format = encoding_format ?? (preset.base64 ? 'base64' : undefined);
  if (format !== undefined) body.encoding_format = format;
  if (dimensions !== undefined) {
    checkDimensions(preset, dimensions, extraBody);
    body[preset.dimensionsField] = dimensions;
  }
  if (inputType !== undefined && preset.inputType !== undefined) {
    body[preset.inputType.field] = preset.inputType[inputType];
  }
  return Object.assign(body, extraBody);
}

/**
 * `dimensions` for a preset whose server ignores it (Ollama, LM Studio, Cohere's compatibility
 * API) is refused before any request: the server answers the model's own length, and every
 * vector would then fail the length check. A user who knows their server takes it sends the
 * field through `extraBody` (`{ dimensions: 256 }`), which is sent as given; `dimensions` beside
 * it then only sets the length the answer is checked against.
 */
function checkDimensions(preset: Preset, dimensions: number, extraBody: Record<string, unknown>): void {
  if (preset.dimensions || Object.hasOwn(extraBody, preset.dimensionsField)) return;
  throw new InvalidArgumentError(
    `Invalid embeddings params: \`dimensions\` is not sent to preset '${preset.name}', whose server answers the model's own length whatever is asked: leave it out, or pass \`extraBody: { ${preset.dimensionsField}: ${dimensions} }\` if yours takes it (got dimensions: ${dimensions})`,
  );
}

function withPrefix(
  input: EmbeddingCreateParams['input'],
  prefix: string,
  { model }: EmbeddingCreateParams,
): EmbeddingCreateParams['input'] {
  if (typeof input === 'string') return prefix + input;
  if (typeof input[0] === 'string') return (input as string[]).map((text) => prefix + text);
  // Sent without it, the vectors would silently be neither queries nor documents.
  throw new InvalidArgumentError(
    `Invalid embeddings params: \`inputType\` for ${model} is the prompt prefix ${JSON.stringify(prefix)}, which cannot go before token ids: pass texts, or put the prefix's tokens first and leave inputType out (got token-id input)`,
  );
}
