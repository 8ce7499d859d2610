// Benchmark: `embedrail batch` of a 1,000,000-line file to .npy through the Batch API of a local
// server in another process, printing the CLI process's peak RSS (VmHWM, sampled from /proc)
// and the time. The job streams in and out: what it keeps per input is its id, so the peak
// must stay under 300 MB. Small vectors keep the run short; a budget bounds it.
// BENCH_NODE_FLAGS (e.g. "--max-old-space-size=128") are given to the CLI's node, to tell the
// live data from what V8's heap sizing adds to the peak.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startChildServer } from './child-server.mjs';
import { peakRss, writeCorpusFile } from './corpus.mjs';

const MB = 1024 * 1024;

/**
 * @param {{ lines?: number, dimensions?: number, budgetMs?: number }} options
 *   budgetMs bounds the run: past it the CLI gets SIGINT and what it did is printed.
 */
export async function batchJobMemoryBench({ lines = 1_000_000, dimensions = 16, budgetMs = 300_000 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'embedrail-bench-'));
  const input = join(dir, 'corpus.txt');
  const out = join(dir, 'vectors.npy');
  const journal = join(dir, 'job.json');
  writeCorpusFile(input, lines);
  // Batches end almost at once; the job deletes each batch's files once collected, so the
  // server's default 1 GiB of stored files is never reached.
  const server = await startChildServer({ dimensions, batchProcessingMs: 200 });
  const cli = new URL('../dist/cli.js', import.meta.url).pathname;
  const started = performance.now();
  const args = ['batch', input, '--out', out, '--journal', journal, '--base-url', server.url, '--poll-interval', '100'];
  const child = spawn(process.execPath, [...(process.env.BENCH_NODE_FLAGS?.split(' ') ?? []), cli, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, peakRss(child.pid) ?? 0)), 100);
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
  const verdict =
    code !== 0
      ? 'not judged (the run did not finish)'
      : peak === 0
        ? 'not measured (no /proc)'
        : peak < 300 * MB
          ? 'met'
          : 'MISSED';
  console.log(`   CLI peak RSS (VmHWM): ${(peak / MB).toFixed(0)} MB   target < 300 MB: ${verdict}`);
  return { code, peakRss: peak, elapsedMs, rows };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const lines = Number(process.argv[2] ?? 1_000_000);
  await batchJobMemoryBench({ lines });
}
