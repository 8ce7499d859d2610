import { appendFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli } from '../src/cli/program.js';
import { createServer, localHashEmbedding } from '../src/server/index.js';
import {
  buildCli,
  capture,
  embedHarness,
  expectVectorsOf,
  readJsonl,
  readNpy,
  run,
  until,
} from './support/cli-helpers.js';
import { maxDifference } from './support/vector-math.js';
import { startCli } from './support/cli-child.js';

const { state, out, input, embed } = embedHarness();

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

  test.each([
    ['3.5 rows, 2 ids and part of a 3rd', 3.5, 2, 3],
    ['2.5 rows, 3 ids and part of a 4th', 2.5, 3, 3],
  ])(
    '.npy --resume keeps only rows that have both all their bytes and an id (%s)',
    async (name, rowsKept, idsKept, sent) => {
      const texts = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [String(i + 1), `row text ${i + 1}`]));
      const file = input(`p-${name}.txt`, `${Object.values(texts).join('\n')}\n`);
      const o = out('npy');
      expect((await embed([file, '--out', o, '--batch-size', '1', '--concurrency', '1'])).code).toBe(0);
      const full = readFileSync(o);
      const ids = readFileSync(`${o}.ids.txt`, 'utf8').split('\n').slice(0, 5);
      // What a kill can leave: part of a row, or part of an id line ('9' here), cut short.
      writeFileSync(o, full.subarray(0, 128 + rowsKept * 64 * 4));
      writeFileSync(
        `${o}.ids.txt`,
        `${ids
          .slice(0, idsKept)
          .map((id) => `${id}\n`)
          .join('')}9`,
      );
      const resumed = await embed([file, '--out', o, '--resume']);
      expect(resumed.code).toBe(0);
      expect(resumed.inputs).toBe(sent);
      const npy = readNpy(o);
      expect(npy.shape).toEqual([5, 64]);
      const finalIds = readFileSync(`${o}.ids.txt`, 'utf8').trimEnd().split('\n');
      expect([...finalIds].sort()).toEqual(['1', '2', '3', '4', '5']);
      finalIds.forEach((id, row) => {
        expect(
          maxDifference(npy.data.subarray(row * 64, (row + 1) * 64), localHashEmbedding(texts[id]!, 64)),
        ).toBeLessThan(1e-6);
      });
    },
  );

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

describe('resume continues with what made the output (the built binary)', { timeout: 60_000 }, () => {
  let cli: string;
  beforeAll(async () => {
    cli = await buildCli();
  });
  afterAll(() => rmSync(dirname(cli), { recursive: true, force: true }));

  /** Runs the binary against the test server; `requests` counts every request it saw, refused ones too. */
  async function child(args: string[]) {
    const before = state.server.stats.requests;
    const exit = await startCli(cli, ['embed', ...args, '--base-url', state.url]).exit;
    return { ...exit, requests: state.server.stats.requests - before };
  }

  test.each(['jsonl', 'npy'])(
    '.%s: --resume with another --model is refused before any request, naming both',
    async (extension) => {
      const file = input(`model-${extension}.txt`, 'one\ntwo\n');
      const o = out(extension);
      expect((await child([file, '--out', o, '--model', 'model-a'])).code).toBe(0);
      appendFileSync(file, 'three\n');
      const before = readFileSync(o);
      const refused = await child([file, '--out', o, '--model', 'model-b', '--resume']);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/--model 'model-a' but --model is 'model-b'/);
      expect(refused.requests).toBe(0);
      expect(readFileSync(o).equals(before)).toBe(true);
      // The command it advises works.
      const resumed = await child([file, '--out', o, '--model', 'model-a', '--resume']);
      expect(resumed.code).toBe(0);
      expect(resumed.requests).toBe(1);
    },
  );

  test('--resume without --dimensions asks for the dimensions the output was made with', async () => {
    const texts: Record<string, string> = { 1: 'alpha', 2: 'beta', 3: 'gamma' };
    const file = input('dims.txt', 'alpha\nbeta\n');
    const o = out();
    expect((await child([file, '--out', o, '--dimensions', '16'])).code).toBe(0);
    appendFileSync(file, 'gamma\n');
    const resumed = await child([file, '--out', o, '--resume']);
    expect(resumed.stderr).not.toMatch(/dimensions/);
    expect(resumed.code).toBe(0);
    expect(resumed.requests).toBe(1);
    expectVectorsOf(readJsonl(o), texts, 16);
  });
});

describe('resume refuses what it cannot continue', () => {
  test('a corrupt line before the last is a usage error naming it, and the file is left as it was', async () => {
    const file = input('x.txt', 'one\ntwo\n');
    const o = out();
    const content = '{"id":"1","embedding":[1]}\nnot a record\n{"id":"2","embedding":[1]}\n';
    writeFileSync(o, content);
    const { code, stderr, requests } = await embed([file, '--out', o, '--resume']);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(`embedrail: cannot resume '${o}': line 2 is not an {"id","embedding"} record`);
    expect(requests).toBe(0);
    expect(readFileSync(o, 'utf8')).toBe(content);
  });

  test('--resume with --overwrite is a usage error', async () => {
    const file = input('y.txt', 'one\n');
    const { code, stderr } = await embed([file, '--out', out(), '--resume', '--overwrite']);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe('embedrail: --resume and --overwrite contradict each other; pick one');
  });
});

describe('interruption', () => {
  test.each([
    ['after two lines', 'first\nsecond\n', []],
    ['before any line, while the format is sniffed', '', []],
    ['before any line, with --format', '', ['--format', 'txt']],
  ])(
    'an abort while stdin is open but silent (a pipe like tail -f) %s stops the run with exit 130',
    async (_when, written, flags) => {
      const stdin = new PassThrough();
      stdin.write(written);
      const stderr = capture();
      const controller = new AbortController();
      const args = ['embed', '-', ...flags, '--out', out(), '--base-url', state.url];
      const running = runCli(args, {
        stdin,
        stdout: capture().stream,
        stderr: stderr.stream,
        signal: controller.signal,
      });
      // Abort once what was written is read and the reader waits on the pipe for more.
      await until(() => stdin.readableFlowing !== null && stdin.readableLength === 0, 500);
      controller.abort();
      expect(await running).toBe(130);
      expect(stderr.text).toContain('embedrail: interrupted; rerun with --resume to finish');
      expect(stdin.destroyed).toBe(true);
    },
  );

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
      await until(() => existsSync(o) && readFileSync(o, 'utf8').split('\n').length > 4, 500);
      controller.abort();
      const stopped = await running;
      expect(stopped.code).toBe(130);
      const partial = readJsonl(o).length;
      // Every input the run took is in the file; the rest are counted against the known total.
      expect(stopped.stderr).toContain(
        `interrupted; ${40 - partial} inputs are not done; rerun with --resume to finish`,
      );
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
