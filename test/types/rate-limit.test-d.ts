// Type tests of the client's rate limiter: the options that take one, what a custom one must
// implement, and what progress reports of it. Checked by `tsc`, never run.
import { describe, expectTypeOf, test } from 'vitest';
import {
  composeRateLimiters,
  EmbeddingsClient,
  InMemoryRateLimiter,
  type BatchProgress,
  type ClientOptions,
  type RateLimitGrant,
  type RateLimiter,
  type RateLimitSnapshot,
  type RateLimitWaitReason,
} from '../../src/index.js';

describe('rate limiter', () => {
  test('a client takes limits or a limiter, and one limiter may serve several clients', () => {
    expectTypeOf<ClientOptions>().toHaveProperty('rateLimit');
    const shared = new InMemoryRateLimiter({ requestsPerMinute: 3000, tokensPerMinute: 1_000_000 });
    expectTypeOf(shared).toExtend<RateLimiter>();
    void new EmbeddingsClient({ rateLimiter: shared });
    void new EmbeddingsClient({ rateLimiter: composeRateLimiters(new InMemoryRateLimiter(), shared) });
    void new EmbeddingsClient({ rateLimit: { requestsPerMinute: 60 } });
    // @ts-expect-error misspelt limit
    void new EmbeddingsClient({ rateLimit: { requestPerMinute: 60 } });
  });

  test('a custom limiter needs only acquire(); its grant is completed or cancelled', () => {
    const custom: RateLimiter = {
      acquire: ({ tokens, signal }) => {
        expectTypeOf(tokens).toEqualTypeOf<number>();
        expectTypeOf(signal).toEqualTypeOf<AbortSignal | undefined>();
        return Promise.resolve({ complete: ({ status, headers }) => void [status, headers], cancel: () => {} });
      },
    };
    expectTypeOf(custom.acquire).returns.resolves.toEqualTypeOf<RateLimitGrant>();
    expectTypeOf(custom.snapshot).toEqualTypeOf<(() => RateLimitSnapshot) | undefined>();
  });

  test('progress carries what the limiter believes, and why a request waits', () => {
    expectTypeOf<BatchProgress['rateLimit']>().toEqualTypeOf<RateLimitSnapshot | undefined>();
    expectTypeOf<RateLimitSnapshot['waitingUntil']>().toEqualTypeOf<number | undefined>();
    expectTypeOf<RateLimitSnapshot['waitReason']>().toEqualTypeOf<RateLimitWaitReason | undefined>();
  });
});
