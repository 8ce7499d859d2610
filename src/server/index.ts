import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FaultInjector } from './faults.js';
import { handle, type HandlerContext, type ServerStats } from './handler.js';
import { RateLimiter } from './rate-limit.js';
import { parsePort, parseServerOptions, SERVER_DEFAULTS, type RateLimitHeaderStyle } from './options.js';

export { localHashEmbedding, localHashEmbeddingOfTokens } from './embedding.js';
export { MAX_DIMENSIONS, MAX_INPUTS, MAX_TOKENS_PER_INPUT, MAX_TOKENS_PER_REQUEST } from './validate.js';
export type { ServerStats } from './handler.js';
export { HEADER_STYLES, SERVER_DEFAULTS } from './options.js';
export type { RateLimitHeaderStyle } from './options.js';

/** Options of {@link createServer}; the same as the `embedrail serve` flags. */
export interface ServerOptions {
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
   * Which rate-limit headers answers carry, as real providers send them:
   * - `'openai'`: the six `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` on every
   *   answer, `retry-after` and `retry-after-ms` on a 429;
   * - `'azure'`: only `x-ratelimit-remaining-{requests,tokens}`, and `retry-after-ms` on a 429;
   * - `'none'`: no rate-limit header (a gateway in front of vLLM, TEI or Ollama), only
   *   `retry-after` in whole seconds on a 429.
   *
   * Injected 429s (`failRate`) advise in the same style.
   * @default 'openai'
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
   * @returns `url`, the base URL for a client: `http://127.0.0.1:<port>/v1`.
   */
  listen(port?: number, host?: string): Promise<{ url: string }>;
  /** Stops listening, ends open connections and pending latency waits. */
  close(): Promise<void>;
  /** The base URL (ending in `/v1`); throws before `listen()` has resolved. */
  readonly url: string;
  /** What the server has answered so far. */
  readonly stats: ServerStats;
}

function formatUrl(address: AddressInfo): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}/v1`;
}

/**
 * Creates the local server: `POST /v1/embeddings` and `GET /v1/models` as OpenAI serves them,
 * backed by {@link localHashEmbedding}, with optional latency, rate limits and injected faults.
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
  const timers = new Set<{ timer: NodeJS.Timeout; resolve: (done: boolean) => void }>();
  const stats: ServerStats = {
    requests: 0,
    embeddings: 0,
    inputs: 0,
    rateLimited: 0,
    faults: { 500: 0, 502: 0, 503: 0, 429: 0 },
  };
  const ctx: HandlerContext = {
    model,
    dimensions: options.dimensions ?? SERVER_DEFAULTS.dimensions,
    latency: options.latency ?? SERVER_DEFAULTS.latency,
    maxBodyBytes: options.maxBodyBytes ?? SERVER_DEFAULTS.maxBodyBytes,
    limiter: new RateLimiter(
      { rpm: options.rpm, tpm: options.tpm, burstSeconds: options.burstSeconds, headerStyle: options.headerStyle },
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
          url = formatUrl(server.address() as AddressInfo);
          resolve({ url });
        });
      });
    },
    close() {
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
