import { cl100kTokenizer } from '../index.js';
import { OpenAIError } from './http.js';

/** OpenAI's caps on one embeddings request. */
export const MAX_INPUTS = 2048;
export const MAX_TOKENS_PER_INPUT = 8192;
export const MAX_TOKENS_PER_REQUEST = 300_000;
/** text-embedding-3-large's native size, the largest `dimensions` OpenAI serves. */
export const MAX_DIMENSIONS = 3072;
/** cl100k_base's largest token id (special tokens included). */
export const MAX_TOKEN_ID = 100_276;

const FIELDS = new Set(['model', 'input', 'encoding_format', 'dimensions', 'user']);

/** One input as the embedder sees it: text, or ids to embed as tokens. */
export type EmbeddingInput = { text: string; tokens?: undefined } | { text?: undefined; tokens: number[] };

export interface EmbeddingRequest {
  model: string;
  inputs: EmbeddingInput[];
  /** cl100k token count of each input, in order. */
  tokenCounts: number[];
  totalTokens: number;
  encodingFormat: 'float' | 'base64';
  dimensions: number | undefined;
}

/** How OpenAI's messages name a JSON value's type ("got an integer instead"). */
function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a decimal';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'boolean') return 'a boolean';
  return 'an object';
}

function invalidType(param: string, expected: string, value: unknown): OpenAIError {
  return new OpenAIError(
    400,
    `Invalid type for '${param}': expected ${expected}, but got ${describeType(value)} instead.`,
    { param, code: 'invalid_type' },
  );
}

function checkTokenArray(tokens: unknown[], param: string): number[] {
  if (tokens.length === 0) {
    throw new OpenAIError(
      400,
      `Invalid '${param}': empty array. Expected an array with minimum length 1, but got an empty array instead.`,
      { param, code: 'empty_array' },
    );
  }
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (typeof token !== 'number' || !Number.isInteger(token)) {
      throw invalidType(`${param}[${i}]`, 'an integer token id', token);
    }
    if (token < 0 || token > MAX_TOKEN_ID) {
      throw new OpenAIError(
        400,
        `Invalid '${param}[${i}]': token id out of range. Expected a value between 0 and ${MAX_TOKEN_ID}, but got ${token} instead.`,
        { param: `${param}[${i}]`, code: 'invalid_value' },
      );
    }
  }
  return tokens as number[];
}

function checkText(text: string, param: string): string {
  if (text.length === 0) {
    throw new OpenAIError(
      400,
      `Invalid '${param}': string too short. Expected a string with minimum length 1, but got an empty string instead.`,
      { param, code: 'string_below_min_length' },
    );
  }
  return text;
}

const INPUT_TYPES = 'a string, an array of strings, an array of integers, or an array of arrays of integers';

function parseInputs(input: unknown): EmbeddingInput[] {
  if (input === undefined || input === null) {
    throw new OpenAIError(400, "Missing required parameter: 'input'.", {
      param: 'input',
      code: 'missing_required_parameter',
    });
  }
  if (typeof input === 'string') return [{ text: checkText(input, 'input') }];
  if (!Array.isArray(input)) throw invalidType('input', INPUT_TYPES, input);
  if (input.length === 0) {
    throw new OpenAIError(
      400,
      "Invalid 'input': empty array. Expected an array with minimum length 1, but got an empty array instead.",
      { param: 'input', code: 'empty_array' },
    );
  }
  const first: unknown = input[0];
  // A flat array of integers is one input (a token array), not many.
  if (typeof first === 'number') return [{ tokens: checkTokenArray(input, 'input') }];
  if (input.length > MAX_INPUTS) {
    throw new OpenAIError(
      400,
      `Invalid 'input': array too long. Expected an array with maximum length ${MAX_INPUTS}, but got an array with length ${input.length} instead.`,
      { param: 'input', code: 'array_above_max_length' },
    );
  }
  if (typeof first === 'string') {
    return input.map((item: unknown, i) => {
      if (typeof item !== 'string') throw invalidType(`input[${i}]`, 'a string', item);
      return { text: checkText(item, `input[${i}]`) };
    });
  }
  if (Array.isArray(first)) {
    return input.map((item: unknown, i) => {
      if (!Array.isArray(item)) throw invalidType(`input[${i}]`, 'an array of integers', item);
      return { tokens: checkTokenArray(item, `input[${i}]`) };
    });
  }
  throw invalidType('input[0]', 'a string, an integer or an array of integers', first);
}

function parseEncodingFormat(value: unknown): 'float' | 'base64' {
  if (value === undefined || value === null) return 'float';
  if (value === 'float' || value === 'base64') return value;
  if (typeof value !== 'string') throw invalidType('encoding_format', 'a string', value);
  throw new OpenAIError(
    400,
    `Invalid value for 'encoding_format': '${value}'. Supported values are: 'float' and 'base64'.`,
    { param: 'encoding_format', code: 'invalid_value' },
  );
}

function parseDimensions(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw invalidType('dimensions', 'an integer', value);
  if (value < 1) {
    throw new OpenAIError(
      400,
      `Invalid 'dimensions': integer below minimum value. Expected a value >= 1, but got ${value} instead.`,
      { param: 'dimensions', code: 'integer_below_min_value' },
    );
  }
  if (value > MAX_DIMENSIONS) {
    throw new OpenAIError(
      400,
      `Invalid 'dimensions': integer above maximum value. Expected a value <= ${MAX_DIMENSIONS}, but got ${value} instead.`,
      { param: 'dimensions', code: 'integer_above_max_value' },
    );
  }
  return value;
}

/**
 * Counting stops a little past the limits, so one hostile input (a run of 10 MB) holds the event
 * loop, and every other client, no longer than counting 9216 tokens takes (tens of ms). 1024
 * past the limit, as the batch planner counts, still names the size of a near miss; the server
 * keeps its own figure because it reaches the library only through its public entry point.
 */
const INPUT_COUNT_CAP = MAX_TOKENS_PER_INPUT + 1024;

function countTokens(inputs: EmbeddingInput[]): { tokenCounts: number[]; totalTokens: number; complete: boolean } {
  const tokenCounts: number[] = [];
  let totalTokens = 0;
  for (const [i, input] of inputs.entries()) {
    const count = input.tokens ? input.tokens.length : cl100kTokenizer.countUpTo(input.text, INPUT_COUNT_CAP);
    if (count > MAX_TOKENS_PER_INPUT) {
      const param = inputs.length === 1 ? 'input' : `input[${i}]`;
      const requested = count > INPUT_COUNT_CAP ? `more than ${INPUT_COUNT_CAP}` : String(count);
      throw new OpenAIError(
        400,
        `This model's maximum context length is ${MAX_TOKENS_PER_INPUT} tokens, however you requested ${requested} tokens in '${param}'. Please reduce your prompt.`,
        { param, code: 'context_length_exceeded' },
      );
    }
    tokenCounts.push(count);
    totalTokens += count;
    // Past the request's limit the answer is a 400 whatever the rest holds, so the rest of the
    // texts are left uncounted (token arrays, all or none of a request, cost nothing to count).
    if (totalTokens > MAX_TOKENS_PER_REQUEST && input.text !== undefined && i < inputs.length - 1) {
      return { tokenCounts, totalTokens, complete: false };
    }
  }
  return { tokenCounts, totalTokens, complete: true };
}

/**
 * Checks a parsed JSON body the way OpenAI's embeddings endpoint does, in the same order:
 * unknown fields, model, input shape, options, then token limits (the costly part last).
 * @throws OpenAIError (400) naming the offending parameter and value.
 */
export function parseEmbeddingRequest(body: unknown): EmbeddingRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new OpenAIError(
      400,
      `Invalid type for request body: expected an object, but got ${describeType(body)} instead.`,
    );
  }
  const fields = body as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!FIELDS.has(key)) throw new OpenAIError(400, `Unrecognized request argument supplied: ${key}`);
  }
  const { model, user } = fields;
  if (model === undefined || model === null || model === '') {
    throw new OpenAIError(400, 'you must provide a model parameter');
  }
  if (typeof model !== 'string') throw invalidType('model', 'a string', model);
  const inputs = parseInputs(fields.input);
  const encodingFormat = parseEncodingFormat(fields.encoding_format);
  const dimensions = parseDimensions(fields.dimensions);
  if (user !== undefined && user !== null && typeof user !== 'string') throw invalidType('user', 'a string', user);
  const { tokenCounts, totalTokens, complete } = countTokens(inputs);
  if (totalTokens > MAX_TOKENS_PER_REQUEST) {
    // OpenAI's own wording and type for this case; clients split the batch on it.
    const requested = complete ? String(totalTokens) : `more than ${totalTokens}`;
    throw new OpenAIError(400, `Requested ${requested} tokens, max ${MAX_TOKENS_PER_REQUEST} tokens per request`, {
      type: 'max_tokens_per_request',
      code: 'max_tokens_per_request',
    });
  }
  return { model, inputs, tokenCounts, totalTokens, encodingFormat, dimensions };
}
