// Benchmark 6: what importing embedrail costs, cold, each figure in a fresh child process (the
// median of several): the entry alone (all create() needs, since the batch engine and the
// tokenizer load on first use), then what a first batch call adds (the batch engine's chunk)
// and a first count (cl100k's ranks). Before they were made lazy, importing the entry parsed
// the batch engine too, and a create() with a tokens budget loaded the tokenizer to count.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const url = (file) => pathToFileURL(dist + file).href;
const chunk = (prefix) => readdirSync(dist).find((file) => file.startsWith(prefix) && file.endsWith('.js'));
const RUNS = 7;

/** Wall and CPU milliseconds of `steps` (ES module source) in a fresh Node, measured inside it. */
function measure(steps) {
  const script = `
    const started = performance.now();
    const cpu = process.cpuUsage();
    ${steps}
    const used = process.cpuUsage(cpu);
    console.log(JSON.stringify({ ms: performance.now() - started, cpuMs: (used.user + used.system) / 1000 }));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').at(-1));
}

const median = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];

export function importCostBench() {
  const entry = `await import(${JSON.stringify(url('index.js'))});`;
  const engine = `await import(${JSON.stringify(url(chunk('create-many-')))}); await import(${JSON.stringify(url(chunk('stream-')))});`;
  const tokenizer = `(await import(${JSON.stringify(url('index.js'))})).cl100kTokenizer.count('load the ranks');`;
  const cases = [
    ['entry alone (create())', entry],
    ['entry + batch engine (first createMany())', entry + engine],
    ['entry + batch engine + tokenizer (first count)', entry + engine + tokenizer],
    [
      'CommonJS entry alone',
      `(await import('node:module')).createRequire(import.meta.url)(${JSON.stringify(dist + 'index.cjs')});`,
    ],
  ];
  console.log(`\n6. Import cost, cold: a fresh process per figure, median of ${RUNS}`);
  const figures = [];
  for (const [label, steps] of cases) {
    const runs = Array.from({ length: RUNS }, () => measure(steps));
    const ms = median(runs.map((run) => run.ms));
    const cpuMs = median(runs.map((run) => run.cpuMs));
    figures.push(ms);
    console.log(`   ${label.padEnd(48)} ${ms.toFixed(0).padStart(5)} ms wall ${cpuMs.toFixed(0).padStart(5)} ms CPU`);
  }
  console.log(
    `   create() alone imports in ${(figures[0] / figures[2]).toFixed(2)}× the time of everything a batch job loads`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) importCostBench();
