// Benchmark 5: the cost of counting tokens in one input as it doubles in length, for a run of one
// character (the worst case of BPE on one pre-tokenized piece), a run of random letters (the same
// without cache hits) and random text. Near-linear cost shows as a ratio of ~2 per doubling.
// Then the local server: how long a small request waits behind one hostile input.
import { createRequire } from 'node:module';
import { cl100kTokenizer, EmbeddingsClient } from '../dist/index.js';
import { startChildServer } from './child-server.mjs';
import { textAt } from './corpus.mjs';

// The cl100k encoding dist/ loads (bundled into dist/cl100k.cjs): its merge cache is emptied
// before each figure, so a run of one character is measured cold, not as the cache hit its
// repeated chunks become.
const gptTokenizer = createRequire(import.meta.url)('../dist/cl100k.cjs').api;

const LENGTHS = [10_000, 20_000, 40_000, 80_000, 160_000];

/** Deterministic pseudo-random text from `alphabet` (a tiny LCG: the same on every run). */
function randomText(alphabet, length, seed) {
  const chars = Array.from(alphabet);
  let state = seed;
  let text = '';
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    text += chars[(state >>> 8) % chars.length];
  }
  return text;
}

const CASES = [
  ["'a' × n", (n) => 'a'.repeat(n)],
  ['random letters, no space', (n) => randomText('abcdefghijklmnopqrstuvwxyz', n, 7)],
  ['random text', (n) => randomText('abcdefghijklmnopqrstuvwxyz      ,.ABCDEFG0123456789\n', n, 11)],
];

function timeMs(fn) {
  gptTokenizer.clearMergeCache();
  const started = performance.now();
  const result = fn();
  return { ms: performance.now() - started, result };
}

/** Wall time of a tiny request sent while the server handles `hostile`. */
async function waitBehind(url, hostile) {
  const post = (input) =>
    fetch(`${url}/embeddings`, { method: 'POST', body: JSON.stringify({ model: 'local-hash-embedding', input }) });
  await (await post('warm up')).arrayBuffer();
  const big = post(hostile).then((res) => res.arrayBuffer());
  // Give the big body a head start so the server is counting it when the small one arrives.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const started = performance.now();
  const small = post('hello').then((res) => res.arrayBuffer());
  // Each settles on its own clock: a failure is printed, not thrown, so the figures still print.
  const settled = (promise) =>
    promise.then(
      () => `${(performance.now() - started).toFixed(0)} ms`,
      (error) => `failed after ${(performance.now() - started).toFixed(0)} ms (${error.cause?.code ?? error.message})`,
    );
  const [smallMs, bigMs] = await Promise.all([settled(small), settled(big)]);
  return { smallMs, bigMs };
}

/**
 * Client CPU of createMany() for `input`, counting only what UTF-8 bytes cannot settle (cl100k
 * itself, which the engine knows to be byte-level) or every input (the same tokenizer behind
 * a wrapper, which the engine must count: how every job counted before).
 */
async function createManyCpu(url, input, tokenizer) {
  const client = new EmbeddingsClient({ baseURL: url, maxRetries: 0 });
  try {
    globalThis.gc?.();
    const since = process.cpuUsage();
    const res = await client.embeddings.createMany({ model: 'local-hash-embedding', input }, { tokenizer });
    const used = process.cpuUsage(since);
    if (res.data.length !== input.length) throw new Error('createMany: wrong answer shape');
    return (used.user + used.system) / 1000;
  } finally {
    await client.close();
  }
}

async function skippedCountingBench() {
  const everyInput = {
    count: (text) => cl100kTokenizer.count(text),
    countUpTo: (text, limit) => cl100kTokenizer.countUpTo(text, limit),
    truncate: (text, max) => cl100kTokenizer.truncate(text, max),
  };
  const server = await startChildServer({ dimensions: 8 });
  const corpora = [
    ['8,192 sentences of ~60 bytes', Array.from({ length: 8192 }, (_, i) => textAt(i))],
    [
      '8,192 texts of ~180 bytes',
      Array.from({ length: 8192 }, (_, i) => `${textAt(i)} ${textAt(i + 8192)} ${textAt(i + 16_384)}`),
    ],
    [
      '1,024 texts of ~6 kB',
      Array.from({ length: 1024 }, (_, i) => Array.from({ length: 100 }, (_, k) => textAt(i * 100 + k)).join(' ')),
    ],
  ];
  console.log(
    '   createMany() client CPU, 8 dimensions (median of 3): inputs counted only where bytes cannot settle a limit, vs every input counted',
  );
  try {
    await createManyCpu(server.url, corpora[0][1].slice(0, 100), cl100kTokenizer);
    for (const [label, input] of corpora) {
      const skipped = [];
      const counted = [];
      for (let r = 0; r < 3; r++) {
        skipped.push(await createManyCpu(server.url, input, cl100kTokenizer));
        counted.push(await createManyCpu(server.url, input, everyInput));
      }
      const median = (values) => values.sort((a, b) => a - b)[1];
      const [after, before] = [median(skipped), median(counted)];
      console.log(
        `   ${label.padEnd(30)} ${before.toFixed(0).padStart(5)} ms → ${after.toFixed(0).padStart(5)} ms (×${(before / after).toFixed(2)})`,
      );
    }
  } finally {
    await server.close();
  }
}

export async function tokenCountBench() {
  cl100kTokenizer.count('load the ranks before measuring');
  console.log(
    '\n5. Token counting: ms per count() of one input, cold cache (× ratio to half the length; ~2 is linear)',
  );
  for (const [label, make] of CASES) {
    let previous;
    const cells = [];
    for (const n of LENGTHS) {
      const { ms, result } = timeMs(() => cl100kTokenizer.count(make(n)));
      cells.push(
        `${(n / 1000).toFixed(0)}k ${ms.toFixed(0)} ms (${result} tok)${previous ? ` ×${(ms / previous).toFixed(1)}` : ''}`,
      );
      previous = ms;
    }
    console.log(`   ${label.padEnd(25)} ${cells.join('  ')}`);
  }
  const longest = LENGTHS.at(-1);
  const cuts = CASES.map(([label, make]) => {
    const { ms } = timeMs(() => cl100kTokenizer.truncate(make(longest), 8192));
    return `${label} ${ms.toFixed(0)} ms`;
  });
  console.log(`   truncate(n = ${longest / 1000}k, 8192): ${cuts.join(', ')}`);

  await skippedCountingBench();

  const server = await startChildServer({});
  try {
    for (const [label, make] of CASES.slice(0, 2)) {
      const { smallMs, bigMs } = await waitBehind(server.url, make(longest));
      console.log(
        `   local server: a small request sent while one ${label} input (n = ${longest / 1000}k) is handled is answered in ${smallMs} (the big one in ${bigMs} + 50 ms)`,
      );
    }
  } finally {
    await server.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await tokenCountBench();
