import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createServer, localHashEmbedding } from '../src/server/index.js';
import type { LocalServer } from '../src/server/index.js';
import { buildCli, readJsonl, readNpy, tempDir, until } from './support/cli-helpers.js';
import { maxDifference } from './support/vector-math.js';
import { startCli } from './support/cli-child.js';
import type { ChildRun } from './support/cli-child.js';

// These tests run the bundled CLI as a child process: what a user's shell does, signals included.

let cli: string;
let server: LocalServer;
let url: string;
const dir = tempDir();
const DIMS = 32;

beforeAll(async () => {
  cli = await buildCli();
  // Latency spreads the run over many responses, so a kill lands in the middle of it.
  server = createServer({ dimensions: DIMS, latency: 40 });
  ({ url } = await server.listen(0, '127.0.0.1'));
});
afterAll(async () => {
  await server.close();
  dir.remove();
  rmSync(dirname(cli), { recursive: true, force: true });
});

function start(args: string[], stdin?: string, nodeFlags: string[] = []): ChildRun {
  return startCli(cli, args, { stdin, nodeFlags });
}

function lineCount(path: string): number {
  try {
    return readFileSync(path, 'utf8').split('\n').length - 1;
  } catch {
    return 0;
  }
}

// Each spawn pays Node's start-up and module loading; on a loaded two-core machine that is seconds.
describe('the built binary', { timeout: 60_000 }, () => {
  test('--help exits 0 and lists the commands', async () => {
    const result = await start(['--help']).exit;
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/embed[\s\S]*search[\s\S]*serve/);
  });

  test('a bad flag gives one line on stderr and exit 2', async () => {
    const result = await start(['embed', 'x.txt', '--out', 'y.jsonl', '--concurrency', 'many']).exit;
    expect(result.code).toBe(2);
    expect(result.stderr.trimEnd().split('\n')).toEqual([
      "embedrail: option '--concurrency <n>' argument 'many' is invalid. must be an integer ≥ 1.",
    ]);
  });

  test('reads standard input piped into the process', async () => {
    const out = dir.path('piped.jsonl');
    const result = await start(['embed', '-', '--out', out, '--base-url', url], 'piped words\nmore words\n').exit;
    expect(result.code).toBe(0);
    expect(readJsonl(out).map((r) => r.id)).toEqual(['1', '2']);
  });
});

describe('memory', { timeout: 60_000 }, () => {
  test('embed keeps no record it has read: 96 MB of lines pass through a 48 MB heap', async () => {
    // Lines already in the output are read and skipped without a request, so the run is quick;
    // each line is 4 KB, so a run that kept every record it read would need twice the heap.
    // (32 MB of heap for 64 MB of lines: Node 24's baseline and collector left too little room,
    // and half the runs died with nothing kept.)
    const COUNT = 24_000;
    const text = 'x'.repeat(4000);
    const input = dir.path('wide.txt');
    const out = dir.path('wide.jsonl');
    writeFileSync(input, Array.from({ length: COUNT }, (_, i) => `${i + 1} ${text}\n`).join(''));
    writeFileSync(out, Array.from({ length: COUNT }, (_, i) => `{"id":"${i + 1}","embedding":[1]}\n`).join(''));
    const exit = await start(['embed', input, '--out', out, '--resume', '--base-url', url], undefined, [
      '--max-old-space-size=48',
    ]).exit;
    expect(exit.stderr).not.toMatch(/heap out of memory/);
    expect(exit.code).toBe(0);
    expect(exit.stderr).toMatch(/0 embedded, 24000 already in/);
  });
});

describe('resume after SIGKILL', { timeout: 60_000 }, () => {
  const COUNT = 1000;
  const texts = Array.from({ length: COUNT }, (_, i) => `sentence ${i + 1} about topic ${i % 17}`);
  const corpus = dir.path('corpus.txt');
  writeFileSync(corpus, `${texts.join('\n')}\n`);
  const args = (out: string) => [
    'embed',
    corpus,
    '--out',
    out,
    '--base-url',
    url,
    '--batch-size',
    '10',
    '--concurrency',
    '2',
  ];

  async function killMidway(out: string, written: () => number): Promise<number> {
    const run = start(args(out));
    await until(() => written() >= 50);
    const before = written();
    run.child.kill('SIGKILL');
    const exit = await run.exit;
    expect(exit.signal).toBe('SIGKILL');
    // The kill must land midway for the test to mean anything.
    expect(before).toBeGreaterThanOrEqual(50);
    expect(written()).toBeLessThan(COUNT);
    return written();
  }

  test('.jsonl: the rerun with --resume ends with every id exactly once and each vector its own', async () => {
    const out = dir.path('killed.jsonl');
    const partial = await killMidway(out, () => lineCount(out));
    const inputsBefore = server.stats.inputs;
    const rerun = await start([...args(out), '--resume']).exit;
    expect(rerun.code).toBe(0);
    // Only what was missing was sent again.
    expect(server.stats.inputs - inputsBefore).toBeLessThanOrEqual(COUNT - partial + 20);
    const records = readJsonl(out);
    expect(records).toHaveLength(COUNT);
    expect(new Set(records.map((r) => r.id)).size).toBe(COUNT);
    for (const record of records) {
      const expected = localHashEmbedding(texts[Number(record.id) - 1]!, DIMS);
      expect(maxDifference(record.embedding, expected), `id ${record.id}`).toBeLessThan(1e-6);
    }
  });

  test('.npy: the rerun with --resume ends with every id exactly once, matching its row', async () => {
    const out = dir.path('killed.npy');
    const rows = () => {
      try {
        return Math.floor((statSync(out).size - 128) / (4 * DIMS));
      } catch {
        return 0;
      }
    };
    await killMidway(out, rows);
    const rerun = await start([...args(out), '--resume']).exit;
    expect(rerun.code).toBe(0);
    const npy = readNpy(out);
    expect(npy.shape).toEqual([COUNT, DIMS]);
    const ids = readFileSync(`${out}.ids.txt`, 'utf8').trimEnd().split('\n');
    expect(ids).toHaveLength(COUNT);
    expect(new Set(ids).size).toBe(COUNT);
    ids.forEach((id, row) => {
      const expected = localHashEmbedding(texts[Number(id) - 1]!, DIMS);
      expect(maxDifference(npy.data.subarray(row * DIMS, (row + 1) * DIMS), expected), `id ${id}`).toBeLessThan(1e-6);
    });
  });
});

describe('serve', { timeout: 60_000 }, () => {
  test.each(['SIGINT', 'SIGTERM'] as const)(
    'prints its URL, answers, and on %s stops cleanly with exit 0',
    async (signal) => {
      const run = start(['serve', '--port', '0', '--dimensions', '8']);
      await until(() => /http:\/\/127\.0\.0\.1:\d+\/v1/.test(run.stdout()));
      const served = /http:\/\/127\.0\.0\.1:\d+\/v1/.exec(run.stdout())![0];
      const response = await fetch(`${served}/embeddings`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'local-hash-embedding', input: 'hello there' }),
      });
      expect(response.status).toBe(200);
      const body = (await response.json()) as { data: { embedding: number[] }[] };
      expect(body.data[0]!.embedding).toHaveLength(8);
      run.child.kill(signal);
      const exit = await run.exit;
      expect(exit.code).toBe(0);
      expect(exit.stdout).toMatch(/server stopped/);
      // The port is released: connecting now is refused.
      await expect(fetch(`${served}/models`)).rejects.toThrow();
    },
  );

  test('a port already in use is a usage error, exit 2', async () => {
    const port = new URL(url).port;
    const exit = await start(['serve', '--port', port]).exit;
    expect(exit.code).toBe(2);
    expect(exit.stderr.trim()).toBe(`embedrail: cannot listen on 127.0.0.1:${port}: EADDRINUSE`);
  });
});
