import { appendFileSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cosineSimilarity, topK } from '../src/index.js';
import { bestRows } from '../src/cli/search.js';
import { openVectors } from '../src/cli/vectors.js';
import { npyHeader } from '../src/cli/npy.js';
import { createServer, localHashEmbedding } from '../src/server/index.js';
import type { LocalServer } from '../src/server/index.js';
import { run, tempDir } from './support/cli-helpers.js';
import { useFakeApi } from './support/fake-api.js';
import { openAILike } from './support/openai-like.js';

let server: LocalServer;
let url: string;

/** `embedrail search <args...>` against the local server. */
const search = (...args: string[]) => run(['search', ...args, '--base-url', url]);
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
const input = dir.path('docs.jsonl.in.jsonl');

beforeAll(async () => {
  server = createServer({ dimensions: 48 });
  ({ url } = await server.listen(0, '127.0.0.1'));
  writeFileSync(
    input,
    Object.entries(docs)
      .map(([id, text]) => JSON.stringify({ id, text }))
      .join('\n'),
  );
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
    const { code, stdout, stderr } = await search(vectors, 'bake bread in the oven', '-k', '3');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const got = lines(stdout);
    expect(got).toHaveLength(3);
    expect(got[0]![1]).toBe('bread');
    expect(got).toEqual(expectedRanking('bake bread in the oven').slice(0, 3));
  });

  test('-k defaults to 5 and a k beyond the rows prints every row', async () => {
    expect(lines((await search(jsonl, 'comet tail')).stdout)).toHaveLength(5);
    const all = await search(jsonl, 'comet tail', '-k', '50');
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
    const { code, stdout, stderr } = await search(killed, 'comet tail', '-k', '50');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(
      lines(stdout)
        .map(([, id]) => id)
        .sort(),
    ).toEqual(ids.slice(0, 4).sort());
  });

  test('.npy with fewer ids than rows is a usage error naming both counts', async () => {
    const short = dir.path('short.npy');
    copyFileSync(npy, short);
    writeFileSync(`${short}.ids.txt`, 'bread\ncomet\n');
    const { code, stderr } = await search(short, 'comet tail');
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(`embedrail: '${short}' has 5 rows but '${short}.ids.txt' has 2 ids`);
  });

  test('a query embedded at other dimensions than the vectors is a usage error saying which flags to pass', async () => {
    const { code, stderr } = await search(jsonl, 'comet', '--dimensions', '16');
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(
      `embedrail: the query vector has 16 dimensions but '${jsonl}' holds 48; pass the --model and --dimensions the vectors were made with`,
    );
  });

  test('an empty query is a usage error before any request', async () => {
    const before = server.stats.requests;
    const { code, stderr } = await search(jsonl, '  ');
    expect(code).toBe(2);
    expect(stderr.trim()).toBe('embedrail: the query must not be empty');
    expect(server.stats.requests).toBe(before);
  });

  test.each([
    ['of another length', '[1,2]', 'line 6 has 2 dimensions, line 1 has 48'],
    [
      'with a string in its vector',
      `["0.5"${',0'.repeat(47)}]`,
      'line 6: embedding[0] must be a finite number (got "0.5")',
    ],
    [
      'with a null in its vector',
      `[0,null${',0'.repeat(46)}]`,
      'line 6: embedding[1] must be a finite number (got null)',
    ],
  ])(
    'a vectors file with a line %s is a usage error naming the line, before any request',
    async (_name, embedding, message) => {
      const broken = dir.path(`broken-${embedding.length}-${embedding.charCodeAt(1)}.jsonl`);
      copyFileSync(jsonl, broken);
      appendFileSync(broken, `{"id":"x","embedding":${embedding}}\n`);
      const before = server.stats.requests;
      const { code, stderr } = await search(broken, 'comet');
      expect(code).toBe(2);
      expect(stderr.trim()).toBe(`embedrail: '${broken}' ${message}`);
      expect(server.stats.requests).toBe(before);
    },
  );

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

describe('search and the model the vectors were made with', () => {
  const api = useFakeApi(...openAILike().handlers);
  /** A vectors file of 8 dimensions whose record says it was made with `model`. */
  const madeWith = (model: string, dimensions: number | null) => {
    const path = dir.path(`made-${model}-${dimensions}.jsonl`);
    writeFileSync(path, `${JSON.stringify({ id: 'a', embedding: Array.from({ length: 8 }, (_, i) => i + 1) })}\n`);
    writeFileSync(`${path}.meta.json`, `${JSON.stringify({ model, dimensions })}\n`);
    return path;
  };

  test('without --model the query is embedded with the recorded model and dimensions', async () => {
    const { code } = await run(['search', madeWith('recorded-model', 8), 'comet', '--base-url', api.url]);
    expect(code).toBe(0);
    expect(api.requests).toHaveLength(1);
    expect(api.requests[0]!.body).toMatchObject({ model: 'recorded-model', dimensions: 8 });
  });

  test.each([
    [
      ['--model', 'text-embedding-3-small'],
      "holds vectors of --model 'recorded-model' but --model is 'text-embedding-3-small'",
    ],
    [['--dimensions', '16'], 'was made with --dimensions 8 but --dimensions is 16'],
  ])('%j contradicting the record is a usage error before any request', async (flags, message) => {
    const path = madeWith('recorded-model', 8);
    const { code, stderr } = await run(['search', path, 'comet', '--base-url', api.url, ...flags]);
    expect(code).toBe(2);
    expect(stderr).toContain(`'${path}' ${message}`);
    expect(api.requests).toHaveLength(0);
  });
});

describe('search --texts', () => {
  test.each([
    ['.jsonl', jsonl],
    ['.npy', npy],
  ])(
    'over %s prints "score<TAB>id<TAB>text" lines, the text read from the input given to embed',
    async (_kind, vectors) => {
      const { code, stdout, stderr } = await search(vectors, 'bake bread in the oven', '-k', '3', '--texts', input);
      expect(stderr).toBe('');
      expect(code).toBe(0);
      expect(stdout).toBe(
        expectedRanking('bake bread in the oven')
          .slice(0, 3)
          .map(([score, id]) => `${score}\t${id}\t${docs[id]}\n`)
          .join(''),
      );
    },
  );

  test('a .csv input with --text-column: its line breaks and tabs become spaces, so a hit stays one line', async () => {
    const csv = dir.path('docs.csv');
    const rows = Object.entries(docs).map(([id, text]) =>
      id === 'comet' ? `${id},"a comet\twith a long tail\ncrossed the night sky"` : `${id},"${text}"`,
    );
    writeFileSync(csv, `id,body\n${rows.join('\n')}\n`);
    const { code, stdout } = await search(jsonl, 'comet tail', '-k', '1', '--texts', csv, '--text-column', 'body');
    expect(code).toBe(0);
    expect(stdout).toBe(
      `${expectedRanking('comet tail')[0]!.join('\t')}\ta comet with a long tail crossed the night sky\n`,
    );
  });

  test('an id the texts file lacks gets an empty text and a line on stderr; the exit stays 0', async () => {
    const partial = dir.path('partial.jsonl');
    writeFileSync(partial, `${JSON.stringify({ id: 'comet', text: docs.comet })}\n`);
    const { code, stdout, stderr } = await search(jsonl, 'comet tail', '-k', '2', '--texts', partial);
    expect(code).toBe(0);
    const [first, second] = expectedRanking('comet tail');
    expect(first![1]).toBe('comet');
    expect(stdout).toBe(`${first!.join('\t')}\t${docs.comet}\n${second!.join('\t')}\t\n`);
    expect(stderr).toBe(`embedrail: no text for id '${second![1]}' in '${partial}'\n`);
  });

  test.each([
    [
      'a texts file that does not exist',
      'missing.jsonl',
      /^embedrail: cannot read texts '.*missing\.jsonl': no such file\n$/,
    ],
    ['a texts file of an unknown format', 'notes.md', /^embedrail: cannot tell the format of input '.*notes\.md'/],
  ])('%s is a usage error before any request', async (_name, file, message) => {
    const before = server.stats.requests;
    const { code, stderr } = await search(jsonl, 'comet', '--texts', dir.path(file));
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(server.stats.requests).toBe(before);
  });
});

describe('bestRows: the vectors file scanned in chunks', () => {
  // Small integers, many repeated rows: ties everywhere, which the merge must break as topK does.
  const dimensions = 6;
  const rows = 57;
  let seed = 7;
  const next = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % 5) - 2;
  const matrix = new Float32Array(rows * dimensions);
  for (let row = 0; row < rows; row++) {
    for (let d = 0; d < dimensions; d++)
      matrix[row * dimensions + d] = row % 4 === 3 ? matrix[(row - 3) * dimensions + d]! : next();
  }
  const ids = Array.from({ length: rows }, (_, row) => `row-${row}`);
  const files = {
    npy: dir.path('chunks.npy'),
    jsonl: dir.path('chunks.jsonl'),
  };
  beforeAll(() => {
    writeFileSync(files.npy, Buffer.concat([npyHeader(rows, dimensions), Buffer.from(matrix.buffer)]));
    writeFileSync(`${files.npy}.ids.txt`, ids.map((id) => `${id}\n`).join(''));
    const records = ids.map((id, row) =>
      JSON.stringify({ id, embedding: [...matrix.subarray(row * dimensions, (row + 1) * dimensions)] }),
    );
    writeFileSync(files.jsonl, `${records.join('\n')}\n`);
  });

  test.each(['npy', 'jsonl'] as const)(
    '.%s: any chunk size gives what topK over the whole matrix gives, holding one chunk at a time',
    async (kind) => {
      const vectors = await openVectors(files[kind]);
      expect([vectors.rows, vectors.dimensions]).toEqual([rows, dimensions]);
      const scan = vectors.scan.bind(vectors);
      let largest = 0;
      vectors.scan = (rowsPerChunk, onChunk) =>
        scan(rowsPerChunk, (chunk) => {
          largest = Math.max(largest, chunk.matrix.length);
          onChunk(chunk);
        });
      for (const query of [
        [1, 0, -1, 2, 0, 1],
        [0, 0, 0, 0, 0, 1],
        [-2, 1, 1, 0, -1, 0],
      ]) {
        for (const k of [1, 3, 8, rows + 5]) {
          const expected = topK(query, matrix, k).map(({ index, score }) => ({ index, score, id: ids[index] }));
          for (const chunkRows of [1, 2, 5, 16, rows]) {
            largest = 0;
            const got = await bestRows(query, vectors, k, chunkRows * dimensions * 4);
            expect(got, `k ${k}, ${chunkRows} rows a chunk`).toEqual(expected);
            expect(largest).toBeLessThanOrEqual(Math.max(k, chunkRows) * dimensions);
          }
        }
      }
    },
  );
});
