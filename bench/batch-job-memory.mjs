// Benchmark: `embedrail batch` of a .txt file to .npy through the Batch API of a local server in
// another process, printing the CLI process's peak RSS (VmHWM, sampled from /proc), the
// server's, and the time. Two cases: a million inputs of 16 dimensions (what the CLI keeps per
// input is its id), and 59,580 inputs of 3,072 dimensions, two shards at the 500 MB output
// budget (what it keeps per shard is a window of a few MB of vectors, however large the shard).
// Both peaks must stay under 300 MB. A budget bounds each run.
// BENCH_NODE_FLAGS (e.g. "--max-old-space-size=128") are given to the CLI's node, to tell the
// live data from what V8's heap sizing adds to the peak.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { batchCommandArgs } from './batch-args.mjs';
import { startChildServer } from './child-server.mjs';
import { peakRss, printPeak, writeCorpusFile } from './corpus.mjs';

const MB = 1024 * 1024;

/** Pids of this process's children, from /proc (empty elsewhere). */
function childPids() {
  try {
    return readdirSync(`/proc/${process.pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${process.pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

/**
 * @param {{ lines?: number, dimensions?: number, model?: string, budgetMs?: number }} options
 *   budgetMs bounds the run: past it the CLI gets SIGINT and what it did is printed.
 */
export async function batchJobMemoryBench({
  lines = 1_000_000,
  dimensions = 16,
  model = 'text-embedding-3-small',
  budgetMs = 300_000,
} = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'embedrail-bench-'));
  const input = join(dir, 'corpus.txt');
  const out = join(dir, 'vectors.npy');
  const journal = join(dir, 'job.json');
  writeCorpusFile(input, lines);
  const before = new Set(childPids());
  // Batches end almost at once; the job deletes each batch's files once collected. An output
  // of 500 MB that finds the server's 1 GiB full waits in finalizing until one is deleted.
  const server = await startChildServer({ dimensions, batchProcessingMs: 200 });
  const serverPid = childPids().find((pid) => !before.has(pid));
  const cli = new URL('../dist/cli.js', import.meta.url).pathname;
  const started = performance.now();
  const args = batchCommandArgs(
    input,
    server.url,
    out,
    journal,
    '--poll-interval',
    '100',
    '--model',
    model,
    '--dimensions',
    String(dimensions),
  );
  const child = spawn(process.execPath, [...(process.env.BENCH_NODE_FLAGS?.split(' ') ?? []), cli, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  let peak = 0;
  let serverPeak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, peakRss(child.pid) ?? 0);
    if (serverPid !== undefined) serverPeak = Math.max(serverPeak, peakRss(serverPid) ?? 0);
  }, 100);
  const budget = setTimeout(() => child.kill('SIGINT'), budgetMs);
  const code = await new Promise((resolve) => child.on('exit', (exitCode, signal) => resolve(exitCode ?? signal)));
  clearInterval(sampler);
  clearTimeout(budget);
  const elapsedMs = performance.now() - started;
  await server.close();
  const summary = /(\d+) embedded, .*$/m.exec(stderr)?.[0] ?? stderr.trim().split('\n').at(-1);
  let rows;
  let inOrder;
  if (code === 0) {
    rows = (statSync(out).size - 128) / (4 * dimensions);
    const ids = readFileSync(`${out}.ids.txt`, 'utf8').split('\n').filter(Boolean);
    inOrder = ids.length === lines && ids.every((id, i) => id === String(i + 1));
  }
  rmSync(dir, { recursive: true, force: true });

  console.log(`\nembedrail batch, ${lines.toLocaleString('en')}-line .txt to .npy (${dimensions} dimensions)`);
  console.log(
    `   exit code:           ${code}${code === 130 ? ` (stopped at the ${(budgetMs / 1000).toFixed(0)} s budget)` : ''}`,
  );
  console.log(`   summary:             ${summary}`);
  console.log(
    `   rows written:        ${rows === undefined ? 'n/a' : rows.toLocaleString('en')} in ${(elapsedMs / 1000).toFixed(1)} s` +
      `${inOrder === undefined ? '' : `; every id once, in order: ${inOrder ? 'yes' : 'NO'}`}`,
  );
  console.log(`   server peak RSS:     ${serverPeak === 0 ? 'not measured' : `${(serverPeak / MB).toFixed(0)} MB`}`);
  printPeak('CLI', peak, code);
  return { code, peakRss: peak, serverPeakRss: serverPeak, elapsedMs, rows };
}

/** Inputs of 3,072 dimensions that fill two shards to the output budget: 2 × floor(500 MB / 16,784 bytes). */
export const HIGH_DIMENSION_LINES = 59_580;

if (import.meta.url === `file://${process.argv[1]}`) {
  // `node bench/batch-job-memory.mjs [lines] [dimensions]` runs one case; without arguments, both.
  if (process.argv[2] !== undefined) {
    const dimensions = Number(process.argv[3] ?? 16);
    await batchJobMemoryBench({
      lines: Number(process.argv[2]),
      dimensions,
      model: dimensions > 1536 ? 'text-embedding-3-large' : 'text-embedding-3-small',
    });
  } else {
    await batchJobMemoryBench({ lines: 1_000_000, dimensions: 16 });
    await batchJobMemoryBench({ lines: HIGH_DIMENSION_LINES, dimensions: 3072, model: 'text-embedding-3-large' });
  }
}
