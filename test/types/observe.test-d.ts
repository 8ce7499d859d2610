// Type tests of the client's logger options and events. Checked by `tsc`, never run.
import { describe, expectTypeOf, test } from 'vitest';
import {
  EmbeddingsClient,
  type BatchProgress,
  type ClientEventName,
  type ClientEvents,
  type Logger,
  type LogLevel,
  type RateLimitWaitReason,
} from '../../src/index.js';

describe('logger', () => {
  test('console and any four-method object are loggers; the level is one of five names', () => {
    void new EmbeddingsClient({ logger: console, logLevel: 'debug', logInputs: true });
    const mine: Logger = { debug() {}, info() {}, warn() {}, error() {} };
    void new EmbeddingsClient({ logger: mine });
    expectTypeOf<LogLevel>().toEqualTypeOf<'debug' | 'info' | 'warn' | 'error' | 'off'>();
    // @ts-expect-error no such level
    void new EmbeddingsClient({ logLevel: 'trace' });
    // @ts-expect-error a logger needs all four methods
    void new EmbeddingsClient({ logger: { info() {} } });
  });
});

describe('events', () => {
  test('each listener is typed by its event; on() and off() chain', () => {
    const client = new EmbeddingsClient();
    expectTypeOf<ClientEventName>().toEqualTypeOf<
      'request' | 'attempt' | 'response' | 'retry' | 'rateLimitWait' | 'requestEnd' | 'batchProgress'
    >();
    const onRetry = (event: ClientEvents['retry']) => {
      expectTypeOf(event.status).toEqualTypeOf<number | undefined>();
      expectTypeOf(event.delayMs).toEqualTypeOf<number>();
    };
    expectTypeOf(client.on('retry', onRetry).off('retry', onRetry)).toEqualTypeOf<EmbeddingsClient>();
    client.on('rateLimitWait', (event) => expectTypeOf(event.reason).toEqualTypeOf<RateLimitWaitReason>());
    client.on('batchProgress', (progress) => expectTypeOf(progress).toEqualTypeOf<BatchProgress>());
    client.on('requestEnd', (event) => expectTypeOf(event.ok).toEqualTypeOf<boolean>());
    // @ts-expect-error no such event
    client.on('done', () => {});
    // @ts-expect-error a response payload has no inputs
    client.on('response', (event: ClientEvents['request']) => event.inputs);
  });
});
