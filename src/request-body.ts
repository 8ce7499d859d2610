/** The JSON body of one `POST /embeddings`, in the words of the server the client's preset names. */
import { InvalidArgumentError } from './errors.js';
import { promptPrefix, type Preset } from './presets.js';
import type { EmbeddingCreateParams } from './schemas.js';

/** Body fields the client sets from `params`: `extraBody` may not hold them. */
export const RESERVED_BODY_FIELDS = ['model', 'input', 'encoding_format'] as const;

/** Throws when `extraBody` holds a field `params` sets, naming it and where it belongs. */
export function checkExtraBody(extraBody: Record<string, unknown> | undefined, where: string): void {
  if (extraBody === undefined) return;
  const taken = RESERVED_BODY_FIELDS.find((field) => Object.hasOwn(extraBody, field));
  if (taken !== undefined) {
    throw new InvalidArgumentError(
      `Invalid ${where}: \`extraBody.${taken}\` is set from the params; pass \`${taken}\` there (got extraBody with ${taken})`,
    );
  }
}

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
  if (dimensions !== undefined) body[preset.dimensionsField] = dimensions;
  if (inputType !== undefined && preset.inputType !== undefined) {
    body[preset.inputType.field] = preset.inputType[inputType];
  }
  return Object.assign(body, extraBody);
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
