import { afterEach, describe, expect, test } from 'vitest';
import { FAULT_STATUSES, mulberry32 } from '../src/server/faults.js';
import { createServer, type LocalServer } from '../src/server/index.js';

const servers: LocalServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** Sends `count` valid requests one after another and records each answer. */
async function run(options: Parameters<typeof createServer>[0], count: number) {
  const server = createServer(options);
  servers.push(server);
  const { url } = await server.listen(0);
  const answers: { status: number; type: string; body: string; headers: Record<string, string> }[] = [];
  for (let i = 0; i < count; i++) {
    const res = await fetch(`${url}/embeddings`, {
      method: 'POST',
      body: JSON.stringify({ model: 'm', input: `t${i}` }),
    });
    answers.push({
      status: res.status,
      type: res.headers.get('content-type') ?? '',
      body: await res.text(),
      headers: Object.fromEntries(res.headers),
    });
  }
  return { answers, stats: server.stats };
}

describe('mulberry32', () => {
  test('the same seed gives the same sequence, a different seed another, all in [0, 1)', () => {
    const a = mulberry32(7);
    const b = mulberry32(7);
    const c = mulberry32(8);
    const seqA = Array.from({ length: 100 }, a);
    expect(Array.from({ length: 100 }, b)).toEqual(seqA);
    expect(Array.from({ length: 100 }, c)).not.toEqual(seqA);
    for (const x of seqA) expect(x >= 0 && x < 1).toBe(true);
  });
});

describe('fault injection', () => {
  test('with a fixed seed the sequence of failures repeats exactly on a new server', async () => {
    const first = await run({ failRate: 0.5, seed: 42 }, 40);
    const second = await run({ failRate: 0.5, seed: 42 }, 40);
    const statuses = first.answers.map((a) => a.status);
    expect(second.answers.map((a) => a.status)).toEqual(statuses);
    const other = await run({ failRate: 0.5, seed: 43 }, 40);
    expect(other.answers.map((a) => a.status)).not.toEqual(statuses);
    const failed = statuses.filter((s) => s !== 200).length;
    // 40 draws at 0.5: far from 0 and from 40 for this seed.
    expect(failed).toBeGreaterThan(10);
    expect(failed).toBeLessThan(30);
  });

  test('failRate 1 fails every valid request with 500, 502, 503 and 429, and the stats count them', async () => {
    const { answers, stats } = await run({ failRate: 1, seed: 3 }, 40);
    const statuses = new Set(answers.map((a) => a.status));
    expect([...statuses].sort()).toEqual([...FAULT_STATUSES].sort());
    expect(stats.embeddings).toBe(0);
    expect(Object.values(stats.faults).reduce((a, b) => a + b, 0)).toBe(40);
    expect(stats.faults[502]).toBe(answers.filter((a) => a.status === 502).length);
  });

  test('failRate 0 never fails', async () => {
    const { answers } = await run({ failRate: 0 }, 20);
    expect(answers.every((a) => a.status === 200)).toBe(true);
  });

  test('502 is an HTML page as a proxy sends it; 500, 503 and 429 are OpenAI JSON bodies', async () => {
    const { answers } = await run({ failRate: 1, seed: 3 }, 40);
    for (const answer of answers) {
      expect(answer.headers['x-request-id']).toMatch(/^req_/);
      if (answer.status === 502) {
        expect(answer.type).toBe('text/html');
        expect(answer.body).toContain('<title>502 Bad Gateway</title>');
        continue;
      }
      expect(answer.type).toBe('application/json');
      const { error } = JSON.parse(answer.body);
      if (answer.status === 429) {
        expect(error).toMatchObject({ type: 'requests', code: 'rate_limit_exceeded' });
        expect(answer.headers['retry-after-ms']).toBe('200');
        expect(answer.headers['retry-after']).toBe('1');
      } else {
        expect(error).toMatchObject({ type: 'server_error', param: null, code: null });
      }
    }
  });

  test.each([
    ['openai', { 'retry-after': '1', 'retry-after-ms': '200' }, 6],
    ['azure', { 'retry-after-ms': '200' }, 2],
    ['none', { 'retry-after': '1' }, 0],
  ] as const)(
    "headerStyle '%s': an injected 429 advises as the limits' own 429s do",
    async (headerStyle, advice, rateLimitHeaders) => {
      const { answers } = await run({ failRate: 1, seed: 3, rpm: 6000, tpm: 1_000_000, headerStyle }, 40);
      const refused = answers.filter((a) => a.status === 429);
      expect(refused.length).toBeGreaterThan(0);
      for (const { headers } of refused) {
        const names = Object.keys(headers);
        expect(names.filter((name) => name.startsWith('x-ratelimit-'))).toHaveLength(rateLimitHeaders);
        expect(
          Object.fromEntries(names.filter((n) => n.startsWith('retry-after')).map((n) => [n, headers[n]])),
        ).toEqual(advice);
      }
    },
  );

  test('invalid requests are answered 400, never replaced by an injected fault', async () => {
    const server = createServer({ failRate: 1 });
    servers.push(server);
    const { url } = await server.listen(0);
    const res = await fetch(`${url}/embeddings`, { method: 'POST', body: JSON.stringify({ model: 'm', input: '' }) });
    expect(res.status).toBe(400);
    expect(server.stats.faults).toEqual({ 500: 0, 502: 0, 503: 0, 429: 0 });
  });
});
