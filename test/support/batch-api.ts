import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { EmbeddingsClient } from '../../src/index.js';
import { startFakeApi, type FakeApi } from './fake-api.js';
import { mismatchedIndexes, openAILike, type OpenAILike, type OpenAILikeOptions } from './openai-like.js';

/** The OpenAI-like API a batch test talks to, and a new client per test with 4 requests in flight at most. */
export interface BatchApi {
  readonly api: FakeApi;
  readonly client: EmbeddingsClient;
  /** The handlers the last `serve()` installed, with what they saw. */
  readonly server: OpenAILike;
  /** Installs OpenAI-like handlers with `options` for the current test. */
  serve(options?: OpenAILikeOptions): OpenAILike;
  /**
   * Serves the API so that the second request hangs at the server and the caller aborts while
   * it hangs: a job that did not cancel in-flight requests would never settle. Call `release()`
   * once the job has settled.
   */
  serveAbortingDuringSecondRequest(reason?: unknown): { signal: AbortSignal; release: () => void };
}

/** Starts the fake API for the enclosing file or describe block, resets it after each test. */
export function useBatchApi(): BatchApi {
  let api: FakeApi;
  let client: EmbeddingsClient;
  let server: OpenAILike;
  beforeAll(async () => {
    api = await startFakeApi();
  });
  // A client per test: its rate limiter learns from every answer, and one test's limits or
  // 429s must not pace the next.
  beforeEach(() => {
    client = new EmbeddingsClient({ baseURL: api.url, maxConcurrency: 4 });
  });
  afterEach(async () => {
    api.reset();
    await client.close();
  });
  afterAll(async () => {
    await api.close();
  });
  return {
    get api() {
      return api;
    },
    get client() {
      return client;
    },
    get server() {
      return server;
    },
    serve(options = {}) {
      server = openAILike(options);
      api.use(...server.handlers);
      return server;
    },
    serveAbortingDuringSecondRequest(reason) {
      const controller = new AbortController();
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      this.serve({
        hold: (_request, all) => {
          if (all.length !== 2) return undefined;
          setImmediate(() => controller.abort(reason));
          return held;
        },
      });
      return { signal: controller.signal, release };
    },
  };
}

/** Every vector is the (normalised) vector of the text at its own index. */
export function expectBelongs(data: { index: number; embedding: number[] | Float32Array }[], input: string[]): void {
  expect(mismatchedIndexes(data, input)).toEqual([]);
}
