import { afterEach, describe, expect, test, vi } from 'vitest';
import {
  EmbeddingsClient,
  InMemoryRateLimiter,
  InternalServerError,
  InvalidArgumentError,
  type BatchProgress,
  type ClientEvents,
} from '../src/index.js';
import { useFakeApi } from './support/fake-api.js';
import { failure, recordingLogger } from './support/observe.js';
import { numberedTexts, openAILike } from './support/openai-like.js';
import { VirtualClock } from './support/rate-sim.js';

const api = useFakeApi(...openAILike().handlers);
const KEY = 'sk-test-EVENTS-0123456789abcdef';
const MODEL = 'text-embedding-3-small';
afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

/** A backend whose first answer is `first`, then normal answers. */
function firstAnswer(first: () => Response) {
  api.use(...openAILike({ intercept: (_request, all) => (all.length === 1 ? first() : undefined) }).handlers);
}

describe('client events', () => {
  test('one create() retried after a 429 fires its events in order, with the documented payloads', async () => {
    firstAnswer(() => failure(429, 30, { 'x-request-id': 'req_429' }));
    // On virtual time the 429's pause cannot run out before the retry asks for its turn: the
    // retry waits until the test, hearing of the wait, moves the clock past it.
    const clock = new VirtualClock();
    const rateLimiter = new InMemoryRateLimiter({ clock });
    const client = new EmbeddingsClient({ baseURL: api.url, apiKey: KEY, rateLimiter });
    const events: [keyof ClientEvents, unknown][] = [];
    for (const name of ['request', 'attempt', 'response', 'retry', 'rateLimitWait', 'requestEnd'] as const) {
      client.on(name, (payload) => events.push([name, payload]));
    }
    client.on('rateLimitWait', () => void clock.advance(30));
    await client.embeddings.create({ model: MODEL, input: ['a', 'b'] });
    await client.close();
    const url = `${api.url}/embeddings`;
    const ms = expect.any(Number);
    expect(events).toEqual([
      ['request', { id: 1, method: 'POST', url, model: MODEL, inputs: 2 }],
      ['attempt', { id: 1, attempt: 1 }],
      ['response', { id: 1, attempt: 1, status: 429, durationMs: ms, requestId: 'req_429' }],
      ['retry', { id: 1, attempt: 1, status: 429, errorType: 'RateLimitError', delayMs: 30 }],
      ['rateLimitWait', { id: 1, reason: '429', untilMs: 30 }],
      ['attempt', { id: 1, attempt: 2 }],
      ['response', { id: 1, attempt: 2, status: 200, durationMs: ms, requestId: 'req_2' }],
      [
        'requestEnd',
        {
          id: 1,
          ok: true,
          attempts: 2,
          status: 200,
          durationMs: ms,
          errorType: undefined,
          responseModel: MODEL,
          inputTokens: 2,
        },
      ],
    ]);
  });

  test('a request that fails for good ends with ok false and its error type; ids count requests', async () => {
    api.use(...openAILike({ intercept: () => failure(500, 1) }).handlers);
    const client = new EmbeddingsClient({ baseURL: api.url, maxRetries: 1 });
    const ends: ClientEvents['requestEnd'][] = [];
    client.on('requestEnd', (event) => ends.push(event));
    await client.embeddings.create({ model: MODEL, input: 'x' }).catch(() => {});
    await expect(client.embeddings.create({ model: MODEL, input: 'x' })).rejects.toThrow(InternalServerError);
    await client.close();
    expect(ends.map(({ id, ok, attempts, status, errorType }) => ({ id, ok, attempts, status, errorType }))).toEqual([
      { id: 1, ok: false, attempts: 2, status: 500, errorType: 'InternalServerError' },
      { id: 2, ok: false, attempts: 2, status: 500, errorType: 'InternalServerError' },
    ]);
  });

  test('a listener that throws breaks no request: the next listeners still hear, the error goes to the logger', async () => {
    const { logger, lines } = recordingLogger();
    const client = new EmbeddingsClient({ baseURL: api.url, logger });
    const heard: number[] = [];
    client.on('attempt', () => {
      throw new Error('listener bug');
    });
    client.on('attempt', (event) => heard.push(event.attempt));
    const res = await client.embeddings.create({ model: MODEL, input: 'x' });
    await client.close();
    expect(res.data).toHaveLength(1);
    expect(heard).toEqual([1]);
    expect(lines).toEqual([
      {
        level: 'error',
        message: 'embedrail: a listener of the "attempt" event threw (the request goes on)',
        fields: { errorType: 'Error' },
      },
    ]);
  });

  test('without a logger, a throwing listener is reported with process.emitWarning', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const client = new EmbeddingsClient({ baseURL: api.url });
    client.on('request', () => {
      throw new Error('listener bug');
    });
    await client.embeddings.create({ model: MODEL, input: 'x' });
    await client.close();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![0]).toContain('"request" event threw');
    expect(warn.mock.calls[0]![1]).toEqual({ code: 'EMBEDRAIL_LISTENER_ERROR' });
  });

  test('off() removes a listener; a misspelt event or a listener that is no function is refused', async () => {
    const client = new EmbeddingsClient({ baseURL: api.url });
    const heard: number[] = [];
    const listener = (event: ClientEvents['request']) => heard.push(event.id);
    client.on('request', listener);
    await client.embeddings.create({ model: MODEL, input: 'x' });
    client.off('request', listener);
    await client.embeddings.create({ model: MODEL, input: 'x' });
    await client.close();
    expect(heard).toEqual([1]);
    // @ts-expect-error not an event of the client
    expect(() => client.on('retries', () => {})).toThrow(/Unknown event "retries": the client emits "request", /);
    // @ts-expect-error not a function
    expect(() => client.on('retry', 'log')).toThrow(InvalidArgumentError);
  });

  test('batchProgress hears what onProgress hears, and a throwing listener does not stop the job', async () => {
    const client = new EmbeddingsClient({ baseURL: api.url });
    const fromOption: BatchProgress[] = [];
    const fromEvent: BatchProgress[] = [];
    client.on('batchProgress', (progress) => fromEvent.push(progress));
    client.on('batchProgress', () => {
      throw new Error('listener bug');
    });
    vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const input = numberedTexts(20);
    const res = await client.embeddings.createMany(
      { model: MODEL, input },
      { maxInputsPerRequest: 5, onProgress: (progress) => fromOption.push(progress) },
    );
    await client.close();
    expect(res.data).toHaveLength(20);
    expect(fromEvent.length).toBeGreaterThanOrEqual(4);
    expect(fromEvent).toEqual(fromOption);
    expect(fromEvent.at(-1)).toMatchObject({ completedInputs: 20, totalInputs: 20, requests: 4 });
  });
});

describe('logger and logLevel', () => {
  test('at the default level a logger hears only a request that failed for good, at error, without its message', async () => {
    api.use(...openAILike({ intercept: () => failure(500, 1) }).handlers);
    const { logger, lines } = recordingLogger();
    const client = new EmbeddingsClient({ baseURL: api.url, apiKey: KEY, logger, maxRetries: 1 });
    await expect(client.embeddings.create({ model: MODEL, input: 'x' })).rejects.toThrow(InternalServerError);
    await client.close();
    expect(lines).toEqual([
      {
        level: 'error',
        message: `embedrail: request 1: POST ${api.url}/embeddings failed after 2 attempt(s): InternalServerError (status 500)`,
        fields: {
          id: 1,
          attempts: 2,
          status: 500,
          durationMs: expect.any(Number),
          errorType: 'InternalServerError',
          code: undefined,
        },
      },
    ]);
    // The server's message ("injected 500") could quote an input: it stays out.
    expect(JSON.stringify(lines)).not.toContain('injected');
    expect(JSON.stringify(lines)).not.toContain(KEY);
  });

  test('EMBEDRAIL_LOG sets the level when logLevel is not given; logLevel wins; a bad value names the variable', async () => {
    const { logger, lines } = recordingLogger();
    vi.stubEnv('EMBEDRAIL_LOG', 'debug');
    const fromEnv = new EmbeddingsClient({ baseURL: api.url, logger });
    await fromEnv.embeddings.create({ model: MODEL, input: 'x' });
    expect(lines.map((l) => l.level)).toEqual(['debug', 'debug', 'debug']);
    lines.length = 0;
    const off = new EmbeddingsClient({ baseURL: api.url, logger, logLevel: 'off' });
    await off.embeddings.create({ model: MODEL, input: 'x' });
    expect(lines).toEqual([]);
    vi.stubEnv('EMBEDRAIL_LOG', 'verbose');
    expect(() => new EmbeddingsClient({ baseURL: api.url })).toThrow(
      'EMBEDRAIL_LOG must be one of "debug", "info", "warn", "error", "off" (got "verbose")',
    );
    await Promise.all([fromEnv.close(), off.close()]);
  });

  test('a level without a logger writes to standard error, never to standard output', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const stdout = vi.spyOn(process.stdout, 'write');
    const client = new EmbeddingsClient({ baseURL: api.url, logLevel: 'debug' });
    await client.embeddings.create({ model: MODEL, input: 'x' });
    await client.close();
    const written = stderr.mock.calls.map((call) => String(call[0])).join('');
    stderr.mockRestore();
    expect(written).toMatch(/embedrail: request 1: POST .* answered 200 in \d+ ms/);
    expect(stdout.mock.calls.map((call) => String(call[0])).join('')).not.toContain('embedrail:');
  });

  test('bad logging options are refused naming the option', () => {
    expect(() => new EmbeddingsClient({ baseURL: api.url, logger: {} as never })).toThrow(
      'Invalid EmbeddingsClient options: `logger` must be an object with debug, info, warn and error methods (got {})',
    );
    expect(() => new EmbeddingsClient({ baseURL: api.url, logLevel: 'trace' as never })).toThrow(
      'Invalid EmbeddingsClient options: `logLevel` must be "debug", "info", "warn", "error" or "off" (got "trace")',
    );
  });

  test('an unusable rate-limit header is warned about through the logger when one is given, else by process.emitWarning, and not at all when off', async () => {
    const emit = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    api.use(...openAILike({ headers: { 'x-ratelimit-limit-requests': '0.001' } }).handlers);
    const { logger, lines } = recordingLogger();
    const logged = new EmbeddingsClient({ baseURL: api.url, logger });
    await logged.embeddings.create({ model: MODEL, input: 'x' });
    expect(lines).toEqual([
      {
        level: 'warn',
        message: 'embedrail: Ignoring the rate-limit header x-ratelimit-limit-requests: "0.001" (not a usable value)',
        fields: undefined,
      },
    ]);
    expect(emit).not.toHaveBeenCalled();
    const plain = new EmbeddingsClient({ baseURL: api.url });
    await plain.embeddings.create({ model: MODEL, input: 'x' });
    expect(emit).toHaveBeenCalledTimes(1);
    expect(emit.mock.calls[0]![1]).toEqual({ code: 'EMBEDRAIL_RATE_LIMIT_HEADER' });
    // 'off' silences the client's warnings too.
    const off = new EmbeddingsClient({ baseURL: api.url, logLevel: 'off' });
    await off.embeddings.create({ model: MODEL, input: 'x' });
    expect(emit).toHaveBeenCalledTimes(1);
    await Promise.all([logged.close(), plain.close(), off.close()]);
  });
});
