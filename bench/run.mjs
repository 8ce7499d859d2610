// `npm run bench`: builds, then runs the benchmarks of the batch engine and the CLI against
// the local server and prints their figures. Nothing here asserts a time; figures are read, not
// tested. Each benchmark runs in its own process so one's heap and CPU time do not leak
// into another's figures; each server runs in a process of its own for the same reason.
// Bounded: about sixteen minutes on two cores (stream() stops at its 70 s budget; the CLI's
// million lines take about 90 s and stop at 240 s; each of the five rate-limit cases takes
// 15–30 s and stops at 90 s; the receive benchmarks take about 3 minutes for CPU, 21 short
// processes, and up to 12 for a million vectors kept in each of three layouts on a busy machine;
// the Redis cache case about 5 s; the shared Redis limiter's cases about 4 minutes, each
// stopped at 90 s; the Files upload and download about 20 s; a million inputs through
// embedrail batch about 45 s and 59,580 inputs of 3,072 dimensions about 25 s, each stopped at
// 5 minutes).
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';

const BENCHES = [
  ['rate-limit.mjs', 'rate-limit efficiency'],
  ['rate-limit-cases.mjs', 'rate limits as servers enforce them'],
  ['redis-limiter.mjs', 'one budget shared through Redis'],
  ['decode-cost.mjs', 'client cost per vector'],
  ['receive-cpu.mjs', 'receive CPU, 8,192 × 1,536'],
  ['receive-memory.mjs', 'a million vectors kept in each layout'],
  ['stream-memory.mjs', 'stream() memory'],
  ['search-memory.mjs', 'search memory'],
  ['token-count.mjs', 'token counting cost'],
  ['import-cost.mjs', 'import cost'],
  ['cli-memory.mjs', 'CLI memory'],
  ['cache-redis.mjs', 'a second run from the Redis cache'],
  ['files-transfer.mjs', 'Files API upload and download'],
  ['batch-job-memory.mjs', 'embedrail batch on a million inputs, and on two shards of 3,072 dimensions'],
];

console.log(`embedrail benchmarks — Node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'})`);
const started = performance.now();
let failed = 0;
for (const [file, title] of BENCHES) {
  const run = spawnSync(process.execPath, ['--expose-gc', new URL(file, import.meta.url).pathname], {
    stdio: 'inherit',
  });
  if (run.status !== 0) {
    failed++;
    console.error(`\n${title} (${file}) failed with exit code ${run.status ?? run.signal}`);
  }
}
console.log(`\nall benchmarks: ${((performance.now() - started) / 1000).toFixed(0)} s`);
process.exitCode = failed ? 1 : 0;
