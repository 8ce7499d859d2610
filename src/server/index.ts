import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FaultInjector } from './faults.js';
import { handle, type HandlerContext, type ServerStats } from './handler.js';
import { RateLimiter } from './rate-limit.js';
import { parsePort, parseServerOptions, SERVER_DEFAULTS, type RateLimitHeaderStyle } from './options.js';
import { AZURE_BASE_PATH, AzureAuth } from './azure.js';
import { styleOf, type ServerStyleName } from './styles.js';
import { BatchStore } from './batches.js';
import { FileStore } from './files.js';

export { localHashEmbedding, localHashEmbeddingOfTokens } from './embedding.js';
export { MAX_DIMENSIONS, MAX_INPUTS, MAX_TOKENS_PER_INPUT, MAX_TOKENS_PER_REQUEST } from './validate.js';
export type { ServerStats } from './handler.js';
export { HEADER_STYLES, SERVER_DEFAULTS } from './options.js';
export type { RateLimitHeaderStyle } from './options.js';
export { SERVER_STYLES } from './styles.js';
export type { RefusalReason, ServerStyleName } from './styles.js';

/** Options of {@link createServer}; the same as the `embedrail serve` flags. */
export interface ServerOptions {
  /**
   * The provider the server plays: its per-request caps, the request fields it reads (and
   * whether it refuses or drops others), its usage shape, its rate-limit headers and its
   * refusals, status and body. See `SERVER_STYLES` and the README's table.
   * - `'openai'`: OpenAI's API, as before styles existed;
   * - `'azure'`: Azure OpenAI's URLs (`/openai/v1/embeddings` and
   *   `/openai/deployments/{deployment}/embeddings?api-version=...`), `api-key` or bearer auth,
   *   `DeploymentNotFound`, remaining-only rate-limit headers;
   * - `'tei'`, `'ollama'`, `'vllm'`, `'lmstudio'`, `'voyage'`, `'mistral'`, `'jina'`,
   *   `'gemini-openai'`, `'cohere-compat'`: those servers' OpenAI-compatible endpoints.
   * @default 'openai'
   */
  style?: ServerStyleName;
  /**
   * Inputs one request may hold; a larger request is refused the way the style refuses (TEI:
   * 422 "batch size 60 > maximum allowed batch size 32"; azure: 400 "Too many inputs. The max
   * number of inputs is 16. ..."). 1 to 2048.
   * @default the style's documented cap: tei 32, gemini-openai 100, cohere-compat 96, mistral 512, voyage 1000, else 2048
   */
  maxInputsPerRequest?: number;
  /**
   * azure style: the deployment names it serves; any other, in the URL or (v1 form) in the
   * body's `model`, gets Azure's 404 `DeploymentNotFound`.
   * @default [model]
   */
  deployments?: string[];
  /**
   * azure style: requests a bearer token is accepted for after its first use; after them it is
   * answered 401 as an expired Entra ID token is. Unset: tokens never expire.
   * @default undefined (never)
   */
  tokenLifetimeRequests?: number;
  /**
   * Vector length when a request has no `dimensions`. 1 to {@link MAX_DIMENSIONS}.
   * @default 384
   */
  dimensions?: number;
  /**
   * Added before every response, to emulate a remote provider.
   * @unit ms
   * @default 0
   */
  latency?: number;
  /**
   * Requests per minute; beyond it 429 with the advice and headers of `headerStyle`
   * (`retry-after`, `retry-after-ms` and the x-ratelimit-*-requests headers by default), which
   * every 200 carries too. Unset: unlimited, and no x-ratelimit-*-requests header is sent.
   * @default undefined (unlimited)
   */
  rpm?: number;
  /**
   * Tokens per minute (cl100k tokens of the inputs); beyond it 429 like `rpm`, with the
   * x-ratelimit-*-tokens headers.
   * @default undefined (unlimited)
   */
  tpm?: number;
  /**
   * Seconds of the per-minute limits a bucket holds, above 0 and at most 60. A provider may
   * enforce 600 RPM as 10 requests a second: `burstSeconds: 1` makes a bucket of 10 refilled at
   * 10 per second, while the headers still report the per-minute limit. It must leave room for
   * one request: at least 60 ÷ `rpm`.
   * @unit s
   * @default 60 (a bucket holds the whole minute)
   */
  burstSeconds?: number;
  /**
   * Which rate-limit headers answers carry, as real providers send them (by default the
   * style's: `'openai'` for openai, `'azure'` for azure, `'none'` for the others):
   * - `'openai'`: the six `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` on every
   *   answer, `retry-after` and `retry-after-ms` on a 429;
   * - `'azure'`: only `x-ratelimit-remaining-{requests,tokens}`, and `retry-after-ms` on a 429;
   * - `'none'`: no rate-limit header (a gateway in front of vLLM, TEI or Ollama), only
   *   `retry-after` in whole seconds on a 429.
   *
   * Injected 429s (`failRate`) advise in the same style.
   * @default the style's
   */
  headerStyle?: RateLimitHeaderStyle;
  /**
   * Share of valid embeddings requests, 0 to 1, failed on purpose with a 500, 502 (an HTML
   * page, as a proxy sends), 503 or 429, picked by a PRNG seeded with `seed`.
   * @default 0
   */
  failRate?: number;
  /**
   * Seed of the fault-injection PRNG: the same seed and request order give the same failures.
   * @default 1
   */
  seed?: number;
  /**
   * Request bodies larger than this get 413. 300,000 tokens of text fit well inside.
   * @unit bytes
   * @default 8388608 (8 MiB)
   */
  maxBodyBytes?: number;
  /**
   * The model name `GET /v1/models` lists and responses report. Requests may name any model:
   * all are served by the same lexical embedding, so clients configured for a provider's
   * model name run unchanged.
   * @default 'local-hash-embedding'
   */
  model?: string;
  /**
   * Largest file `POST /v1/files` takes; a larger upload is refused with 413 `file_too_large`.
   * @unit bytes
   * @default 536870912 (512 MiB, OpenAI's cap)
   */
  maxFileBytes?: number;
  /**
   * Bytes of files the server holds at once, uploads and batch output files together; an
   * upload past it is refused with 413; a batch whose output does not fit stays `finalizing`
   * until other files are deleted, and fails only if it could not fit with every other file gone.
   * @unit bytes
   * @default 1073741824 (1 GiB)
   */
  maxStoredBytes?: number;
  /**
   * A batch's life from `POST /v1/batches` to its end: `validating` for the first tenth,
   * `in_progress` to nine tenths, then `finalizing`, then `completed`. Lines are embedded
   * while it is `in_progress`, and `request_counts` grow as they are.
   * @unit ms
   * @default 1000
   */
  batchProcessingMs?: number;
  /**
   * Write batch output lines in another order than the input's (shuffled by the seeded PRNG),
   * as OpenAI may.
   * @default false
   */
  batchShuffle?: boolean;
  /**
   * Share of batch lines, 0 to 1, answered 429 or 500, written to the error file as OpenAI
   * writes them: `error: null`, the status and the error body inside `response`.
   * @default 0
   */
  batchFailRate?: number;
  /** Share of batch lines, 0 to 1, answered 400 (`invalid_request_error`), in the same shape. @default 0 */
  batchRejectRate?: number;
  /** Share of batch lines, 0 to 1, written to neither the output nor the error file. @default 0 */
  batchMissingRate?: number;
  /**
   * Share of batches, 0 to 1, that end `expired`: half their lines in the output file, the rest
   * in the error file as `batch_expired` (`response: null`, `error: { code, message }`).
   * @default 0
   */
  batchExpireRate?: number;
  /**
   * Tokens (cl100k) that may be queued in unfinished batches together; a batch that would
   * pass it ends `failed` with `errors.data[0].code` `token_limit_exceeded`, as OpenAI's
   * enqueued-token limit does. Unset: no cap.
   * @default undefined (no cap)
   */
  batchQueueCap?: number;
  /** Requests (lines) an input file may hold; more fails the batch. @default 50000 (OpenAI's) */
  batchMaxRequests?: number;
  /** Embedding inputs a batch may hold across all its lines; more fails it. @default 50000 (OpenAI's) */
  batchMaxInputs?: number;
  /** Size of a batch input file; a larger one fails the batch. @unit bytes @default 209715200 (200 MB, OpenAI's) */
  batchMaxInputBytes?: number;
  /**
   * The rate limiter's clock. Tests pass a hand-moved one instead of waiting for real time.
   * @unit ms
   * @default performance.now
   */
  clock?: () => number;
}

/** A local OpenAI-compatible embeddings server. */
export interface LocalServer {
  /**
   * Starts listening; port 0 picks a free port. Loopback unless told otherwise.
   * @returns `url`, the base URL for a client: `http://127.0.0.1:<port>/v1`
   * (`/openai/v1` for the azure style).
   */
  listen(port?: number, host?: string): Promise<{ url: string }>;
  /** Stops listening, ends open connections and pending latency waits. */
  close(): Promise<void>;
  /** The base URL (ending in `/v1`, `/openai/v1` for azure); throws before `listen()` has resolved. */
  readonly url: string;
  /** What the server has answered so far. */
  readonly stats: ServerStats;
}

function formatUrl(address: AddressInfo, basePath: string): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}${basePath}`;
}

/**
 * Creates the local server: `POST /v1/embeddings` and `GET /v1/models` as OpenAI serves them,
 * backed by {@link localHashEmbedding}, with optional latency, rate limits and injected faults;
 * and the Files and Batches APIs (`/v1/files`, `/v1/batches`) in memory, each batch line
 * embedded as `/v1/embeddings` would embed it, with the batch faults above on request.
 * @throws InvalidArgumentError naming an option that is out of range, and its value.
 * @example
 * const server = createServer({ rpm: 60 });
 * const { url } = await server.listen(0);
 * const client = new EmbeddingsClient({ baseURL: url });
 */
export function createServer(options: ServerOptions = {}): LocalServer {
  parseServerOptions(options);
  const model = options.model ?? SERVER_DEFAULTS.model;
  const clock = options.clock ?? (() => performance.now());
  const styleName = options.style ?? SERVER_DEFAULTS.style;
  const style = styleOf(styleName);
  const timers = new Set<{ timer: NodeJS.Timeout; resolve: (done: boolean) => void }>();
  const stats: ServerStats = {
    requests: 0,
    embeddings: 0,
    inputs: 0,
    rateLimited: 0,
    faults: { 500: 0, 502: 0, 503: 0, 429: 0 },
    refused: { inputs: 0, tokens: 0, field: 0, deployment: 0, auth: 0 },
    fields: {},
    lastFields: undefined,
  };
  const files = new FileStore(
    options.maxFileBytes ?? SERVER_DEFAULTS.maxFileBytes,
    options.maxStoredBytes ?? SERVER_DEFAULTS.maxStoredBytes,
  );
  const batches = new BatchStore(
    {
      processingMs: options.batchProcessingMs ?? SERVER_DEFAULTS.batchProcessingMs,
      shuffle: options.batchShuffle ?? SERVER_DEFAULTS.batchShuffle,
      failRate: options.batchFailRate ?? SERVER_DEFAULTS.batchFailRate,
      rejectRate: options.batchRejectRate ?? SERVER_DEFAULTS.batchRejectRate,
      missingRate: options.batchMissingRate ?? SERVER_DEFAULTS.batchMissingRate,
      expireRate: options.batchExpireRate ?? SERVER_DEFAULTS.batchExpireRate,
      queueTokens: options.batchQueueCap,
      limits: {
        requests: options.batchMaxRequests ?? SERVER_DEFAULTS.batchMaxRequests,
        inputs: options.batchMaxInputs ?? SERVER_DEFAULTS.batchMaxInputs,
        inputFileBytes: options.batchMaxInputBytes ?? SERVER_DEFAULTS.batchMaxInputBytes,
      },
      model,
      dimensions: options.dimensions ?? SERVER_DEFAULTS.dimensions,
      seed: options.seed ?? SERVER_DEFAULTS.seed,
    },
    files,
  );
  const ctx: HandlerContext = {
    files,
    batches,
    model,
    style,
    maxInputs: options.maxInputsPerRequest ?? style.maxInputs,
    azure:
      styleName === 'azure'
        ? { auth: new AzureAuth(options.tokenLifetimeRequests), deployments: options.deployments ?? [model] }
        : undefined,
    dimensions: options.dimensions ?? SERVER_DEFAULTS.dimensions,
    latency: options.latency ?? SERVER_DEFAULTS.latency,
    maxBodyBytes: options.maxBodyBytes ?? SERVER_DEFAULTS.maxBodyBytes,
    limiter: new RateLimiter(
      {
        rpm: options.rpm,
        tpm: options.tpm,
        burstSeconds: options.burstSeconds,
        headerStyle: options.headerStyle ?? style.headerStyle,
      },
      clock,
      model,
    ),
    faults: new FaultInjector(options.failRate ?? SERVER_DEFAULTS.failRate, options.seed ?? SERVER_DEFAULTS.seed),
    stats,
    delay: (ms) =>
      new Promise((resolve) => {
        const entry = {
          timer: setTimeout(() => {
            timers.delete(entry);
            resolve(true);
          }, ms),
          resolve,
        };
        timers.add(entry);
      }),
  };

  const server: Server = createHttpServer((req, res) => {
    // A client that hangs up mid-request must not take the process down with it.
    req.on('error', () => {});
    res.on('error', () => {});
    void handle(req, res, ctx);
  });
  let url: string | undefined;

  return {
    listen(port = SERVER_DEFAULTS.port, host = SERVER_DEFAULTS.host) {
      parsePort(port);
      if (server.listening) return Promise.reject(new Error(`server is already listening on ${url}`));
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          url = formatUrl(server.address() as AddressInfo, styleName === 'azure' ? AZURE_BASE_PATH : '/v1');
          resolve({ url });
        });
      });
    },
    close() {
      batches.close();
      for (const entry of timers) {
        clearTimeout(entry.timer);
        entry.resolve(false);
      }
      timers.clear();
      if (!server.listening) return Promise.resolve();
      return new Promise((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    },
    get url() {
      if (url === undefined) throw new Error('the server has no URL yet: await server.listen() first');
      return url;
    },
    stats,
  };
}
