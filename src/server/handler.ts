import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline, type Readable } from 'node:stream';
import type { BatchStore } from './batches.js';
import { deleteFile, fileContent, uploadFile, type FileStore } from './files.js';
import { localHashEmbedding, localHashEmbeddingOfTokens } from './embedding.js';
import { embeddingsBody } from './encode.js';
import { BAD_GATEWAY_HTML, type FaultInjector, type FaultStatus } from './faults.js';
import { formatDuration, newRequestId, OpenAIError, readBody, send } from './http.js';
import type { RateLimiter } from './rate-limit.js';
import { azureRoute, deploymentNotFound, type AzureAuth } from './azure.js';
import { ProviderRefusal, readStyled, type RefusalReason, type ServerStyle } from './styles.js';
import { parseEmbeddingRequest } from './validate.js';

/** Counters of what the server answered, for benchmarks and tests that count at the wire. */
export interface ServerStats {
  /** Every HTTP request received, whatever its route or outcome. */
  requests: number;
  /** POST /v1/embeddings requests answered 200. */
  embeddings: number;
  /** Inputs embedded in those 200 answers. */
  inputs: number;
  /** 429s sent because a rpm or tpm limit was reached (injected faults not included). */
  rateLimited: number;
  /** Failures injected by `failRate`, by status. */
  faults: Record<FaultStatus, number>;
  /**
   * Requests refused in the style's words, by reason: more inputs or tokens than a request may
   * hold, a field the provider does not know, an unknown deployment (azure), no or an expired
   * credential (azure).
   */
  refused: Record<RefusalReason, number>;
  /** Embeddings requests that carried each field other than `model` and `input`. */
  fields: Record<string, number>;
  /** The fields other than `model` and `input` of the last embeddings request read, as sent. */
  lastFields: Record<string, unknown> | undefined;
}

export interface HandlerContext {
  model: string;
  style: ServerStyle;
  /** Inputs a request may hold: `maxInputsPerRequest`, or the style's cap. */
  maxInputs: number;
  /** The azure style's credentials and deployments; undefined for every other style. */
  azure: { auth: AzureAuth; deployments: readonly string[] } | undefined;
  dimensions: number;
  latency: number;
  maxBodyBytes: number;
  limiter: RateLimiter;
  faults: FaultInjector;
  stats: ServerStats;
  /** Waits `ms` unless the server closes first; resolves false then. */
  delay(ms: number): Promise<boolean>;
  /** The Files API's files, in memory. */
  files: FileStore;
  /** The Batch API's batches. */
  batches: BatchStore;
}

export type Answer = {
  status: number;
  body: string;
  headers: Record<string, string>;
  contentType?: string;
  /** The request body was left unread: destroy the socket once the answer is out. */
  cutOff?: boolean;
  /** A body streamed instead of `body` (a file's content), with backpressure. */
  stream?: Readable;
};

function errorAnswer(error: OpenAIError): Answer {
  return { status: error.status, body: error.toBody(), headers: error.headers };
}

function refusalAnswer(refusal: ProviderRefusal): Answer {
  return { status: refusal.status, body: JSON.stringify(refusal.body), headers: {} };
}

/** What an injected 429 advises. @unit ms */
const INJECTED_RETRY_AFTER_MS = 200;

/**
 * Failures a client should retry, each as a real provider sends it. An injected 429 carries
 * the configured header style, as the limits' own 429s do: a client tested against injected
 * faults meets the advice its server really sends.
 */
function faultAnswer(status: FaultStatus, limiter: RateLimiter): Answer {
  switch (status) {
    case 500:
      return errorAnswer(
        new OpenAIError(500, 'The server had an error while processing your request. Sorry about that!'),
      );
    case 502:
      // A proxy in front of the API answers, not the API: HTML, no OpenAI error body.
      return { status: 502, body: BAD_GATEWAY_HTML, headers: {}, contentType: 'text/html' };
    case 503:
      return errorAnswer(new OpenAIError(503, 'The server is overloaded or not ready yet.'));
    case 429:
      return errorAnswer(
        new OpenAIError(
          429,
          `Rate limit reached (injected by failRate). Please try again in ${formatDuration(INJECTED_RETRY_AFTER_MS)}.`,
          {
            type: 'requests',
            code: 'rate_limit_exceeded',
            headers: { ...limiter.headers(), ...limiter.retryAfter(INJECTED_RETRY_AFTER_MS) },
          },
        ),
      );
  }
}

async function embeddings(req: IncomingMessage, ctx: HandlerContext, deployment?: string): Promise<Answer> {
  const body = await readBody(req, ctx.maxBodyBytes);
  if (!body.ok) {
    // The connection closes after this answer; readBody has read the rest of the body unless
    // it passed the drain bounds, and then the socket is cut once the answer is out.
    const error = new OpenAIError(
      413,
      `Request body too large: ${body.bytes} bytes exceeds the limit of ${ctx.maxBodyBytes} bytes.`,
      { code: 'request_too_large', headers: { connection: 'close' } },
    );
    return { ...errorAnswer(error), cutOff: !body.drained };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.text);
  } catch (cause) {
    return errorAnswer(
      new OpenAIError(
        400,
        `We could not parse the JSON body of your request. (${(cause as Error).message}) The API expects a JSON payload.`,
      ),
    );
  }
  if (ctx.azure !== undefined) {
    // The v1 form names the deployment in `model`; the deployments form in the URL.
    const name = deployment ?? (parsed as { model?: unknown } | null)?.model;
    if (typeof name !== 'string' || !ctx.azure.deployments.includes(name)) throw deploymentNotFound();
  }
  const styled = readStyled(ctx.style, parsed, ctx.maxInputs);
  // The deployments form needs no `model`: the URL names it.
  if (deployment !== undefined && typeof styled.body === 'object' && styled.body !== null) {
    (styled.body as { model?: unknown }).model ??= deployment;
  }
  ctx.stats.lastFields = styled.fields;
  for (const name of Object.keys(styled.fields)) ctx.stats.fields[name] = (ctx.stats.fields[name] ?? 0) + 1;
  const request = parseEmbeddingRequest(styled.body);
  if (request.totalTokens > ctx.style.maxTokens) {
    throw ctx.style.tooManyTokens(request.totalTokens, ctx.style.maxTokens, request.model);
  }
  const fault = ctx.faults.next();
  if (fault !== undefined) {
    ctx.stats.faults[fault]++;
    return faultAnswer(fault, ctx.limiter);
  }
  let admission;
  try {
    admission = ctx.limiter.admit(request.totalTokens);
  } catch (error) {
    if (error instanceof OpenAIError && error.status === 429) ctx.stats.rateLimited++;
    throw error;
  }
  const dimensions = request.dimensions ?? ctx.dimensions;
  const vectors = request.inputs.map((input) =>
    input.tokens ? localHashEmbeddingOfTokens(input.tokens, dimensions) : localHashEmbedding(input.text, dimensions),
  );
  ctx.stats.embeddings++;
  ctx.stats.inputs += vectors.length;
  return {
    status: 200,
    body: embeddingsBody(vectors, request.encodingFormat, ctx.model, request.totalTokens, ctx.style.usage),
    headers: { ...admission.headers, 'openai-model': ctx.model },
  };
}

function models(ctx: HandlerContext, id: string | undefined): Answer {
  const model = { id: ctx.model, object: 'model', created: 0, owned_by: 'embedrail' };
  if (id === undefined) return { status: 200, body: JSON.stringify({ object: 'list', data: [model] }), headers: {} };
  if (id === ctx.model) return { status: 200, body: JSON.stringify(model), headers: {} };
  throw new OpenAIError(404, `The model '${id}' does not exist`, { param: 'model', code: 'model_not_found' });
}

/** A malformed escape (`%zz`) names no model rather than failing the request with a 500. */
function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

const ROUTES: Record<string, string> = { '/v1/embeddings': 'POST', '/v1/models': 'GET' };

/** Azure's routes: its two URL forms, behind its authentication. */
async function azure(req: IncomingMessage, ctx: HandlerContext, path: string, query: string): Promise<Answer> {
  const method = req.method ?? 'GET';
  const matched = azureRoute(path, new URLSearchParams(query));
  if (matched === undefined) throw new OpenAIError(404, `Invalid URL (${method} ${path})`);
  const allowed = matched.kind === 'models' ? 'GET' : 'POST';
  if (method !== allowed) {
    throw new OpenAIError(405, `Invalid method for URL (${method} ${path})`, { headers: { allow: allowed } });
  }
  ctx.azure!.auth.check(req);
  if (matched.kind === 'models') return models(ctx, undefined);
  return embeddings(req, ctx, matched.deployment);
}

/** The Files and Batches routes: each path's methods, and what answers them. */
const FILE_ROUTES: {
  pattern: RegExp;
  methods: Record<
    string,
    (req: IncomingMessage, ctx: HandlerContext, id: string, query: URLSearchParams) => Promise<Answer> | Answer
  >;
}[] = [
  {
    pattern: /^\/v1\/files$/,
    methods: {
      POST: (req, ctx) => uploadFile(req, ctx.files),
      GET: (_req, ctx, _id, query) => ctx.files.list(query),
    },
  },
  {
    pattern: /^\/v1\/files\/([^/]+)$/,
    methods: {
      GET: (_req, ctx, id) => ({ status: 200, body: JSON.stringify(ctx.files.get(id).object), headers: {} }),
      DELETE: (_req, ctx, id) => deleteFile(ctx.files, id),
    },
  },
  { pattern: /^\/v1\/files\/([^/]+)\/content$/, methods: { GET: (_req, ctx, id) => fileContent(ctx.files, id) } },
  {
    pattern: /^\/v1\/batches$/,
    methods: {
      POST: async (req, ctx) => ctx.batches.create(await readJson(req, ctx)),
      GET: (_req, ctx, _id, query) => ctx.batches.list(query),
    },
  },
  { pattern: /^\/v1\/batches\/([^/]+)$/, methods: { GET: (_req, ctx, id) => ctx.batches.retrieve(id) } },
  { pattern: /^\/v1\/batches\/([^/]+)\/cancel$/, methods: { POST: (_req, ctx, id) => ctx.batches.cancel(id) } },
];

/** A JSON request body, refused as the embeddings endpoint refuses one. */
async function readJson(req: IncomingMessage, ctx: HandlerContext): Promise<unknown> {
  const body = await readBody(req, ctx.maxBodyBytes);
  if (!body.ok) {
    throw new OpenAIError(
      413,
      `Request body too large: ${body.bytes} bytes exceeds the limit of ${ctx.maxBodyBytes} bytes.`,
      {
        code: 'request_too_large',
        headers: { connection: 'close' },
      },
    );
  }
  try {
    return JSON.parse(body.text);
  } catch (cause) {
    throw new OpenAIError(
      400,
      `We could not parse the JSON body of your request. (${(cause as Error).message}) The API expects a JSON payload.`,
    );
  }
}

async function route(req: IncomingMessage, ctx: HandlerContext): Promise<Answer> {
  const method = req.method ?? 'GET';
  const [path = '/', query = ''] = (req.url ?? '/').split('?');
  // Azure serves its own paths only.
  if (ctx.azure !== undefined) return azure(req, ctx, path, query);
  for (const { pattern, methods } of FILE_ROUTES) {
    const match = pattern.exec(path);
    if (match === null) continue;
    const answer = methods[method];
    if (answer === undefined) {
      const allow = Object.keys(methods).join(', ');
      throw new OpenAIError(405, `Invalid method for URL (${method} ${path})`, { headers: { allow } });
    }
    return answer(req, ctx, decodePathSegment(match[1] ?? ''), new URLSearchParams(query));
  }
  const modelMatch = /^\/v1\/models\/([^/]+)$/.exec(path);
  const allowed = modelMatch ? 'GET' : ROUTES[path];
  if (allowed === undefined) throw new OpenAIError(404, `Invalid URL (${method} ${path})`);
  if (method !== allowed) {
    throw new OpenAIError(405, `Invalid method for URL (${method} ${path})`, { headers: { allow: allowed } });
  }
  if (path === '/v1/embeddings') return embeddings(req, ctx);
  return models(ctx, modelMatch ? decodePathSegment(modelMatch[1]!) : undefined);
}

/**
 * Answers one request. Every answer carries an `x-request-id` and waits `latency` ms first;
 * nothing a client sends can make it throw past here.
 */
export async function handle(req: IncomingMessage, res: ServerResponse, ctx: HandlerContext): Promise<void> {
  ctx.stats.requests++;
  const requestId = newRequestId();
  let answer: Answer;
  try {
    answer = await route(req, ctx);
  } catch (error) {
    if (error instanceof ProviderRefusal) ctx.stats.refused[error.reason]++;
    answer =
      error instanceof ProviderRefusal
        ? refusalAnswer(error)
        : errorAnswer(
            error instanceof OpenAIError
              ? error
              : new OpenAIError(500, 'The server had an error while processing your request. Sorry about that!'),
          );
  }
  if (ctx.latency > 0 && !(await ctx.delay(ctx.latency))) return;
  if (answer.stream !== undefined) {
    res.writeHead(answer.status, {
      ...answer.headers,
      'x-request-id': requestId,
      'content-type': answer.contentType ?? 'application/octet-stream',
    });
    // A client that hangs up mid-download ends the stream; nothing else to do.
    pipeline(answer.stream, res, () => {});
    return;
  }
  send(res, answer.status, answer.body, { ...answer.headers, 'x-request-id': requestId }, answer.contentType);
  if (answer.cutOff) {
    // The rest of an endless or huge upload is not read: end the socket once the answer is out.
    res.once('finish', () => req.socket.destroy());
  }
}
