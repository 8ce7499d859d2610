// Benchmark 5: the cost of counting tokens in one input as it doubles in length, for a run of one
// character (the worst case of BPE on one pre-tokenized piece), a run of random letters (the same
// without cache hits) and random text. Near-linear cost shows as a ratio of ~2 per doubling.
// Then the local server: how long a small request waits behind one hostile input.
import { createRequire } from 'node:module';
import { cl100kTokenizer } from '../dist/index.js';
import { startChildServer } from './child-server.mjs';

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
