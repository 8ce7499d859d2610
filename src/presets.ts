/**
 * What each embeddings server people use expects, in one frozen table: where it lives, how many
 * inputs and tokens one request may hold, which request fields it takes for output size and
 * for query/document embedding, and whether it answers base64. A client with `preset` takes its
 * defaults from here; any option the user sets wins. The README's presets table gives the
 * source of each fact.
 */

/** The servers embedrail knows by name; the local server's styles are these (`SERVER_STYLES`). */
export const PRESET_NAMES = Object.freeze([
  'openai',
  'azure',
  'ollama',
  'vllm',
  'tei',
  'lmstudio',
  'voyage',
  'mistral',
  'jina',
  'gemini-openai',
  'cohere-compat',
] as const);
export type PresetName = (typeof PRESET_NAMES)[number];

/** What a text is for, in retrieval: the question asked, or a passage searched. */
export type InputType = 'query' | 'document';
export const INPUT_TYPES = Object.freeze(['query', 'document'] as const satisfies readonly InputType[]);

/** The request field a provider reads the input type from, and its value for each. */
export interface InputTypeField {
  readonly field: string;
  readonly query: string;
  readonly document: string;
}

/** One server's conventions. */
export interface Preset {
  readonly name: PresetName;
  /** API root for `baseURL`; `undefined` where the server runs on your own host. */
  readonly baseURL: string | undefined;
  /**
   * Environment variables the API key is read from, in order, when `apiKey` is not given.
   * Hosted providers other than OpenAI read their own variable only, neither `OPENAI_API_KEY`
   * nor the generic `EMBEDRAIL_API_KEY`: a key set there for OpenAI would be sent to another
   * company.
   */
  readonly apiKeyEnv: readonly string[];
  /**
   * How the key is sent where `apiKeyHeader` is not given: Azure OpenAI's keys go as `api-key`;
   * `undefined` is `Authorization: Bearer`.
   */
  readonly apiKeyHeader?: 'api-key' | undefined;
  /** Most inputs one request may hold; `createMany()`'s `maxInputsPerRequest` default. */
  readonly maxInputsPerRequest: number;
  /** Most tokens one request may hold, as the batch engine counts them; its `maxTokensPerRequest` default. */
  readonly maxTokensPerRequest: number;
  /**
   * How the batch engine counts tokens: `'openai'` is cl100k_base for OpenAI's models and UTF-8
   * bytes for any other; `'utf8-bytes'` is UTF-8 bytes always (an upper bound for BPE tokenizers,
   * since every token covers at least one byte).
   */
  readonly tokenizer: 'openai' | 'utf8-bytes';
  /**
   * Whether the server answers `encoding_format: 'base64'`. Where it does not (or no source says
   * it does), the client leaves `encoding_format` out and the server sends floats.
   */
  readonly base64: boolean;
  /** The request field `dimensions` is sent as. */
  readonly dimensionsField: 'dimensions' | 'output_dimension';
  /**
   * Whether the server honours an output size. Where it does not, `dimensions` is refused
   * before any request (the answer would hold the model's own length and fail the length
   * check), unless the field is passed through `extraBody`, which is sent as given.
   */
  readonly dimensions: boolean;
  /**
   * The rate-limit headers the server sends: OpenAI's six, Azure's remaining-only pair, or none
   * documented. Informational: the client's limiter reads whichever headers an answer carries.
   */
  readonly headerStyle: 'openai' | 'azure' | 'none';
  /** The field `inputType` is sent as; `undefined` where the provider has none. */
  readonly inputType: InputTypeField | undefined;
  /**
   * Whether `inputType` becomes a prompt prefix for models that want one (nomic-embed-text's
   * `search_query: `, e5's `query: `), on servers that run such models as they are.
   */
  readonly promptPrefixes: boolean;
}

/** OpenAI's own caps: 2048 inputs and 300,000 tokens per request (297,000 keeps 1% in reserve). */
const OPENAI_CAPS = { maxInputsPerRequest: 2048, maxTokensPerRequest: 297_000 } as const;
/** A server on your host: no key variable of its own, OpenAI's caps unless it documents others. */
const SELF_HOSTED = {
  baseURL: undefined,
  apiKeyEnv: ['EMBEDRAIL_API_KEY', 'OPENAI_API_KEY'],
  ...OPENAI_CAPS,
  tokenizer: 'utf8-bytes',
  base64: false,
  dimensionsField: 'dimensions',
  dimensions: false,
  headerStyle: 'none',
  inputType: undefined,
  promptPrefixes: true,
} as const satisfies Omit<Preset, 'name'>;

const table: Record<PresetName, Preset> = {
  openai: {
    name: 'openai',
    baseURL: 'https://api.openai.com/v1',
    apiKeyEnv: ['EMBEDRAIL_API_KEY', 'OPENAI_API_KEY'],
    ...OPENAI_CAPS,
    tokenizer: 'openai',
    base64: true,
    dimensionsField: 'dimensions',
    dimensions: true,
    headerStyle: 'openai',
    inputType: undefined,
    promptPrefixes: false,
  },
  // URLs and auth are built by createAzureClient; the row holds what the requests are like.
  azure: {
    name: 'azure',
    baseURL: undefined,
    apiKeyEnv: ['AZURE_OPENAI_API_KEY'],
    apiKeyHeader: 'api-key',
    ...OPENAI_CAPS,
    tokenizer: 'openai',
    base64: true,
    dimensionsField: 'dimensions',
    dimensions: true,
    headerStyle: 'azure',
    inputType: undefined,
    promptPrefixes: false,
  },
  // Ollama and LM Studio (llama.cpp) answer floats and the model's own length whatever is asked.
  ollama: { ...SELF_HOSTED, name: 'ollama', baseURL: 'http://127.0.0.1:11434/v1' },
  vllm: { ...SELF_HOSTED, name: 'vllm', base64: true, dimensions: true },
  // --max-client-batch-size defaults to 32; a larger request is answered 422.
  tei: { ...SELF_HOSTED, name: 'tei', maxInputsPerRequest: 32, base64: true, dimensions: true },
  lmstudio: { ...SELF_HOSTED, name: 'lmstudio', baseURL: 'http://127.0.0.1:1234/v1' },
  voyage: {
    name: 'voyage',
    baseURL: 'https://api.voyageai.com/v1',
    apiKeyEnv: ['VOYAGE_API_KEY'],
    maxInputsPerRequest: 1000,
    // 120K is the smallest per-request total of Voyage's models (voyage-3-large, -code-3...);
    // the lite models take 1M, and a larger maxTokensPerRequest can be given for them.
    maxTokensPerRequest: 120_000,
    tokenizer: 'utf8-bytes',
    base64: true,
    dimensionsField: 'output_dimension',
    dimensions: true,
    headerStyle: 'none',
    inputType: { field: 'input_type', query: 'query', document: 'document' },
    promptPrefixes: false,
  },
  mistral: {
    name: 'mistral',
    baseURL: 'https://api.mistral.ai/v1',
    apiKeyEnv: ['MISTRAL_API_KEY'],
    maxInputsPerRequest: 512,
    maxTokensPerRequest: 16_384,
    tokenizer: 'utf8-bytes',
    base64: true,
    dimensionsField: 'output_dimension',
    dimensions: true,
    headerStyle: 'none',
    inputType: undefined,
    promptPrefixes: false,
  },
  jina: {
    name: 'jina',
    baseURL: 'https://api.jina.ai/v1',
    apiKeyEnv: ['JINA_API_KEY'],
    ...OPENAI_CAPS,
    tokenizer: 'utf8-bytes',
    // Jina's binary forms go through its own `embedding_type`, not `encoding_format`.
    base64: false,
    dimensionsField: 'dimensions',
    dimensions: true,
    headerStyle: 'none',
    inputType: { field: 'task', query: 'retrieval.query', document: 'retrieval.passage' },
    promptPrefixes: false,
  },
  'gemini-openai': {
    name: 'gemini-openai',
    baseURL: 'https://generativelanguage.googleapis.com/v1beta/openai',
    apiKeyEnv: ['GEMINI_API_KEY'],
    maxInputsPerRequest: 100,
    maxTokensPerRequest: OPENAI_CAPS.maxTokensPerRequest,
    tokenizer: 'utf8-bytes',
    base64: false,
    dimensionsField: 'dimensions',
    dimensions: true,
    headerStyle: 'none',
    // Gemini's task_type lives on its native embedContent API; the OpenAI endpoint documents none.
    inputType: undefined,
    promptPrefixes: false,
  },
  'cohere-compat': {
    name: 'cohere-compat',
    baseURL: 'https://api.cohere.ai/compatibility/v1',
    apiKeyEnv: ['COHERE_API_KEY'],
    maxInputsPerRequest: 96,
    maxTokensPerRequest: OPENAI_CAPS.maxTokensPerRequest,
    tokenizer: 'utf8-bytes',
    base64: true,
    dimensionsField: 'dimensions',
    dimensions: false,
    headerStyle: 'none',
    inputType: { field: 'input_type', query: 'search_query', document: 'search_document' },
    promptPrefixes: false,
  },
};

/** A copy of `preset` frozen to its leaves: its key variables and input-type field are shared too. */
function frozenPreset(preset: Preset): Preset {
  const { apiKeyEnv, inputType } = preset;
  return Object.freeze({
    ...preset,
    apiKeyEnv: Object.freeze([...apiKeyEnv]),
    inputType: inputType && Object.freeze({ ...inputType }),
  });
}

/** Every preset by name. Frozen, rows included: a write would change every client's defaults. */
export const PRESETS: Readonly<Record<PresetName, Preset>> = Object.freeze(
  Object.fromEntries(PRESET_NAMES.map((name) => [name, frozenPreset(table[name])])) as Record<PresetName, Preset>,
);

/**
 * Prompt prefixes of models trained with them, by model name: without one, a query and a
 * document land in one undifferentiated space and retrieval quality drops.
 */
const PROMPT_PREFIXES: readonly { model: RegExp; query: string; document: string }[] = [
  { model: /nomic-embed-text/i, query: 'search_query: ', document: 'search_document: ' },
  // e5-small/base/large (v1, v2, multilingual), under any publisher's name; not the -instruct
  // models nor e5-mistral, which take an instruction instead.
  { model: /(^|[/:_-])(multilingual-)?e5-(small|base|large)(?!.*instruct)/i, query: 'query: ', document: 'passage: ' },
];

/** The prefix `preset` puts before each text of `model` for `inputType`, or `''`. */
export function promptPrefix(preset: Preset, model: string, inputType: InputType | undefined): string {
  if (inputType === undefined || !preset.promptPrefixes) return '';
  const rule = PROMPT_PREFIXES.find(({ model: pattern }) => pattern.test(model));
  return rule === undefined ? '' : rule[inputType];
}
