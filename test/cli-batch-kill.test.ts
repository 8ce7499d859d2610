/**
 * `embedrail batch` on 120,000 inputs in several batches, killed with SIGKILL after a seeded
 * random sequence of delays and rerun until it exits 0: the journal must make every rerun
 * resume without creating any batch twice and end with every id once, in input order.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { BatchJobState } from '../src/index.js';
import { createServer, localHashEmbedding, type LocalServer } from '../src/server/index.js';
import { startCli, type Exit } from './support/cli-child.js';
import { batchArgs, buildCli, createdKeys, leftFiles, readJsonl, tempDir } from './support/cli-helpers.js';

const INPUTS = 120_000;
const DIMENSIONS = 8;
const MAX_KILLS = 12;
// Override with EMBEDRAIL_KILL_SEED to replay a failing sequence; the seed is in the test name.
const SEED = Number(process.env.EMBEDRAIL_KILL_SEED ?? Date.now() % 100_000);

const dir = tempDir();
let server: LocalServer;
let url = '';
let cli = '';
beforeAll(async () => {
  server = createServer({ batchProcessingMs: 600, batchShuffle: true, seed: SEED });
  ({ url } = await server.listen(0, '127.0.0.1'));
  cli = await buildCli();
}, 60_000);
afterAll(async () => {
  await server.close();
  dir.remove();
});

/** mulberry32: a small seeded PRNG, so a failing kill sequence can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Where the job stood when it was killed, as its journal says: for the log of a failing seed. */
function phaseOf(journal: string): string {
  if (!existsSync(journal)) return 'no journal yet';
  try {
    const { batches } = JSON.parse(readFileSync(journal, 'utf8')) as BatchJobState;
    const count = (has: (b: BatchJobState['batches'][number]) => boolean) => batches.filter(has).length;
    return `${batches.length} batches, ${count((b) => b.fileId !== undefined)} uploaded, ${count((b) => b.batchId !== undefined)} created, ${count((b) => b.collected !== undefined)} collected`;
  } catch {
    return 'journal being written';
  }
}

test(`rerun after SIGKILLs at random moments (seed ${SEED}) ends with 120,000 ids once each, in order, and no batch created twice`, async () => {
  const ids = Array.from({ length: INPUTS }, (_, i) => `d${i}`);
  const texts = ids.map((id, i) => `${id} ${['river', 'hill', 'town', 'wood', 'lake'][i % 5]} ${i % 97}`);
  const input = dir.path('input.jsonl');
  writeFileSync(input, ids.map((id, i) => `${JSON.stringify({ id, text: texts[i] })}\n`).join(''));
  const out = dir.path('out.jsonl');
  const journal = dir.path('job.json');
  const args = batchArgs(
    input,
    url,
    out,
    journal,
    '--dimensions',
    String(DIMENSIONS),
    '--poll-interval',
    '20',
    '--max-inputs-per-batch',
    '20000',
  );

  const next = random(SEED);
  let kills = 0;
  let runs = 0;
  const moments: string[] = [];
  let exit: Exit = { code: null, signal: null, stdout: '', stderr: '' };
  while (exit.code !== 0) {
    expect(runs, `seed ${SEED}: still not done after ${runs} runs; last stderr: ${exit.stderr}`).toBeLessThan(
      MAX_KILLS + 3,
    );
    runs++;
    const child = startCli(cli, args);
    if (kills < MAX_KILLS) {
      const delay = 100 + Math.floor(next() * 1600);
      const timer = setTimeout(() => {
        if (child.child.exitCode === null && child.child.signalCode === null && child.child.kill('SIGKILL')) {
          kills++;
          moments.push(`${delay} ms: ${phaseOf(journal)}`);
        }
      }, delay);
      exit = await child.exit;
      clearTimeout(timer);
    } else {
      exit = await child.exit;
    }
    // A run that ended on its own must have succeeded; only a killed run may end otherwise.
    if (exit.signal !== 'SIGKILL') {
      expect(exit.code, `seed ${SEED}: ${exit.stderr}`).toBe(0);
    }
  }
  console.log(`seed ${SEED}: ${kills} kills, ${runs} runs; killed at\n  ${moments.join('\n  ')}`);

  expect(kills, `seed ${SEED}`).toBeGreaterThanOrEqual(3);
  const records = readJsonl(out);
  expect(records.length).toBe(INPUTS);
  expect(records.every((r, i) => r.id === ids[i])).toBe(true);
  const next2 = random(SEED ^ 0x9e3779b9);
  const sample = [0, 19_999, 20_000, INPUTS - 1, ...Array.from({ length: 50 }, () => Math.floor(next2() * INPUTS))];
  for (const i of sample) {
    const expected = localHashEmbedding(texts[i]!, DIMENSIONS);
    expect(records[i]!.embedding).toHaveLength(DIMENSIONS);
    records[i]!.embedding.forEach((value, j) => expect(value, `seed ${SEED}: ${ids[i]}`).toBeCloseTo(expected[j]!, 6));
  }
  const keys = await createdKeys(url, journal);
  expect(new Set(keys).size, `seed ${SEED}: ${keys.join(' ')}`).toBe(keys.length);
  expect(keys.length).toBeGreaterThanOrEqual(INPUTS / 20_000);
  // An input file uploaded just before a kill is found by its name on the rerun, not left behind.
  expect(await leftFiles(url, journal), `seed ${SEED}`).toEqual([]);
  const failures = `${out}.failures.jsonl`;
  expect(!existsSync(failures) || readFileSync(failures, 'utf8') === '').toBe(true);
}, 90_000);
