/**
 * The providers the local server can play: each style is a row of data (caps, the request
 * fields the provider reads, what it does with a field it does not know, its usage shape, its
 * rate-limit headers) and the bodies it refuses with, in the provider's own words. Each fact
 * carries the page it comes from. Azure's URLs and auth need code: see azure.ts.
 */
import { PRESET_NAMES } from '../index.js';
import type { RateLimitHeaderStyle } from './options.js';
import { MAX_INPUTS, MAX_TOKENS_PER_REQUEST } from './validate.js';

/** The style names: the client's preset names, so each preset has a server playing it. */
export const SERVER_STYLES = PRESET_NAMES;
export type ServerStyleName = (typeof SERVER_STYLES)[number];

/** Why the server refused a request, as `stats.refused` counts them. */
export type RefusalReason = 'inputs' | 'tokens' | 'field' | 'deployment' | 'auth';

/** A refusal in a provider's own status and body (OpenAI's body is one of them). */
export class ProviderRefusal extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly reason: RefusalReason,
  ) {
    super(typeof body === 'string' ? body : JSON.stringify(body));
    this.name = 'ProviderRefusal';
  }
}

/** What a style answers and accepts. */
export interface ServerStyle {
  /** Inputs one request may hold: the documented cap, or OpenAI's where none is documented. */
  maxInputs: number;
  /** Tokens (cl100k) one request may hold, all inputs together. */
  maxTokens: number;
  /** Request fields read besides `model` and `input`. */
  fields: readonly string[];
  /** A field the provider does not know: refused with its error, or silently dropped. */
  unknownFields: 'refuse' | 'ignore';
  /** The field that sets the vector length; undefined: the model's own length, whatever is asked. */
  dimensionsField: 'dimensions' | 'output_dimension' | undefined;
  /** `encoding_format: 'base64'` honoured; otherwise the answer holds float arrays whatever is asked. */
  base64: boolean;
  /** `usage` of a 200: OpenAI's two counts, `{ total_tokens }` alone, or no `usage` at all. */
  usage: 'openai' | 'total' | 'none';
  /** Rate-limit headers when `rpm`/`tpm` are set, unless `headerStyle` says otherwise. */
  headerStyle: RateLimitHeaderStyle;
  tooManyInputs(sent: number, max: number): ProviderRefusal;
  tooManyTokens(sent: number, max: number, model: string): ProviderRefusal;
  unknownField(name: string, value: unknown): ProviderRefusal;
}

/** OpenAI's error body, which Azure, Ollama, LM Studio and vLLM's gateways copy. */
function openAIBody(message: string, fields: { type?: string; param?: string | null; code?: string | null } = {}) {
  return {
    error: {
      message,
      type: fields.type ?? 'invalid_request_error',
      param: fields.param ?? null,
      code: fields.code ?? null,
    },
  };
}

const OPENAI: ServerStyle = {
  // https://platform.openai.com/docs/api-reference/embeddings/create: 2048 inputs, 300,000 tokens a request.
  maxInputs: MAX_INPUTS,
  maxTokens: MAX_TOKENS_PER_REQUEST,
  fields: ['encoding_format', 'dimensions', 'user'],
  // OpenAI answers any other field with 400 "Unrecognized request argument supplied: <name>".
  unknownFields: 'refuse',
  dimensionsField: 'dimensions',
  base64: true,
  usage: 'openai',
  headerStyle: 'openai',
  tooManyInputs: (sent, max) =>
    new ProviderRefusal(
      400,
      openAIBody(
        `Invalid 'input': array too long. Expected an array with maximum length ${max}, but got an array with length ${sent} instead.`,
        { param: 'input', code: 'array_above_max_length' },
      ),
      'inputs',
    ),
  tooManyTokens: (sent, max) =>
    new ProviderRefusal(
      400,
      openAIBody(`Requested ${sent} tokens, max ${max} tokens per request`, {
        type: 'max_tokens_per_request',
        code: 'max_tokens_per_request',
      }),
      'tokens',
    ),
  unknownField: (name) =>
    new ProviderRefusal(400, openAIBody(`Unrecognized request argument supplied: ${name}`), 'field'),
};

/** Styles whose servers drop what they do not know (serde, Go's encoding/json, pydantic's default). */
const LENIENT = { unknownFields: 'ignore', headerStyle: 'none' } as const;

/** A cap an OpenAI-shaped server states in OpenAI's body (Ollama, LM Studio put none in their docs). */
function openAIShapedCap(sent: number, max: number): ProviderRefusal {
  return new ProviderRefusal(
    400,
    openAIBody(`Too many inputs: ${sent}. At most ${max} inputs are allowed per request.`, { param: 'input' }),
    'inputs',
  );
}

const STYLES: Record<ServerStyleName, ServerStyle> = {
  openai: OPENAI,
  azure: {
    ...OPENAI,
    // https://learn.microsoft.com/en-us/azure/ai-services/openai/quotas-limits: 2048 inputs per
    // embeddings request (it was 16, then 1, on older deployments).
    headerStyle: 'azure',
    // The words older deployments answered with, quoted in
    // https://github.com/microsoft/semantic-kernel/issues/2099 and
    // https://github.com/Mintplex-Labs/anything-llm/issues/184.
    tooManyInputs: (_sent, max) =>
      new ProviderRefusal(
        400,
        openAIBody(
          `Too many inputs. The max number of inputs is ${max}.  We hope to increase the number of inputs per request soon. Please contact us through an Azure support request at: https://go.microsoft.com/fwlink/?linkid=2213926 for further questions.`,
        ),
        'inputs',
      ),
  },
  tei: {
    ...OPENAI,
    ...LENIENT,
    // text-embeddings-inference --max-client-batch-size defaults to 32
    // (https://huggingface.co/docs/text-embeddings-inference/cli_arguments); a larger request gets
    // 422 with this body (https://github.com/huggingface/text-embeddings-inference/issues/378).
    maxInputs: 32,
    // OpenAICompatRequest: input, model, encoding_format (float | base64), dimensions, user.
    fields: ['encoding_format', 'dimensions', 'user'],
    tooManyInputs: (sent, max) =>
      new ProviderRefusal(
        422,
        { error: `batch size ${sent} > maximum allowed batch size ${max}`, error_type: 'Validation' },
        'inputs',
      ),
  },
  ollama: {
    ...OPENAI,
    ...LENIENT,
    // https://github.com/ollama/ollama/blob/main/docs/openai.md (/v1/embeddings: model, input).
    // It answers float arrays whatever `encoding_format` asks
    // (https://github.com/ollama/ollama/issues/6934) and the model's own length whatever
    // `dimensions` asks (https://github.com/fredrikburmester/streamystats/pull/380).
    fields: ['encoding_format', 'dimensions', 'user'],
    dimensionsField: undefined,
    base64: false,
    tooManyInputs: openAIShapedCap,
  },
  lmstudio: {
    ...OPENAI,
    ...LENIENT,
    // https://lmstudio.ai/docs/app/api/endpoints/openai (/v1/embeddings: model, input); like
    // Ollama, llama.cpp underneath answers floats and the model's own length.
    fields: ['encoding_format', 'dimensions', 'user'],
    dimensionsField: undefined,
    base64: false,
    tooManyInputs: openAIShapedCap,
  },
  vllm: {
    ...OPENAI,
    ...LENIENT,
    // https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html#embeddings-api:
    // OpenAI's fields plus truncate_prompt_tokens, add_special_tokens, priority; extra fields
    // are logged and ignored. Errors: { object: 'error', message, type, param, code }.
    fields: ['encoding_format', 'dimensions', 'user', 'truncate_prompt_tokens', 'add_special_tokens', 'priority'],
    tooManyInputs: (sent, max) =>
      new ProviderRefusal(
        400,
        {
          object: 'error',
          message: `This server accepts at most ${max} inputs per request, got ${sent}.`,
          type: 'BadRequestError',
          param: null,
          code: 400,
        },
        'inputs',
      ),
  },
  voyage: {
    ...OPENAI,
    ...LENIENT,
    // https://docs.voyageai.com/reference/embeddings-api: at most 1,000 inputs, and 120K tokens
    // for voyage-3-large and voyage-code-3 (320K and 1M for smaller models); fields input_type,
    // truncation, output_dimension, output_dtype, encoding_format (null or base64); usage
    // { total_tokens } only.
    maxInputs: 1000,
    maxTokens: 120_000,
    fields: ['input_type', 'truncation', 'output_dimension', 'output_dtype', 'encoding_format'],
    dimensionsField: 'output_dimension',
    usage: 'total',
    // Voyage's errors are { detail }; its token refusal is quoted in
    // https://github.com/sigoden/aichat/pull/825, its input-count refusal worded alike.
    tooManyInputs: (sent, max) =>
      new ProviderRefusal(
        400,
        { detail: `The max allowed batch size is ${max}. Your batch has ${sent} inputs. Please lower the batch size.` },
        'inputs',
      ),
    tooManyTokens: (sent, max, model) =>
      new ProviderRefusal(
        400,
        {
          detail: `Request to model '${model}' failed. The max allowed tokens per submitted batch is ${max}. Your batch has ${sent} tokens after truncation. Please lower the number of tokens in the batch.`,
        },
        'tokens',
      ),
  },
  mistral: {
    ...OPENAI,
    // https://docs.mistral.ai/api/endpoint/embeddings: model, input, output_dimension,
    // output_dtype, encoding_format (float | base64); 512 inputs and 16,384 tokens a request
    // (https://github.com/raphaelmansuy/edgequake-llm/pull/74,
    // https://github.com/aurelio-labs/semantic-router/issues/297). Its validation refuses extra
    // fields with 422 "Extra inputs are not permitted".
    maxInputs: 512,
    maxTokens: 16_384,
    headerStyle: 'none',
    fields: ['encoding_format', 'output_dimension', 'output_dtype'],
    dimensionsField: 'output_dimension',
    tooManyInputs: () =>
      new ProviderRefusal(
        400,
        {
          object: 'error',
          message: 'Too many inputs in request, split into more batches.',
          type: 'invalid_request_prompt',
          param: null,
          code: '3210',
        },
        'inputs',
      ),
    tooManyTokens: (sent, max) =>
      new ProviderRefusal(
        400,
        {
          object: 'error',
          message: `Too many tokens in batch. Max is ${max} got ${sent}`,
          type: 'invalid_request_error',
          param: null,
          code: null,
        },
        'tokens',
      ),
    unknownField: (name, value) =>
      new ProviderRefusal(
        422,
        {
          object: 'error',
          message: {
            detail: [
              { type: 'extra_forbidden', loc: ['body', name], msg: 'Extra inputs are not permitted', input: value },
            ],
          },
          type: 'invalid_request_error',
          param: null,
          code: null,
        },
        'field',
      ),
  },
  jina: {
    ...OPENAI,
    ...LENIENT,
    // https://jina.ai/embeddings/ (API): model, input, task (retrieval.query, retrieval.passage,
    // ...), dimensions, late_chunking, embedding_type, normalized, truncate; 2048 inputs.
    // `encoding_format` is not Jina's: floats come back unless `embedding_type` says otherwise.
    fields: ['task', 'dimensions', 'late_chunking', 'embedding_type', 'normalized', 'truncate', 'user'],
    base64: false,
    tooManyInputs: (sent, max) =>
      new ProviderRefusal(
        400,
        { detail: `Too many inputs: ${sent}. The maximum number of inputs is ${max}.` },
        'inputs',
      ),
  },
  'gemini-openai': {
    ...OPENAI,
    // https://ai.google.dev/gemini-api/docs/openai#embeddings: model, input, dimensions; at most
    // 100 inputs (https://github.com/geldata/gel/issues/9032 quotes the refusal). Google's APIs
    // refuse a field they do not know. Answers carry floats and no usage.
    maxInputs: 100,
    headerStyle: 'none',
    fields: ['encoding_format', 'dimensions'],
    base64: false,
    usage: 'none',
    tooManyInputs: (_sent, max) =>
      new ProviderRefusal(
        400,
        {
          error: {
            code: 400,
            message: `* BatchEmbedContentsRequest.requests: at most ${max} requests can be in one batch\n`,
            status: 'INVALID_ARGUMENT',
          },
        },
        'inputs',
      ),
    unknownField: (name) =>
      new ProviderRefusal(
        400,
        {
          error: {
            code: 400,
            message: `Invalid JSON payload received. Unknown name "${name}": Cannot find field.`,
            status: 'INVALID_ARGUMENT',
          },
        },
        'field',
      ),
  },
  'cohere-compat': {
    ...OPENAI,
    ...LENIENT,
    // https://docs.cohere.com/docs/compatibility-api: model, input, encoding_format (float |
    // base64), input_type; 96 texts a request (https://docs.cohere.com/reference/embed), refused
    // in Cohere's words.
    maxInputs: 96,
    fields: ['encoding_format', 'input_type'],
    dimensionsField: undefined,
    tooManyInputs: (sent, max) =>
      new ProviderRefusal(
        400,
        { message: `invalid request: total number of texts must be at most ${max} - received ${sent}` },
        'inputs',
      ),
  },
};

/** The style called `name`. */
export function styleOf(name: ServerStyleName): ServerStyle {
  return STYLES[name];
}

/** The fields every style reads, whatever else it does. */
const CORE_FIELDS = new Set(['model', 'input']);

/** What a style made of a request body: OpenAI's fields, and the provider's own it received. */
export interface StyledRequest {
  /** The body as OpenAI's validation reads it: model, input, and the options the style honours. */
  body: unknown;
  /** Every field the request carried but `model` and `input`, as sent. */
  fields: Record<string, unknown>;
}

/** Inputs a request holds: a flat array of numbers is one input (token ids), as in OpenAI's API. */
function inputCount(input: unknown): number {
  if (!Array.isArray(input)) return 1;
  return typeof input[0] === 'number' ? 1 : input.length;
}

/**
 * Reads a request body as `style`'s provider does: refuses or drops the fields it does not
 * know, refuses more inputs than `maxInputs`, maps its name for the vector length to
 * `dimensions` and drops `encoding_format` where the provider ignores it.
 * @throws ProviderRefusal in the provider's words.
 */
export function readStyled(style: ServerStyle, parsed: unknown, maxInputs: number): StyledRequest {
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { body: parsed, fields: {} };
  const source = parsed as Record<string, unknown>;
  const known = new Set(style.fields);
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(source)) {
    if (CORE_FIELDS.has(key)) continue;
    if (!known.has(key) && style.unknownFields === 'refuse') throw style.unknownField(key, value);
    fields[key] = value;
  }
  const count = inputCount(source.input);
  if (count > maxInputs) throw style.tooManyInputs(count, maxInputs);
  const body: Record<string, unknown> = { model: source.model, input: source.input };
  if (style.base64 && known.has('encoding_format') && 'encoding_format' in source) {
    body.encoding_format = source.encoding_format;
  }
  if (known.has('user') && 'user' in source) body.user = source.user;
  const dimensions = style.dimensionsField === undefined ? undefined : source[style.dimensionsField];
  if (dimensions !== undefined) body.dimensions = dimensions;
  return { body, fields };
}
