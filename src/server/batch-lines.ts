/**
 * The lines of one batch: checked as OpenAI's validation does, then embedded one by one with
 * the server's own embeddings logic, each written to the output or the error file (or, when a
 * fault says so, to neither).
 */
import { localHashEmbedding, localHashEmbeddingOfTokens } from './embedding.js';
import { embeddingsBody } from './encode.js';
import { newId, PieceWriter } from './files.js';
import { newRequestId, OpenAIError } from './http.js';
import { parseEmbeddingRequest, type EmbeddingRequest } from './validate.js';

/** OpenAI's limits on one embeddings batch. */
export interface BatchLimits {
  /** Lines (requests) in an input file. @default 50000 */
  requests: number;
  /** Embedding inputs across every line of a batch. @default 50000 */
  inputs: number;
  /** Size of an input file. @unit bytes @default 209715200 (200 MB) */
  inputFileBytes: number;
}

/** How lines fail on purpose, each a share from 0 to 1 drawn by the server's seeded PRNG. */
export interface LineFaults {
  /** Lines answered 429 or 500, written as OpenAI writes them (`error: null`, the status in `response`). */
  failRate: number;
  /** Lines answered 400 (`invalid_request_error`), in the same shape. */
  rejectRate: number;
  /** Lines written to neither file. */
  missingRate: number;
  /** Write the output in another order than the input. */
  shuffle: boolean;
}

/** An input line that passed validation: its request, or the 400 its body gets. */
export interface ParsedLine {
  customId: string;
  request: EmbeddingRequest | undefined;
  refusal: OpenAIError | undefined;
}

type BatchErrorEntry = { code: string; message: string; param: string | null; line: number | null };

/** Validation stops after this many errors, as OpenAI's report does. */
const MAX_ERRORS = 10;
/** Lines handled between two yields to the event loop. */
const SLICE = 250;

/** The lines of a file held as pieces, each with its 1-based number; blank lines skipped. */
function* linesOf(pieces: Buffer[]): Generator<{ text: string; line: number }> {
  let carry: Buffer[] = [];
  let line = 0;
  for (const piece of pieces) {
    let from = 0;
    for (let at = piece.indexOf(0x0a); at !== -1; at = piece.indexOf(0x0a, from)) {
      line++;
      carry.push(piece.subarray(from, at));
      const text = Buffer.concat(carry).toString('utf8');
      carry = [];
      from = at + 1;
      if (text.trim() !== '') yield { text, line };
    }
    if (from < piece.length) carry.push(piece.subarray(from));
  }
  const rest = Buffer.concat(carry).toString('utf8');
  if (rest.trim() !== '') yield { text: rest, line: line + 1 };
}

/**
 * Checks every line of an input file: JSON, a unique `custom_id`, `POST` to the batch's
 * endpoint, and the limits. A body the embeddings endpoint would refuse does not fail the
 * batch: that line is answered 400 when it runs. `undefined` when the server closed meanwhile.
 */
export async function validateLines(
  pieces: Buffer[],
  bytes: number,
  endpoint: string,
  limits: BatchLimits,
  yieldNow: () => Promise<boolean>,
): Promise<{ lines: ParsedLine[]; tokens: number } | { errors: BatchErrorEntry[] } | undefined> {
  if (bytes > limits.inputFileBytes) {
    return {
      errors: [
        {
          code: 'file_too_large',
          message: `The input file is ${bytes} bytes; a batch input file may hold at most ${limits.inputFileBytes}.`,
          param: 'input_file_id',
          line: null,
        },
      ],
    };
  }
  const errors: BatchErrorEntry[] = [];
  const fail = (code: string, message: string, line: number | null, param: string | null = null) => {
    if (errors.length < MAX_ERRORS) errors.push({ code, message, param, line });
  };
  const lines: ParsedLine[] = [];
  const seen = new Set<string>();
  let tokens = 0;
  let inputs = 0;
  let count = 0;
  for (const { text, line } of linesOf(pieces)) {
    if (++count % SLICE === 0 && !(await yieldNow())) return undefined;
    if (count > limits.requests) continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      fail('invalid_json_line', `Line ${line} is not valid JSON.`, line);
      continue;
    }
    const fields = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
    const customId = fields.custom_id;
    if (typeof customId !== 'string' || customId === '') {
      fail('missing_required_parameter', `Line ${line} has no 'custom_id'.`, line, 'custom_id');
      continue;
    }
    if (seen.has(customId)) {
      fail(
        'duplicate_custom_id',
        `The custom_id '${customId}' of line ${line} is used by another line.`,
        line,
        'custom_id',
      );
      continue;
    }
    seen.add(customId);
    if (fields.method !== 'POST') {
      fail('invalid_method', `Line ${line}: 'method' must be 'POST'.`, line, 'method');
      continue;
    }
    if (fields.url !== endpoint) {
      fail('mismatched_endpoint', `Line ${line}: 'url' must be the batch's endpoint '${endpoint}'.`, line, 'url');
      continue;
    }
    try {
      const request = parseEmbeddingRequest(fields.body);
      tokens += request.totalTokens;
      inputs += request.inputs.length;
      lines.push({ customId, request, refusal: undefined });
    } catch (error) {
      if (!(error instanceof OpenAIError)) throw error;
      lines.push({ customId, request: undefined, refusal: error });
    }
  }
  if (count === 0) fail('empty_file', 'The input file holds no requests.', null, 'input_file_id');
  if (count > limits.requests) {
    fail(
      'request_limit_exceeded',
      `The input file holds ${count} requests; a batch may hold at most ${limits.requests}.`,
      null,
    );
  }
  if (inputs > limits.inputs) {
    fail(
      'input_limit_exceeded',
      `The batch holds ${inputs} embedding inputs; an embeddings batch may hold at most ${limits.inputs} across all its requests.`,
      null,
    );
  }
  return errors.length > 0 ? { errors } : { lines, tokens };
}

export interface ProcessContext {
  /** Lines run before the batch expires: every one after is written `batch_expired`. */
  stopAt: number;
  /** True once the batch was cancelled or the server closed: lines not yet run are left out. */
  stopped: () => boolean;
  counts: { completed: number; failed: number };
  yieldNow: () => Promise<boolean>;
}

/** Runs `lines` in order, writing each to the output or the error file. */
export async function processLines(
  lines: readonly ParsedLine[],
  settings: LineFaults & { model: string; dimensions: number },
  random: () => number,
  context: ProcessContext,
): Promise<{ output: Buffer[]; errors: Buffer[] }> {
  const output = new PieceWriter();
  const errors = new PieceWriter();
  for (const [i, line] of lines.entries()) {
    if (i % SLICE === SLICE - 1 && !(await context.yieldNow())) break;
    if (context.stopped()) break;
    const id = JSON.stringify(newId('batch_req_'));
    const customId = JSON.stringify(line.customId);
    if (i >= context.stopAt) {
      // OpenAI's documented shape for a request the window ran out on.
      errors.write(
        `{"id":${id},"custom_id":${customId},"response":null,"error":{"code":"batch_expired","message":"This request could not be executed before the completion window expired."}}\n`,
      );
      context.counts.failed++;
      continue;
    }
    const answer = runLine(line, settings, random);
    if (answer === 'missing') {
      context.counts.completed++;
      continue;
    }
    const text = `{"id":${id},"custom_id":${customId},"response":{"status_code":${answer.status},"request_id":"${newRequestId()}","body":${answer.body}},"error":null}\n`;
    if (answer.status === 200) {
      output.write(text);
      context.counts.completed++;
    } else {
      errors.write(text);
      context.counts.failed++;
    }
  }
  return { output: output.finish(), errors: errors.finish() };
}

/** One line's answer, as `/v1/embeddings` would give it, or a fault in its place. */
function runLine(
  line: ParsedLine,
  settings: LineFaults & { model: string; dimensions: number },
  random: () => number,
): { status: number; body: string } | 'missing' {
  if (settings.missingRate > 0 && random() < settings.missingRate) return 'missing';
  if (settings.failRate > 0 && random() < settings.failRate) {
    const error =
      random() < 0.5
        ? new OpenAIError(429, 'Rate limit reached for requests (injected by batchFailRate).', {
            type: 'requests',
            code: 'rate_limit_exceeded',
          })
        : new OpenAIError(500, 'The server had an error while processing your request. Sorry about that!');
    return { status: error.status, body: error.toBody() };
  }
  if (settings.rejectRate > 0 && random() < settings.rejectRate) {
    const error = new OpenAIError(400, 'This request was refused on purpose (injected by batchRejectRate).', {
      code: 'invalid_value',
    });
    return { status: 400, body: error.toBody() };
  }
  if (line.request === undefined) return { status: line.refusal!.status, body: line.refusal!.toBody() };
  const { request } = line;
  const dimensions = request.dimensions ?? settings.dimensions;
  const vectors = request.inputs.map((input) =>
    input.tokens ? localHashEmbeddingOfTokens(input.tokens, dimensions) : localHashEmbedding(input.text, dimensions),
  );
  return { status: 200, body: embeddingsBody(vectors, request.encodingFormat, settings.model, request.totalTokens) };
}
