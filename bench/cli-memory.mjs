// Benchmark 5: `embedrail embed` of a 1,000,000-line file to .npy, as a user runs it, against a
// fast local server in another process, printing the CLI process's peak RSS (VmHWM, sampled
// from /proc). If the CLI kept anything per input beyond its id, the peak would grow with the
// file; the target is < 300 MB. Small vectors keep the run short; a budget bounds it.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startChildServer } from './child-server.mjs';
import { peakRss, printPeak, writeCorpusFile } from './corpus.mjs';

/**
 * @param {{ lines?: number, dimensions?: number, budgetMs?: number }} options
 *   budgetMs bounds the run: past it the CLI gets SIGINT and what it did is printed.
 */
export async function cliMemoryBench({ lines = 1_000_000, dimensions = 16, budgetMs = 240_000 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'embedrail-bench-'));
  const input = join(dir, 'corpus.txt');
  const out = join(dir, 'vectors.npy');
  writeCorpusFile(input, lines);
  const server = await startChildServer({ dimensions });
  const cli = new URL('../dist/cli.js', import.meta.url).pathname;
  const started = performance.now();
  const child = spawn(process.execPath, [cli, 'embed', input, '--out', out, '--base-url', server.url], {
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
  const stats = await server.stats();
  await server.close();
  const summary = /(\d+) embedded, .*$/m.exec(stderr)?.[0] ?? stderr.trim().split('\n').at(-1);
  const rows = code === 0 ? (statSync(out).size - 128) / (4 * dimensions) : undefined;
  rmSync(dir, { recursive: true, force: true });

  console.log(`\n5. embedrail embed, ${lines.toLocaleString('en')}-line .txt to .npy (${dimensions} dimensions)`);
  console.log(
    `   exit code:           ${code}${code === 130 ? ` (stopped at the ${(budgetMs / 1000).toFixed(0)} s budget)` : ''}`,
  );
  console.log(`   summary:             ${summary}`);
  console.log(
    `   rows written:        ${rows === undefined ? 'n/a' : rows.toLocaleString('en')} in ${(elapsedMs / 1000).toFixed(1)} s`,
  );
  console.log(`   server requests:     ${stats.requests} (${stats.embeddings} answered 200)`);
  printPeak('CLI', peak, code);
  return { code, peakRss: peak, elapsedMs, rows };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const lines = Number(process.argv[2] ?? 1_000_000);
  await cliMemoryBench({ lines });
}
