import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { createServer, localHashEmbedding } from '../src/server/index.js';
import type { LocalServer } from '../src/server/index.js';
import { maxDifference, readJsonl, readNpy, run, tempDir } from './cli-helpers.js';
import type { JsonlVector } from './cli-helpers.js';

let server: LocalServer;
let url: string;
const dir = tempDir();

beforeAll(async () => {
  server = createServer({ dimensions: 64 });
  ({ url } = await server.listen(0, '127.0.0.1'));
});
afterAll(async () => {
  await server.close();
  dir.remove();
});
afterEach(() => {
  vi.unstubAllEnvs();
});

let counter = 0;
/** A fresh output path per test, so tests never see each other's files. */
function out(extension = 'jsonl'): string {
  return dir.path(`out-${++counter}.${extension}`);
}

function input(name: string, content: string): string {
  const path = dir.path(name);
  writeFileSync(path, content);
  return path;
}

/** Each record's vector is the local model's vector of the text with that id: nothing mixed up. */
function expectVectorsOf(records: JsonlVector[], texts: Record<string, string>): void {
  expect(records.map((r) => r.id).sort()).toEqual(Object.keys(texts).sort());
  for (const record of records) {
    expect(record.embedding).toHaveLength(64);
    expect(maxDifference(record.embedding, localHashEmbedding(texts[record.id]!, 64)), `id ${record.id}`).toBeLessThan(1e-6);
  }
}

async function embed(args: string[], stdin?: string) {
  const before = { ...server.stats };
  const result = await run(['embed', ...args, '--base-url', url], { stdin });
  return { ...result, requests: server.stats.embeddings - before.embeddings, inputs: server.stats.inputs - before.inputs };
}

describe('input formats', () => {
  test('.txt: one text per line, ids are 1-based line numbers, CRLF and a BOM tolerated', async () => {
    const file = input('a.txt', '\uFEFFthe cat sat on the mat\r\ndogs chase cats\r\nstars shine at night\n');
    const o = out();
    const { code, requests, stderr } = await embed([file, '--out', o]);
    expect(code).toBe(0);
    expect(requests).toBe(1);
    expectVectorsOf(readJsonl(o), { 1: 'the cat sat on the mat', 2: 'dogs chase cats', 3: 'stars shine at night' });
    expect(stderr).toMatch(/3 embedded, 0 failed/);
    expect(existsSync(`${o}.failures.jsonl`)).toBe(false);
  });

  test('.jsonl: --id-field and --text-field pick the fields; numeric ids become strings; a missing id is the line number', async () => {
    const file = input(
      'b.jsonl',
      [
        JSON.stringify({ key: 'alpha', body: 'red apples' }),
        '',
        JSON.stringify({ key: 7, body: 'green pears' }),
        JSON.stringify({ body: 'yellow bananas' }),
      ].join('\n'),
    );
    const o = out();
    const { code } = await embed([file, '--out', o, '--id-field', 'key', '--text-field', 'body']);
    expect(code).toBe(0);
    expectVectorsOf(readJsonl(o), { alpha: 'red apples', 7: 'green pears', 4: 'yellow bananas' });
  });

  test('.jsonl: default fields are id and text', async () => {
    const file = input('c.jsonl', `${JSON.stringify({ id: 'x', text: 'one' })}\n${JSON.stringify({ id: 'y', text: 'two' })}\n`);
    const o = out();
    expect((await embed([file, '--out', o])).code).toBe(0);
    expectVectorsOf(readJsonl(o), { x: 'one', y: 'two' });
  });

  test('.csv: quoted commas and newlines survive; --text-column and --id-column pick the columns', async () => {
    const file = input('d.csv', 'ref,title,body\nr1,T,"bread, butter and jam"\nr2,U,"a line\nand another"\n');
    const o = out();
    const { code } = await embed([file, '--out', o, '--text-column', 'body', '--id-column', 'ref']);
    expect(code).toBe(0);
    expectVectorsOf(readJsonl(o), { r1: 'bread, butter and jam', r2: 'a line\nand another' });
  });

  test('.csv without the id column: ids are 1-based data row numbers', async () => {
    const file = input('e.csv', 'text\nfirst row\nsecond row\n');
    const o = out();
    expect((await embed([file, '--out', o])).code).toBe(0);
    expectVectorsOf(readJsonl(o), { 1: 'first row', 2: 'second row' });
  });

  test('.csv without the text column is a usage error naming the columns', async () => {
    const file = input('f.csv', 'a,b\n1,2\n');
    const { code, stderr, requests } = await embed([file, '--out', out()]);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe("embedrail: CSV header has no column 'text' (columns: a, b); pass --text-column");
    expect(requests).toBe(0);
  });

  test('stdin (-) starting with { is read as JSONL', async () => {
    const o = out();
    const { code } = await embed(['-', '--out', o], `${JSON.stringify({ id: 'q', text: 'from a pipe' })}\n`);
    expect(code).toBe(0);
    expectVectorsOf(readJsonl(o), { q: 'from a pipe' });
  });

  test('stdin (-) not starting with { is read as text, one per line', async () => {
    const o = out();
    expect((await embed(['-', '--out', o], '\n  \nsome words\n')).code).toBe(1);
    // The blank line is input 1 (a failure), the whitespace-only line is a real text.
    expectVectorsOf(readJsonl(o), { 2: '  ', 3: 'some words' });
  });

  test('stdin (-) with --format csv is read as CSV', async () => {
    const o = out();
    expect((await embed(['-', '--out', o, '--format', 'csv'], 'id,text\nk,comma, separated\n')).code).toBe(0);
    // csv-parse reads "comma" as the text and " separated" as an extra field; quoting is the writer's job.
    expectVectorsOf(readJsonl(o), { k: 'comma' });
  });

  test('--format overrides the extension', async () => {
    const file = input('g.data', 'plain text line\n');
    const o = out();
    expect((await embed([file, '--out', o, '--format', 'txt'])).code).toBe(0);
    expectVectorsOf(readJsonl(o), { 1: 'plain text line' });
  });
});

describe('.npy output', () => {
  test('is a v1.0 float32 little-endian matrix with shape (n, d) and an ids file beside it', async () => {
    const texts = ['north wind', 'south sea', 'east gate', 'west tower', 'north tower'];
    const file = input('h.txt', `${texts.join('\n')}\n`);
    const o = out('npy');
    expect((await embed([file, '--out', o, '--batch-size', '2'])).code).toBe(0);
    const npy = readNpy(o);
    expect(npy.version).toEqual([1, 0]);
    expect(npy.descr).toBe('<f4');
    expect(npy.shape).toEqual([5, 64]);
    expect(npy.dataBytes).toBe(5 * 64 * 4);
    const ids = readFileSync(`${o}.ids.txt`, 'utf8').split('\n');
    expect(ids.pop()).toBe('');
    expect([...ids].sort()).toEqual(['1', '2', '3', '4', '5']);
    ids.forEach((id, row) => {
      const expected = localHashEmbedding(texts[Number(id) - 1]!, 64);
      expect(maxDifference(npy.data.subarray(row * 64, (row + 1) * 64), expected), `id ${id}`).toBeLessThan(1e-6);
    });
  });

  test('with nothing embedded it is still a valid empty matrix', async () => {
    const file = input('i.txt', '\n');
    const o = out('npy');
    expect((await embed([file, '--out', o, '--dimensions', '64'])).code).toBe(1);
    const npy = readNpy(o);
    expect(npy.shape).toEqual([0, 64]);
    expect(npy.dataBytes).toBe(0);
    expect(readFileSync(`${o}.ids.txt`, 'utf8')).toBe('');
  });
});

describe('failures never disappear', () => {
  test('an empty line and an over-long input go to <out>.failures.jsonl, the rest is embedded, exit 1', async () => {
    const long = 'word '.repeat(9000);
    const file = input('j.txt', `good one\n\n${long}\ngood two\n`);
    const o = out();
    const { code, inputs, stderr } = await embed([file, '--out', o]);
    expect(code).toBe(1);
    expect(inputs).toBe(2);
    expectVectorsOf(readJsonl(o), { 1: 'good one', 4: 'good two' });
    const failures = readJsonl<{ id: string; error: { name: string; message: string } }>(`${o}.failures.jsonl`);
    expect(failures.map((f) => f.id).sort()).toEqual(['2', '3']);
    expect(failures.find((f) => f.id === '2')!.error).toMatchObject({ name: 'InvalidArgumentError', message: expect.stringMatching(/empty string/) });
    expect(failures.find((f) => f.id === '3')!.error).toMatchObject({ name: 'InvalidArgumentError', message: expect.stringMatching(/8192/) });
    expect(stderr).toMatch(/2 embedded, 2 failed \(see .*failures\.jsonl\)/);
  });

  test('broken JSONL records and repeated ids are failures under their ids, not dropped', async () => {
    const file = input(
      'k.jsonl',
      ['{"id":"a","text":"fine"}', '{not json', '{"id":"b"}', '{"id":"a","text":"again"}', '[1,2]'].join('\n'),
    );
    const o = out();
    expect((await embed([file, '--out', o])).code).toBe(1);
    expectVectorsOf(readJsonl(o), { a: 'fine' });
    const failures = readJsonl<{ id: string; error: { message: string } }>(`${o}.failures.jsonl`);
    expect(failures.map((f) => [f.id, f.error.message])).toEqual([
      ['2', expect.stringMatching(/^line 2: invalid JSON/)],
      ['b', "line 3: 'text' must be a string (got missing)"],
      ['a', expect.stringMatching(/appears more than once/)],
      ['5', 'line 5: expected a JSON object'],
    ]);
  });

  test('server errors that outlast the retries are failures with their status; the key never shows', async () => {
    const failing = createServer({ dimensions: 64, failRate: 1, seed: 3 });
    const { url: failingUrl } = await failing.listen(0, '127.0.0.1');
    try {
      const file = input('l.txt', 'a\nb\nc\n');
      const o = out();
      const secret = 'sk-test-do-not-print-0123456789';
      const result = await run(['embed', file, '--out', o, '--base-url', failingUrl, '--max-retries', '0', '--batch-size', '1', '--api-key', secret]);
      expect(result.code).toBe(1);
      expect(readFileSync(o, 'utf8')).toBe('');
      const failures = readJsonl<{ id: string; error: { name: string; status: number } }>(`${o}.failures.jsonl`);
      expect(failures.map((f) => f.id).sort()).toEqual(['1', '2', '3']);
      for (const f of failures) expect([429, 500, 502, 503]).toContain(f.error.status);
      expect(failing.stats.requests).toBe(3);
      const everything = result.stdout + result.stderr + readFileSync(`${o}.failures.jsonl`, 'utf8');
      expect(everything).not.toContain(secret);
    } finally {
      await failing.close();
    }
  });

  test('a rerun with --resume retries only the failed ids and leaves no stale failures file', async () => {
    const file = input('m.txt', 'kept\n\nalso kept\n');
    const o = out();
    expect((await embed([file, '--out', o])).code).toBe(1);
    writeFileSync(file, 'kept\nnow filled\nalso kept\n');
    const second = await embed([file, '--out', o, '--resume']);
    expect(second.code).toBe(0);
    expect(second.inputs).toBe(1);
    expect(existsSync(`${o}.failures.jsonl`)).toBe(false);
    expectVectorsOf(readJsonl(o), { 1: 'kept', 2: 'now filled', 3: 'also kept' });
  });
});

describe('resume', () => {
  test('--resume onto a complete output sends nothing', async () => {
    const file = input('n.txt', 'one\ntwo\nthree\n');
    const o = out();
    expect((await embed([file, '--out', o])).code).toBe(0);
    const again = await embed([file, '--out', o, '--resume']);
    expect(again.code).toBe(0);
    expect(again.requests).toBe(0);
    expect(again.stderr).toMatch(/0 embedded, 3 already in/);
    expect(readJsonl(o)).toHaveLength(3);
  });

  test('--resume truncates a line cut short by a crash and embeds only the missing ids', async () => {
    const texts = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [String(i + 1), `text number ${i + 1}`]));
    const file = input('o.txt', `${Object.values(texts).join('\n')}\n`);
    const o = out();
    expect((await embed([file, '--out', o])).code).toBe(0);
    const lines = readFileSync(o, 'utf8').split('\n').slice(0, 3);
    // Three whole lines, then half of a fourth, as a kill during a write leaves it.
    writeFileSync(o, `${lines.join('\n')}\n${lines[0]!.slice(0, 40)}`);
    const resumed = await embed([file, '--out', o, '--resume']);
    expect(resumed.code).toBe(0);
    expect(resumed.inputs).toBe(3);
    expectVectorsOf(readJsonl(o), texts);
  });

  test('.npy --resume keeps only rows that have both all their bytes and an id', async () => {
    const texts = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [String(i + 1), `row text ${i + 1}`]));
    const file = input('p.txt', `${Object.values(texts).join('\n')}\n`);
    const o = out('npy');
    expect((await embed([file, '--out', o, '--batch-size', '1', '--concurrency', '1'])).code).toBe(0);
    const full = readFileSync(o);
    const ids = readFileSync(`${o}.ids.txt`, 'utf8').split('\n').slice(0, 5);
    // The matrix got 3 rows and half of a 4th; the ids file 2 ids and part of a 3rd.
    writeFileSync(o, full.subarray(0, 128 + 3.5 * 64 * 4));
    writeFileSync(`${o}.ids.txt`, `${ids[0]}\n${ids[1]}\n${ids[2]!.slice(0, 0)}9`);
    const resumed = await embed([file, '--out', o, '--resume']);
    expect(resumed.code).toBe(0);
    expect(resumed.inputs).toBe(3);
    const npy = readNpy(o);
    expect(npy.shape).toEqual([5, 64]);
    const finalIds = readFileSync(`${o}.ids.txt`, 'utf8').trimEnd().split('\n');
    expect([...finalIds].sort()).toEqual(['1', '2', '3', '4', '5']);
    finalIds.forEach((id, row) => {
      expect(maxDifference(npy.data.subarray(row * 64, (row + 1) * 64), localHashEmbedding(texts[id]!, 64))).toBeLessThan(1e-6);
    });
  });

  test('an existing output without --resume or --overwrite is a usage error; --overwrite replaces it', async () => {
    const file = input('q.txt', 'alpha\n');
    const o = out();
    writeFileSync(o, 'precious\n');
    const refused = await embed([file, '--out', o]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/already exists; pass --resume to continue it or --overwrite to replace it/);
    expect(refused.requests).toBe(0);
    expect(readFileSync(o, 'utf8')).toBe('precious\n');
    expect((await embed([file, '--out', o, '--overwrite'])).code).toBe(0);
    expectVectorsOf(readJsonl(o), { 1: 'alpha' });
  });

  test('--resume with other --dimensions than the output holds is a usage error before any request', async () => {
    const file = input('r.txt', 'alpha\nbeta\n');
    const o = out();
    appendFileSync(o, `${JSON.stringify({ id: '1', embedding: [0.6, 0.8] })}\n`);
    const { code, stderr, requests } = await embed([file, '--out', o, '--resume', '--dimensions', '64']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/holds 2-dimension vectors but --dimensions is 64/);
    expect(requests).toBe(0);
  });
});

describe('client flags', () => {
  test('--dimensions is sent to the API', async () => {
    const file = input('s.txt', 'short vector\n');
    const o = out();
    expect((await embed([file, '--out', o, '--dimensions', '16'])).code).toBe(0);
    const [record] = readJsonl(o);
    expect(record!.embedding).toHaveLength(16);
  });

  test('without a key for the OpenAI default URL: exit 2 naming the variables, nothing sent', async () => {
    vi.stubEnv('EMBEDRAIL_BASE_URL', '');
    vi.stubEnv('OPENAI_BASE_URL', '');
    vi.stubEnv('EMBEDRAIL_API_KEY', '');
    vi.stubEnv('OPENAI_API_KEY', '');
    const file = input('t.txt', 'anything\n');
    const { code, stderr } = await run(['embed', file, '--out', out()]);
    expect(code).toBe(2);
    expect(stderr.trim()).toMatch(/^embedrail: No API key for https:\/\/api\.openai\.com\/v1: .*EMBEDRAIL_API_KEY or OPENAI_API_KEY/);
  });

  test('--batch-size caps the inputs per request', async () => {
    const file = input('u.txt', 'a1\na2\na3\na4\na5\n');
    const { code, requests } = await embed([file, '--out', out(), '--batch-size', '2']);
    expect(code).toBe(0);
    expect(requests).toBe(3);
  });
});

describe('interruption', () => {
  test('an abort (SIGINT) stops with exit 130 and whole lines only; --resume then finishes every id exactly once', async () => {
    const slow = createServer({ dimensions: 64, latency: 30 });
    const { url: slowUrl } = await slow.listen(0, '127.0.0.1');
    try {
      const texts = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [String(i + 1), `slow text ${i + 1}`]));
      const file = input('v.txt', `${Object.values(texts).join('\n')}\n`);
      const o = out();
      const controller = new AbortController();
      const args = ['embed', file, '--out', o, '--base-url', slowUrl, '--batch-size', '1', '--concurrency', '1'];
      const running = run(args, { signal: controller.signal });
      for (let i = 0; i < 500 && !(existsSync(o) && readFileSync(o, 'utf8').split('\n').length > 4); i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      controller.abort();
      const stopped = await running;
      expect(stopped.code).toBe(130);
      expect(stopped.stderr).toMatch(/interrupted; \d+ inputs are not done; rerun with --resume to finish/);
      const partial = readJsonl(o).length;
      expect(partial).toBeGreaterThanOrEqual(4);
      expect(partial).toBeLessThan(40);
      expect(existsSync(`${o}.failures.jsonl`)).toBe(false);
      const resumed = await run([...args, '--resume']);
      expect(resumed.code).toBe(0);
      expectVectorsOf(readJsonl(o), texts);
    } finally {
      await slow.close();
    }
  });
});

describe('--truncate', () => {
  test('cuts an over-long input to 8192 tokens instead of failing it', async () => {
    const long = 'word '.repeat(9000);
    const file = input('w.txt', `${long}\n`);
    const o = out();
    const { code, inputs } = await embed([file, '--out', o, '--truncate']);
    expect(code).toBe(0);
    expect(inputs).toBe(1);
    expect(readJsonl(o).map((r) => r.id)).toEqual(['1']);
  });
});
