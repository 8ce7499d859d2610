/**
 * The one fake embeddings backend of the tests: msw handlers that behave like OpenAI's
 * POST /v1/embeddings: 2048 inputs and 300,000 tokens per request, 8192 tokens per input
 * (counted with cl100k_base, as the client does; a token array counts its length), 400 on
 * empty inputs, OpenAI's error bodies, base64 or float vectors as asked. Each vector is
 * derived from its text, so a test can check that every output belongs to its input.
 * Options fail chosen inputs, rate-limit with OpenAI's headers (or as the local server does,
 * with a short burst window and Azure's or no headers), hold requests back, or play
 * a server that ignores `encoding_format` or answers out of order.
 */
import { createHash } from 'node:crypto';
import { http, HttpResponse, type RequestHandler } from 'msw';
import { normalizeInPlace } from '../../src/decode.js';
import { OpenAIError } from '../../src/server/http.js';
import { RateLimiter as ServerLimits, type ServerRateLimits } from '../../src/server/rate-limit.js';
import { cl100kTokenizer } from '../../src/tokenizer.js';

export const OPENAI_LIMITS = { maxInputs: 2048, maxRequestTokens: 300_000, maxInputTokens: 8192 } as const;

/** The raw vector the fake server returns for `text`: sha256-derived, never zero. */
export function vectorFor(text: string, dimensions = 8): Float32Array {
  const out = new Float32Array(dimensions);
  let block = Buffer.alloc(0);
  for (let i = 0, counter = 0; i < dimensions; i++) {
    if (i % 32 === 0) block = createHash('sha256').update(`${counter++}\0${text}`).digest();
    out[i] = (block[i % 32]! - 127.5) / 64;
  }
  return out;
}

/** What the client should hand back for `text` with `normalize: true`. */
export function expectedVector(text: string, dimensions = 8): number[] {
  return Array.from(normalizeInPlace(vectorFor(text, dimensions)));
}

/** Inputs `${prefix} number ${i}`: short, distinct texts. */
export const numberedTexts = (n: number, prefix = 'text') =>
  Array.from({ length: n }, (_, i) => `${prefix} number ${i}`);

/** About 280 cl100k tokens, different for each i: 2048 of them make about 570,000 tokens. */
export const passage = (i: number) => `passage ${i}: ` + 'the quick brown fox jumps over the lazy dog '.repeat(30);

/** Indexes whose vector is not the (normalised) vector of the text at that index: should be none. */
export function mismatchedIndexes(
  data: { index: number; embedding: ArrayLike<number> }[],
  input: readonly string[],
): number[] {
  return data
    .filter((item) => {
      const expected = expectedVector(input[item.index]!);
      return (
        expected.length !== item.embedding.length || expected.some((x, k) => Math.abs(x - item.embedding[k]!) > 1e-6)
      );
    })
    .map((item) => item.index);
}

/**
 * A `hold` that answers the first request only once `count` requests have arrived (5 s at
 * most, so a broken client fails the test instead of hanging it): the first request is slow.
 */
export function holdFirstUntil(count: number): NonNullable<OpenAILikeOptions['hold']> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  return (request, all) => {
    if (all.length === count) release();
    if (request !== all[0]) return undefined;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 5000);
      void released.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  };
}

/** What one request looked like to the fake server. */
export interface SeenRequest {
  /** The inputs, a token array as its comma-joined tokens (`[1, 2]` is `'1,2'`). */
  texts: string[];
  tokens: number;
  /** Milliseconds (performance.now) when the request arrived and when it was answered. */
  arrivedAt: number;
  answeredAt?: number;
  status?: number;
}

export interface OpenAILikeOptions {
  /** Answer 400 for a request holding a text this returns true for (OpenAI's answer to a bad input). */
  failText?: (text: string) => boolean;
  /** Awaited before answering; hold a request back (slow server) until the promise settles. */
  hold?: (request: SeenRequest, all: SeenRequest[]) => Promise<void> | void;
  /** Answer instead of the normal response (429s, 413s...); `undefined` answers normally. */
  intercept?: (request: SeenRequest, all: SeenRequest[]) => Response | undefined;
  /** Per-minute limits enforced like OpenAI: 429 beyond them, x-ratelimit-* headers on every answer. */
  rateLimit?: RateLimitSpec;
  /**
   * Limits enforced by the local server's own emulation (`createServer`'s): a burst window
   * shorter than the minute, and OpenAI's, Azure's or no rate-limit headers.
   */
  limits?: ServerRateLimits;
  /** Extra headers on every successful answer (x-ratelimit-* from a server that sends them). */
  headers?: Record<string, string>;
  /** Server-side request token cap. @default 300000 */
  maxRequestTokens?: number;
  /** Vectors as the request asked (`'request'`), or always floats or base64, as a server that ignores `encoding_format`. @default 'request' */
  format?: 'request' | 'float' | 'base64';
  /** Answer `data` in reverse order: indexes stay right, positions do not. */
  shuffle?: boolean;
}

export interface OpenAILike {
  handlers: RequestHandler[];
  /** Every request that reached the handler, in arrival order. */
  seen: SeenRequest[];
}

function errorResponse(
  status: number,
  message: string,
  extra: { param?: string | null; code?: string | null; type?: string } = {},
  headers: Record<string, string> = {},
) {
  return HttpResponse.json(
    {
      error: {
        message,
        type: extra.type ?? 'invalid_request_error',
        param: extra.param ?? null,
        code: extra.code ?? null,
      },
    },
    { status, headers },
  );
}

/** Formats ms the way OpenAI's x-ratelimit-reset-* do: `6m0s`, `1s`, `20ms`. */
export function formatReset(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = (ms - minutes * 60_000) / 1000;
  return minutes > 0 ? `${minutes}m${seconds.toFixed(0)}s` : `${seconds.toFixed(3).replace(/\.?0+$/, '')}s`;
}

export function openAILike(options: OpenAILikeOptions = {}): OpenAILike {
  const seen: SeenRequest[] = [];
  const maxRequestTokens = options.maxRequestTokens ?? OPENAI_LIMITS.maxRequestTokens;
  const limiter = options.rateLimit && createLimiter(options.rateLimit);
  const server = options.limits && new ServerLimits(options.limits, () => performance.now(), 'm');

  const handler = http.post('*/embeddings', async ({ request }) => {
    const arrivedAt = performance.now();
    const body = (await request.json()) as {
      model?: unknown;
      input?: unknown;
      dimensions?: number;
      encoding_format?: string;
    };
    const inputs =
      typeof body.input === 'string' || isTokens(body.input)
        ? [body.input]
        : Array.isArray(body.input)
          ? (body.input as unknown[])
          : [];
    const texts = inputs.map((input) => (isTokens(input) ? input.join(',') : (input as string)));
    const counts = inputs.map((input) =>
      typeof input === 'string' ? cl100kTokenizer.count(input) : isTokens(input) ? input.length : 0,
    );
    const tokens = counts.reduce((a, b) => a + b, 0);
    const record: SeenRequest = { texts, tokens, arrivedAt };
    seen.push(record);
    const answer = (response: Response) => {
      record.answeredAt = performance.now();
      record.status = response.status;
      return response;
    };

    await options.hold?.(record, seen);
    const intercepted = options.intercept?.(record, seen);
    if (intercepted) return answer(intercepted);

    const rateHeaders: Record<string, string> = {};
    if (limiter) {
      const verdict = limiter.take(tokens);
      Object.assign(rateHeaders, verdict.headers);
      if (!verdict.ok) {
        return answer(
          errorResponse(
            429,
            `Rate limit reached for requests. Please try again in ${verdict.retryAfterMs}ms.`,
            { type: 'requests', code: 'rate_limit_exceeded' },
            {
              ...rateHeaders,
              'retry-after-ms': String(verdict.retryAfterMs),
              'retry-after': String(Math.ceil(verdict.retryAfterMs / 1000)),
            },
          ),
        );
      }
    }

    if (server) {
      try {
        Object.assign(rateHeaders, server.admit(tokens).headers);
      } catch (error) {
        if (!(error instanceof OpenAIError)) throw error;
        const { type, code, headers } = error;
        return answer(errorResponse(error.status, error.message, { type, code }, headers));
      }
    }

    if (typeof body.model !== 'string' || body.model === '')
      return answer(errorResponse(400, 'you must provide a model parameter', { param: 'model' }));
    if (
      inputs.length === 0 ||
      inputs.some((input) => (typeof input !== 'string' && !isTokens(input)) || input.length === 0)
    ) {
      return answer(
        errorResponse(
          400,
          "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
          { param: 'input' },
        ),
      );
    }
    if (texts.length > OPENAI_LIMITS.maxInputs) {
      return answer(
        errorResponse(400, `'$.input' is invalid: at most ${OPENAI_LIMITS.maxInputs} inputs (got ${texts.length})`, {
          param: 'input',
        }),
      );
    }
    const longest = Math.max(...counts);
    if (longest > OPENAI_LIMITS.maxInputTokens) {
      return answer(
        errorResponse(
          400,
          `This model's maximum context length is ${OPENAI_LIMITS.maxInputTokens} tokens, however you requested ${longest} tokens. Please reduce your prompt.`,
          { param: 'input' },
        ),
      );
    }
    if (tokens > maxRequestTokens) {
      return answer(
        errorResponse(400, `Requested ${tokens} tokens, max ${maxRequestTokens} tokens per request`, {
          type: 'max_tokens_per_request',
          code: 'max_tokens_per_request',
        }),
      );
    }
    const bad = options.failText ? texts.findIndex(options.failText) : -1;
    if (bad !== -1) {
      return answer(
        errorResponse(400, `Invalid content in input at index ${bad}`, { param: 'input', code: 'invalid_input' }),
      );
    }

    const dimensions = body.dimensions ?? 8;
    const format =
      options.format === undefined || options.format === 'request' ? (body.encoding_format ?? 'float') : options.format;
    const data = texts.map((text, index) => {
      const vector = vectorFor(text, dimensions);
      const embedding = format === 'base64' ? Buffer.from(vector.buffer).toString('base64') : Array.from(vector);
      return { object: 'embedding', index, embedding };
    });
    if (options.shuffle) data.reverse();
    return answer(
      HttpResponse.json(
        { object: 'list', data, model: String(body.model), usage: { prompt_tokens: tokens, total_tokens: tokens } },
        { headers: { ...options.headers, ...rateHeaders, 'x-request-id': `req_${seen.length}` } },
      ),
    );
  });
  return { handlers: [handler], seen };
}

/** One token array: OpenAI takes it as one input, as it takes one string. */
function isTokens(input: unknown): input is number[] {
  return Array.isArray(input) && input.length > 0 && input.every((token) => Number.isInteger(token));
}

/** Answers every embeddings request with `body` as JSON (status 200 unless given): a canned answer, not a backend. */
export function jsonHandler(body: unknown, status = 200, headers: Record<string, string> = {}) {
  return http.post('*/embeddings', () => HttpResponse.json(body as object, { status, headers }));
}

/** OpenAI-style continuous buckets; answers carry the six x-ratelimit-* headers. */
/** Limits of the fake server; `startEmpty` makes the very first request wait, so short tests meet the limit. */
export interface RateLimitSpec {
  requestsPerMinute: number;
  tokensPerMinute: number;
  startEmpty?: boolean;
  now?: () => number;
}

function createLimiter(limits: RateLimitSpec) {
  const now = limits.now ?? (() => performance.now());
  const buckets = {
    requests: { limit: limits.requestsPerMinute, level: limits.startEmpty ? 0 : limits.requestsPerMinute, at: now() },
    tokens: { limit: limits.tokensPerMinute, level: limits.startEmpty ? 0 : limits.tokensPerMinute, at: now() },
  };
  const refill = (bucket: { limit: number; level: number; at: number }, t: number) => {
    bucket.level = Math.min(bucket.limit, bucket.level + ((t - bucket.at) * bucket.limit) / 60_000);
    bucket.at = t;
  };
  return {
    take(tokens: number) {
      const t = now();
      refill(buckets.requests, t);
      refill(buckets.tokens, t);
      const ok = buckets.requests.level >= 1 && buckets.tokens.level >= tokens;
      if (ok) {
        buckets.requests.level -= 1;
        buckets.tokens.level -= tokens;
      }
      const untilFull = (b: { limit: number; level: number }) => ((b.limit - b.level) * 60_000) / b.limit;
      const waitFor = (b: { limit: number; level: number }, need: number) =>
        Math.max(0, ((need - b.level) * 60_000) / b.limit);
      const headers = {
        'x-ratelimit-limit-requests': String(buckets.requests.limit),
        'x-ratelimit-limit-tokens': String(buckets.tokens.limit),
        'x-ratelimit-remaining-requests': String(Math.max(0, Math.floor(buckets.requests.level))),
        'x-ratelimit-remaining-tokens': String(Math.max(0, Math.floor(buckets.tokens.level))),
        'x-ratelimit-reset-requests': formatReset(untilFull(buckets.requests)),
        'x-ratelimit-reset-tokens': formatReset(untilFull(buckets.tokens)),
      };
      const retryAfterMs = Math.ceil(Math.max(waitFor(buckets.requests, 1), waitFor(buckets.tokens, tokens)));
      return { ok, headers, retryAfterMs };
    },
  };
}
