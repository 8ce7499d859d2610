/**
 * Reads a server's refusal for the cap it states: "batch size 60 > maximum allowed batch size
 * 32" (text-embeddings-inference), "The max number of inputs is 16" (Azure), "at most 100
 * requests can be in one batch" (Gemini), "Too many tokens in batch. Max is 16384 got 17555"
 * (Mistral). Pure: the job decides what to do with it.
 */

/** What a refusal says a request may hold: inputs or tokens, and how many when it says. */
export interface StatedCap {
  kind: 'inputs' | 'tokens';
  /** The most a request may hold; undefined when the message names no number ("Too many inputs"). */
  max: number | undefined;
}

const N = String.raw`(\d[\d,]*)`;
const ITEMS = String.raw`(?:inputs?|items|texts|strings|documents|embeddings|requests|elements)`;

/** Patterns that state an input cap; the second field is taken off ("less than 512" is at most 511). */
const INPUT_CAPS: [RegExp, number][] = [
  // text-embeddings-inference and gateways copying it: "batch size 60 > maximum allowed batch size 32".
  [new RegExp(String.raw`max(?:imum)?\s+allowed\s+batch\s+size\s+(?:is\s+)?${N}`, 'i'), 0],
  // Azure OpenAI: "Too many inputs. The max number of inputs is 16."
  [new RegExp(String.raw`max(?:imum)?\s+number\s+of\s+${ITEMS}\s+(?:is|allowed\s+is)\s+${N}`, 'i'), 0],
  // Gemini: "at most 100 requests can be in one batch"; "at most 100 inputs".
  [new RegExp(String.raw`\bat\s+most\s+${N}\s+${ITEMS}\b`, 'i'), 0],
  // Cohere: "total number of texts must be at most 96 - received 100".
  [new RegExp(String.raw`\b${ITEMS}\b[^.]*?\bmust\s+(?:be|have|contain)\s+at\s+most\s+${N}`, 'i'), 0],
  // pydantic: "List should have at most 512 items after validation, not 600".
  [new RegExp(String.raw`should\s+have\s+at\s+most\s+${N}\s+${ITEMS}`, 'i'), 0],
  // "must have less than 512 items".
  [new RegExp(String.raw`(?:less|fewer)\s+than\s+${N}\s+${ITEMS}`, 'i'), 1],
  // OpenAI: "Expected an array with maximum length 2048, but got an array with length 3000".
  [new RegExp(String.raw`array\s+with\s+maximum\s+length\s+${N}`, 'i'), 0],
  // DashScope: "batch size is invalid, it should not be larger than 10".
  [new RegExp(String.raw`batch\s+size\b[^.]*?\bnot\s+be\s+larger\s+than\s+${N}`, 'i'), 0],
];

/**
 * Patterns that state a token cap for the whole request. A cap on one input ("maximum context
 * length is 8192 tokens", TEI's "`inputs` must have less than 512 tokens") is not one: the
 * request is split until the long input is alone instead.
 */
const TOKEN_CAPS: [RegExp, number][] = [
  // OpenAI: "Requested 310000 tokens, max 300000 tokens per request".
  [new RegExp(String.raw`max(?:imum)?\s+(?:of\s+)?${N}\s+tokens\s+per\s+(?:request|batch)`, 'i'), 0],
  // Mistral: "Too many tokens in batch. Max is 16384 got 17555".
  [new RegExp(String.raw`tokens\s+in\s+(?:the\s+)?(?:batch|request)\.?\s+max(?:imum)?\s+is\s+${N}`, 'i'), 0],
  // Voyage: "The max allowed tokens per submitted batch is 120000".
  [
    new RegExp(String.raw`max(?:imum)?\s+allowed\s+tokens\s+per\s+(?:submitted\s+)?(?:batch|request)\s+is\s+${N}`, 'i'),
    0,
  ],
  // "at most 8192 tokens per request", "at most 100000 tokens in a batch".
  [new RegExp(String.raw`at\s+most\s+${N}\s+tokens\s+(?:per|in\s+(?:a|one|the|each))\s+(?:request|batch)`, 'i'), 0],
];

/** Refusals about the request's size that name no number. */
const UNNUMBERED: [RegExp, StatedCap['kind']][] = [
  // Mistral: "Too many inputs in request, split into more batches."
  [/\btoo\s+many\s+(?:inputs|texts|items|documents)\b/i, 'inputs'],
  // Mistral: "Too many tokens overall, split into more batches."
  [/\btoo\s+many\s+tokens\s+(?:overall|in\s+(?:the\s+)?(?:batch|request))/i, 'tokens'],
];

function firstMatch(message: string, patterns: [RegExp, number][]): number | undefined {
  for (const [pattern, less] of patterns) {
    const found = pattern.exec(message)?.[1];
    if (found === undefined) continue;
    const value = Number(found.replace(/,/g, '')) - less;
    if (Number.isSafeInteger(value) && value >= 1) return value;
  }
  return undefined;
}

/** The cap `message` states for a whole request, or undefined when it states none. */
export function readStatedCap(message: string): StatedCap | undefined {
  const tokens = firstMatch(message, TOKEN_CAPS);
  if (tokens !== undefined) return { kind: 'tokens', max: tokens };
  const inputs = firstMatch(message, INPUT_CAPS);
  if (inputs !== undefined) return { kind: 'inputs', max: inputs };
  for (const [pattern, kind] of UNNUMBERED) if (pattern.test(message)) return { kind, max: undefined };
  return undefined;
}
