import { afterEach, describe, expect, test } from 'vitest';
import { formatDuration, OpenAIError } from '../src/server/http.js';
import { RateLimiter } from '../src/server/rate-limit.js';
import { InvalidArgumentError } from '../src/index.js';
import { createServer, type LocalServer } from '../src/server/index.js';

const RATE_HEADERS = [
  'x-ratelimit-limit-requests',
  'x-ratelimit-limit-tokens',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-remaining-tokens',
  'x-ratelimit-reset-requests',
  'x-ratelimit-reset-tokens',
] as const;

interface Body {
  error: { message: string; type: string; param: string | null; code: string | null };
  usage: { prompt_tokens: number };
}

/** A clock the test moves by hand: the limiter never sees real time pass. */
function manualClock() {
  let now = 1_000_000;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

let server: LocalServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(options: Parameters<typeof createServer>[0]) {
  server = createServer(options);
  const { url } = await server.listen(0);
  return async (input: unknown) => {
    const res = await fetch(`${url}/embeddings`, {
      method: 'POST',
      body: JSON.stringify({ model: 'm', input, dimensions: 4 }),
    });
    const headers = Object.fromEntries(res.headers);
    return { status: res.status, headers, body: (await res.json()) as Body };
  };
}

/** `n` token ids: a token array's usage is its length, so budgets are exact. */
const tokens = (n: number) => Array.from({ length: n }, () => 1);

describe('formatDuration', () => {
  test.each([
    [0, '0s'],
    [20, '20ms'],
    [999, '999ms'],
    [1000, '1s'],
    [1500, '1.5s'],
    [59_999, '59.999s'],
    [60_000, '1m0s'],
    [90_500, '1m30.5s'],
    [360_000, '6m0s'],
    [3_723_000, '1h2m3s'],
    [0.2, '1ms'],
  ])('%d ms is written %s, as OpenAI writes x-ratelimit-reset-*', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('rate limits', () => {
  test('every 200 carries the six x-ratelimit-* headers with the limits and what is left', async () => {
    const clock = manualClock();
    const post = await start({ rpm: 60, tpm: 1000, clock: clock.now });
    const res = await post(tokens(100));
    expect(res.status).toBe(200);
    expect(res.headers).toMatchObject({
      'x-ratelimit-limit-requests': '60',
      'x-ratelimit-limit-tokens': '1000',
      'x-ratelimit-remaining-requests': '59',
      'x-ratelimit-remaining-tokens': '900',
      // One request refills in 1 s at 60/min; 100 tokens in 6 s at 1000/min.
      'x-ratelimit-reset-requests': '1s',
      'x-ratelimit-reset-tokens': '6s',
    });
  });

  test('without limits no x-ratelimit-* header is sent', async () => {
    const post = await start({});
    const res = await post('x');
    for (const name of RATE_HEADERS) expect(res.headers[name]).toBeUndefined();
  });

  test('beyond rpm: 429 rate_limit_exceeded with retry-after, retry-after-ms and all six headers', async () => {
    const clock = manualClock();
    const post = await start({ rpm: 3, tpm: 1_000_000, clock: clock.now });
    for (let i = 0; i < 3; i++) expect((await post('x')).status).toBe(200);
    const res = await post('x');
    expect(res.status).toBe(429);
    expect(res.body.error).toMatchObject({ type: 'requests', code: 'rate_limit_exceeded', param: null });
    expect(res.body.error.message).toBe(
      'Rate limit reached for local-hash-embedding on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.',
    );
    // 3 per minute: one request comes back every 20 s.
    expect(res.headers['retry-after-ms']).toBe('20000');
    expect(res.headers['retry-after']).toBe('20');
    for (const name of RATE_HEADERS) expect(res.headers[name]).toBeDefined();
    expect(res.headers['x-ratelimit-remaining-requests']).toBe('0');
    expect(res.headers['x-ratelimit-reset-requests']).toBe('1m0s');
    expect(res.headers['x-request-id']).toMatch(/^req_/);
    expect(server!.stats.rateLimited).toBe(1);
  });

  test('beyond tpm: 429 naming the tokens, advising the wait until the bucket holds the request', async () => {
    const clock = manualClock();
    const post = await start({ tpm: 600, clock: clock.now });
    expect((await post(tokens(500))).status).toBe(200);
    const res = await post(tokens(300));
    expect(res.status).toBe(429);
    expect(res.body.error.type).toBe('tokens');
    expect(res.body.error.message).toMatch(
      /on tokens per min \(TPM\): Limit 600, Used 500, Requested 300\. Please try again in 20s\./,
    );
    // 200 tokens missing at 10 tokens/s.
    expect(res.headers['retry-after-ms']).toBe('20000');
    expect(res.headers['x-ratelimit-remaining-tokens']).toBe('100');
    expect(res.headers['x-ratelimit-reset-tokens']).toBe('50s');
  });

  test('after the advised wait on the injected clock the same request passes', async () => {
    const clock = manualClock();
    const post = await start({ tpm: 600, clock: clock.now });
    await post(tokens(500));
    const refused = await post(tokens(300));
    clock.advance(Number(refused.headers['retry-after-ms']) - 1);
    expect((await post(tokens(300))).status).toBe(429);
    clock.advance(1);
    const res = await post(tokens(300));
    expect(res.status).toBe(200);
    expect(res.headers['x-ratelimit-remaining-tokens']).toBe('0');
  });

  test('a 429 does not spend the budget: refused requests take no tokens', async () => {
    const clock = manualClock();
    const post = await start({ rpm: 1, tpm: 100, clock: clock.now });
    expect((await post(tokens(10))).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await post(tokens(10))).status).toBe(429);
    clock.advance(60_000);
    expect((await post(tokens(10))).status).toBe(200);
    expect(server!.stats).toMatchObject({ embeddings: 2, rateLimited: 5 });
  });

  test('a request larger than tpm itself gets 429 with x-should-retry: false, not an endless wait', async () => {
    const clock = manualClock();
    const post = await start({ tpm: 100, clock: clock.now });
    const res = await post(tokens(101));
    expect(res.status).toBe(429);
    expect(res.headers['x-should-retry']).toBe('false');
    expect(res.headers['retry-after']).toBeUndefined();
    expect(res.body.error.message).toMatch(
      /^Request too large for local-hash-embedding on tokens per min \(TPM\): Limit 100, Requested 101\./,
    );
  });

  test('usage, not characters, is what tpm counts: cl100k tokens of text inputs', async () => {
    const clock = manualClock();
    const post = await start({ tpm: 1000, clock: clock.now });
    const res = await post(['hello world', 'hello']);
    expect(res.body.usage.prompt_tokens).toBe(3);
    expect(res.headers['x-ratelimit-remaining-tokens']).toBe('997');
  });
});

describe('burst window and header styles', () => {
  /** Admits `tokenCount` tokens, returning the status and headers the server would send. */
  function admitter(limits: ConstructorParameters<typeof RateLimiter>[0]) {
    const clock = manualClock();
    const limiter = new RateLimiter(limits, clock.now, 'm');
    const admit = (tokenCount: number) => {
      try {
        return { status: 200, headers: limiter.admit(tokenCount).headers };
      } catch (error) {
        if (!(error instanceof OpenAIError)) throw error;
        return { status: error.status, headers: error.headers, message: error.message };
      }
    };
    return { admit, clock };
  }

  test('burstSeconds: 1 holds one second of a per-minute limit and refills it at limit/60 per second', () => {
    const { admit, clock } = admitter({ rpm: 600, tpm: undefined, burstSeconds: 1 });
    const first = admit(1);
    expect(first.headers).toMatchObject({
      'x-ratelimit-limit-requests': '600',
      'x-ratelimit-remaining-requests': '9',
      'x-ratelimit-reset-requests': '100ms',
    });
    for (let i = 0; i < 9; i++) expect(admit(1).status).toBe(200);
    const refused = admit(1);
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after-ms']).toBe('100');
    clock.advance(99);
    expect(admit(1).status).toBe(429);
    clock.advance(1);
    expect(admit(1).status).toBe(200);
    // An idle minute refills only the one-second bucket: 10 pass, not 600.
    clock.advance(60_000);
    let passed = 0;
    while (admit(1).status === 200) passed++;
    expect(passed).toBe(10);
  });

  test('a request larger than the burst can never pass: 429 with x-should-retry: false', () => {
    const { admit } = admitter({ rpm: undefined, tpm: 60_000, burstSeconds: 1 });
    const res = admit(1001);
    expect(res.status).toBe(429);
    expect(res.headers['x-should-retry']).toBe('false');
    expect(res.message).toContain('Limit 60000 (1000 at once), Requested 1001');
    expect(admit(1000).status).toBe(200);
  });

  test("headerStyle 'azure': only remaining-* on every answer, and retry-after-ms on a 429", () => {
    const { admit } = admitter({ rpm: 2, tpm: 1000, headerStyle: 'azure' });
    expect(admit(100).headers).toEqual({
      'x-ratelimit-remaining-requests': '1',
      'x-ratelimit-remaining-tokens': '900',
    });
    admit(100);
    const refused = admit(100);
    expect(refused.status).toBe(429);
    expect(refused.headers).toEqual({
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-remaining-tokens': '800',
      'retry-after-ms': '30000',
    });
  });

  test("headerStyle 'none': no rate-limit header, a 429 says retry-after in whole seconds only", () => {
    const { admit } = admitter({ rpm: 600, tpm: undefined, burstSeconds: 1, headerStyle: 'none' });
    for (let i = 0; i < 10; i++) expect(admit(1).headers).toEqual({});
    const refused = admit(1);
    expect(refused.status).toBe(429);
    // 100 ms rounded up to a whole second, as HTTP's retry-after is written.
    expect(refused.headers).toEqual({ 'retry-after': '1' });
  });

  test.each([
    [{ burstSeconds: 0 }, 'Invalid createServer options: `burstSeconds` must be a number > 0 and ≤ 60 (got 0)'],
    [{ burstSeconds: 61 }, 'Invalid createServer options: `burstSeconds` must be a number > 0 and ≤ 60 (got 61)'],
    [
      { headerStyle: 'aws' as never },
      `Invalid createServer options: \`headerStyle\` must be one of 'openai', 'azure', 'none' (got "aws")`,
    ],
    [
      { burstSeconds: 0.5 },
      'Invalid createServer options: `burstSeconds` must be ≥ 1 with `rpm` 60, for a bucket to hold one request (got 0.5)',
    ],
  ])('%j is refused naming the option and the value, by the limiter and by createServer', (extra, message) => {
    for (const build of [
      () => new RateLimiter({ rpm: 60, tpm: undefined, ...extra }, () => 0, 'm'),
      () => createServer({ rpm: 60, ...extra }),
    ]) {
      expect(build).toThrow(InvalidArgumentError);
      expect(build).toThrow(message);
    }
  });

  test('without rpm any burst window is allowed: only the tokens bucket is sized by it', () => {
    expect(() => createServer({ tpm: 60_000, burstSeconds: 0.01 })).not.toThrow();
  });
});

/** The rate-limit headers of an answer: x-ratelimit-*, retry-after and retry-after-ms. */
function rateHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).filter(([name]) => name.startsWith('x-ratelimit-') || name.startsWith('retry-after')),
  );
}

describe('createServer({ burstSeconds, headerStyle }) at the wire', () => {
  test.each([
    [
      'openai',
      {
        'x-ratelimit-limit-requests': '600',
        'x-ratelimit-limit-tokens': '60000',
        'x-ratelimit-remaining-requests': '0',
        'x-ratelimit-remaining-tokens': '990',
        'x-ratelimit-reset-requests': '1s',
        'x-ratelimit-reset-tokens': '10ms',
        'retry-after': '1',
        'retry-after-ms': '100',
      },
    ],
    [
      'azure',
      { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-remaining-tokens': '990', 'retry-after-ms': '100' },
    ],
    ['none', { 'retry-after': '1' }],
  ] as const)(
    "headerStyle '%s': a one-second bucket of 600 rpm passes 10 requests, and the 11th gets 429 in the style",
    async (headerStyle, refusedHeaders) => {
      const clock = manualClock();
      const post = await start({ rpm: 600, tpm: 60_000, burstSeconds: 1, headerStyle, clock: clock.now });
      const answers = [];
      for (let i = 0; i < 11; i++) answers.push(await post([1]));
      expect(answers.map((a) => a.status)).toEqual([...Array<number>(10).fill(200), 429]);
      expect(rateHeaders(answers[0]!.headers)).toEqual(
        {
          openai: {
            'x-ratelimit-limit-requests': '600',
            'x-ratelimit-limit-tokens': '60000',
            'x-ratelimit-remaining-requests': '9',
            'x-ratelimit-remaining-tokens': '999',
            'x-ratelimit-reset-requests': '100ms',
            'x-ratelimit-reset-tokens': '1ms',
          },
          azure: { 'x-ratelimit-remaining-requests': '9', 'x-ratelimit-remaining-tokens': '999' },
          none: {},
        }[headerStyle],
      );
      expect(rateHeaders(answers[10]!.headers)).toEqual(refusedHeaders);
      // One request back after 100 ms: the bucket refills at 10 a second, not 600 at once.
      clock.advance(100);
      expect((await post([1])).status).toBe(200);
      expect((await post([1])).status).toBe(429);
    },
  );

  test("the default is today's: a bucket of the whole minute, OpenAI's headers", async () => {
    const clock = manualClock();
    const post = await start({ rpm: 3, clock: clock.now });
    for (let i = 0; i < 3; i++) expect((await post('x')).status).toBe(200);
    const refused = await post('x');
    expect(refused.status).toBe(429);
    expect(rateHeaders(refused.headers)).toMatchObject({
      'x-ratelimit-limit-requests': '3',
      'retry-after': '20',
      'retry-after-ms': '20000',
    });
  });
});
