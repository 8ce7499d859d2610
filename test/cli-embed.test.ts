import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { createServer, localHashEmbedding } from '../src/server/index.js';
import { embedHarness, expectVectorsOf, readJsonl, readNpy, run } from './support/cli-helpers.js';
import { maxDifference } from './support/vector-math.js';

const { out, input, embed } = embedHarness();

afterEach(() => {
  vi.unstubAllEnvs();
});

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
    const file = input(
      'c.jsonl',
      `${JSON.stringify({ id: 'x', text: 'one' })}\n${JSON.stringify({ id: 'y', text: 'two' })}\n`,
    );
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

  test.each(['jsonl', 'npy'])(
    '.csv without the text column is a usage error naming the columns, leaving no %s output in the way of the corrected command',
    async (extension) => {
      const file = input(`f-${extension}.csv`, 'a,b\n1,2\n');
      const o = out(extension);
      const { code, stderr, requests } = await embed([file, '--out', o]);
      expect(code).toBe(2);
      expect(stderr.trim()).toBe("embedrail: CSV header has no column 'text' (columns: a, b); pass --text-column");
      expect(requests).toBe(0);
      expect(existsSync(o)).toBe(false);
      expect(existsSync(`${o}.ids.txt`)).toBe(false);
      const rerun = await embed([file, '--out', o, '--text-column', 'b']);
      expect(rerun.code).toBe(0);
      expect(rerun.inputs).toBe(1);
    },
  );

  test('stdin (-) starting with { is read as JSONL', async () => {
    const o = out();
    const { code } = await embed(['-', '--out', o], { stdin: `${JSON.stringify({ id: 'q', text: 'from a pipe' })}\n` });
    expect(code).toBe(0);
    expectVectorsOf(readJsonl(o), { q: 'from a pipe' });
  });

  test('stdin (-) not starting with { is read as text, one per line', async () => {
    const o = out();
    expect((await embed(['-', '--out', o], { stdin: '\n  \nsome words\n' })).code).toBe(1);
    // The blank line is input 1 (a failure), the whitespace-only line is a real text.
    expectVectorsOf(readJsonl(o), { 2: '  ', 3: 'some words' });
  });

  test('stdin (-) with --format csv is read as CSV', async () => {
    const o = out();
    expect((await embed(['-', '--out', o, '--format', 'csv'], { stdin: 'id,text\nk,comma, separated\n' })).code).toBe(
      0,
    );
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
    expect(failures.find((f) => f.id === '2')!.error).toMatchObject({
      name: 'InvalidArgumentError',
      message: expect.stringMatching(/empty string/),
    });
    expect(failures.find((f) => f.id === '3')!.error).toMatchObject({
      name: 'InvalidArgumentError',
      message: expect.stringMatching(/8192/),
    });
    expect(stderr).toMatch(/2 embedded, 2 failed \(see .*failures\.jsonl\)/);
  });

  test('broken JSONL records and repeated ids are failures under their ids, not dropped, in every run', async () => {
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
    // The rerun reports the same failures: a repeated id whose first copy is done is not "resumed".
    const rerun = await embed([file, '--out', o, '--resume']);
    expect(rerun.code).toBe(1);
    expect(rerun.requests).toBe(0);
    expect(readJsonl(`${o}.failures.jsonl`).map((f) => f.id)).toEqual(['2', 'b', 'a', '5']);
  });

  test('repeats of numbered ids are found like any other, and "7", "07" and "7.0" are three ids', async () => {
    const records = [
      ['7', 'a'],
      ['07', 'b'],
      ['7.0', 'c'],
      ['7', 'd'],
      ['4294967296', 'e'],
      ['4294967296', 'f'],
    ];
    const file = input('numbered.jsonl', records.map(([id, text]) => JSON.stringify({ id, text })).join('\n'));
    const o = out();
    expect((await embed([file, '--out', o])).code).toBe(1);
    expectVectorsOf(readJsonl(o), { 7: 'a', '07': 'b', '7.0': 'c', 4294967296: 'e' });
    expect(readJsonl(`${o}.failures.jsonl`).map((f) => f.id)).toEqual(['7', '4294967296']);
  });

  test('server errors that outlast the retries are failures with their status; the key never shows', async () => {
    const failing = createServer({ dimensions: 64, failRate: 1, seed: 3 });
    const { url: failingUrl } = await failing.listen(0, '127.0.0.1');
    try {
      // Two requests: a third failing in a row would stop the job (see the batch engine's tests).
      const file = input('l.txt', 'a\nb\n');
      const o = out();
      const secret = 'sk-test-do-not-print-0123456789';
      const result = await run([
        'embed',
        file,
        '--out',
        o,
        '--base-url',
        failingUrl,
        '--max-retries',
        '0',
        '--batch-size',
        '1',
        '--api-key',
        secret,
      ]);
      expect(result.code).toBe(1);
      expect(readFileSync(o, 'utf8')).toBe('');
      const failures = readJsonl<{ id: string; error: { name: string; status: number } }>(`${o}.failures.jsonl`);
      expect(failures.map((f) => f.id).sort()).toEqual(['1', '2']);
      for (const f of failures) expect([429, 500, 502, 503]).toContain(f.error.status);
      expect(failing.stats.requests).toBe(2);
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

describe('the input is never an output', () => {
  test.each([
    ['--out', (file: string) => file],
    ['the failures file', (file: string) => file.replace(/\.failures\.jsonl$/, '')],
  ])(
    '%s naming the input is a usage error, even with --overwrite, and the input is left whole',
    async (_name, outFor) => {
      const file = input('same.jsonl.failures.jsonl', '{"id":"a","text":"keep me"}\n');
      const { code, stderr, requests } = await embed([file, '--out', outFor(file), '--overwrite']);
      expect(code).toBe(2);
      expect(stderr.trim()).toMatch(
        /^embedrail: input '.*same\.jsonl\.failures\.jsonl' is also the output file '.*'; write the output elsewhere$/,
      );
      expect(requests).toBe(0);
      expect(readFileSync(file, 'utf8')).toBe('{"id":"a","text":"keep me"}\n');
    },
  );
});

describe('client flags', () => {
  test('--dimensions is sent to the API', async () => {
    const file = input('s.txt', 'short vector\n');
    const o = out();
    expect((await embed([file, '--out', o, '--dimensions', '16'])).code).toBe(0);
    const [record] = readJsonl(o);
    expect(record!.embedding).toHaveLength(16);
  });

  test('without a key for the OpenAI default URL: exit 2 naming --api-key, the variables and --base-url, nothing sent', async () => {
    vi.stubEnv('EMBEDRAIL_BASE_URL', '');
    vi.stubEnv('OPENAI_BASE_URL', '');
    vi.stubEnv('EMBEDRAIL_API_KEY', '');
    vi.stubEnv('OPENAI_API_KEY', '');
    const file = input('t.txt', 'anything\n');
    const { code, stderr } = await run(['embed', file, '--out', out()]);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(
      'embedrail: No API key for https://api.openai.com/v1: pass --api-key or set EMBEDRAIL_API_KEY or OPENAI_API_KEY (both were empty); ' +
        'for a local server pass --base-url (embedrail serve prints it)',
    );
  });

  test('--batch-size caps the inputs per request', async () => {
    const file = input('u.txt', 'a1\na2\na3\na4\na5\n');
    const { code, requests } = await embed([file, '--out', out(), '--batch-size', '2']);
    expect(code).toBe(0);
    expect(requests).toBe(3);
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
