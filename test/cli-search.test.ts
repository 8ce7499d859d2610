import { appendFileSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cosineSimilarity } from '../src/index.js';
import { npyHeader } from '../src/cli/npy.js';
import { createServer, localHashEmbedding } from '../src/server/index.js';
import type { LocalServer } from '../src/server/index.js';
import { run, tempDir } from './cli-helpers.js';

let server: LocalServer;
let url: string;
const dir = tempDir();
const docs: Record<string, string> = {
  bread: 'knead the dough and bake the bread in a hot oven',
  comet: 'a comet with a long tail crossed the night sky',
  python: 'python lists are sorted with the sort method',
  garden: 'water the tomato plants in the garden every morning',
  oven: 'preheat the oven before you bake the cake',
};
const jsonl = dir.path('docs.jsonl');
const npy = dir.path('docs.npy');

beforeAll(async () => {
  server = createServer({ dimensions: 48 });
  ({ url } = await server.listen(0, '127.0.0.1'));
  const input = dir.path('docs.jsonl.in.jsonl');
  writeFileSync(input, Object.entries(docs).map(([id, text]) => JSON.stringify({ id, text })).join('\n'));
  for (const out of [jsonl, npy]) expect((await run(['embed', input, '--out', out, '--base-url', url])).code).toBe(0);
});
afterAll(async () => {
  await server.close();
  dir.remove();
});

function expectedRanking(query: string): [string, string][] {
  const q = localHashEmbedding(query, 48);
  return Object.entries(docs)
    .map(([id, text]) => [id, cosineSimilarity(q, localHashEmbedding(text, 48))] as const)
    .sort((a, b) => b[1] - a[1])
    .map(([id, score]) => [score.toFixed(4), id]);
}

function lines(stdout: string): [string, string][] {
  return stdout
    .trimEnd()
    .split('\n')
    .map((line) => line.split('\t') as [string, string]);
}

describe('search', () => {
  test.each([
    ['.jsonl', jsonl],
    ['.npy', npy],
  ])('over %s prints the k best ids as "score<TAB>id", best first, scored by cosine', async (_kind, vectors) => {
    const { code, stdout, stderr } = await run(['search', vectors, 'bake bread in the oven', '-k', '3', '--base-url', url]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const got = lines(stdout);
    expect(got).toHaveLength(3);
    expect(got[0]![1]).toBe('bread');
    expect(got).toEqual(expectedRanking('bake bread in the oven').slice(0, 3));
  });

  test('-k defaults to 5 and a k beyond the rows prints every row', async () => {
    expect(lines((await run(['search', jsonl, 'comet tail', '--base-url', url])).stdout)).toHaveLength(5);
    const all = await run(['search', jsonl, 'comet tail', '-k', '50', '--base-url', url]);
    expect(lines(all.stdout)).toEqual(expectedRanking('comet tail'));
  });

  test('.npy killed before its header caught up: the rows the header counts are searched, as numpy loads them', async () => {
    // embed writes rows, then ids, then the header; a SIGKILL between the last two leaves this.
    const killed = dir.path('killed.npy');
    copyFileSync(npy, killed);
    copyFileSync(`${npy}.ids.txt`, `${killed}.ids.txt`);
    const bytes = readFileSync(killed);
    npyHeader(4, 48).copy(bytes, 0);
    writeFileSync(killed, bytes);
    const ids = readFileSync(`${killed}.ids.txt`, 'utf8').trimEnd().split('\n');
    const { code, stdout, stderr } = await run(['search', killed, 'comet tail', '-k', '50', '--base-url', url]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(lines(stdout).map(([, id]) => id).sort()).toEqual(ids.slice(0, 4).sort());
  });

  test('.npy with fewer ids than rows is a usage error naming both counts', async () => {
    const short = dir.path('short.npy');
    copyFileSync(npy, short);
    writeFileSync(`${short}.ids.txt`, 'bread\ncomet\n');
    const { code, stderr } = await run(['search', short, 'comet tail', '--base-url', url]);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(`embedrail: '${short}' has 5 rows but '${short}.ids.txt' has 2 ids`);
  });

  test('a query embedded at other dimensions than the vectors is a usage error saying which flags to pass', async () => {
    const { code, stderr } = await run(['search', jsonl, 'comet', '--dimensions', '16', '--base-url', url]);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(
      `embedrail: the query vector has 16 dimensions but '${jsonl}' holds 48; pass the --model and --dimensions the vectors were made with`,
    );
  });

  test('an empty query is a usage error before any request', async () => {
    const before = server.stats.requests;
    const { code, stderr } = await run(['search', jsonl, '  ', '--base-url', url]);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe('embedrail: the query must not be empty');
    expect(server.stats.requests).toBe(before);
  });

  test.each([
    ['of another length', '[1,2]', 'line 6 has 2 dimensions, line 1 has 48'],
    ['with a string in its vector', `["0.5"${',0'.repeat(47)}]`, 'line 6: embedding[0] must be a finite number (got "0.5")'],
    ['with a null in its vector', `[0,null${',0'.repeat(46)}]`, 'line 6: embedding[1] must be a finite number (got null)'],
  ])('a vectors file with a line %s is a usage error naming the line, before any request', async (_name, embedding, message) => {
    const broken = dir.path(`broken-${embedding.length}-${embedding.charCodeAt(1)}.jsonl`);
    copyFileSync(jsonl, broken);
    appendFileSync(broken, `{"id":"x","embedding":${embedding}}\n`);
    const before = server.stats.requests;
    const { code, stderr } = await run(['search', broken, 'comet', '--base-url', url]);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(`embedrail: '${broken}' ${message}`);
    expect(server.stats.requests).toBe(before);
  });

  test('an API error on the query is reported in one line with exit 1', async () => {
    const failing = createServer({ failRate: 1 });
    const { url: failingUrl } = await failing.listen(0, '127.0.0.1');
    try {
      const { code, stderr } = await run(['search', jsonl, 'comet', '--base-url', failingUrl]);
      expect(code).toBe(1);
      expect(stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(stderr).toMatch(/^embedrail: .*(429|500|502|503)/);
    } finally {
      await failing.close();
    }
  });
});
