// Benchmark: one rate-limit budget shared through Redis (issue 12, proofs 1 to 3). Four worker
// processes, each its own client, embed 25,000 different short texts each against one local
// server (another process) enforcing one budget for all clients, its buckets holding one second
// of the per-minute limits; no limit is given, so every worker learns them from the headers.
//   1. the four share a RedisRateLimiter on one key;
//   2. the same with tokensPerMinute configured below the server's limit: the aggregate token
//      rate measured against the configured one;
//   3. as 1, with redis-server killed (SIGKILL) halfway and started again, empty.
// Each is printed beside the same run with each process pacing alone (its in-memory limiter).
// The least time is what the job needs beyond one full bucket at the refill rate, as in
// bench/rate-limit-cases.mjs. Each case stops at 90 s (inputs not back by then count as missing).
import { fork } from 'node:child_process';
import { startChildServer } from './child-server.mjs';
import { redisMissing, startRedis } from './redis-server.mjs';

const MINUTE_MS = 60_000;
const WORKERS = 4;
const TEXTS_PER_WORKER = 25_000;
const INPUTS_PER_REQUEST = 2048;
const BURST_SECONDS = 1;
const CASE_LIMIT_MS = 90_000;
const TARGET = { ratio: 1.05, share429: 0.02, rate: 0.05 };

// 120 rpm is 2 requests a second, a burst of 2; 10M tpm leaves the requests binding.
// 4 × 13 requests need (52 − 2) ÷ 2 = 25 s.
const SERVER = { rpm: 120, tpm: 10_000_000 };
// Case 2: tokens bind at a configured 700,000 a minute (the server allows 10M and 10,000 rpm):
// the 1.4M tokens of the four jobs need a bit over a minute beyond the bucket's first minute.
const CONFIGURED = { server: { rpm: 10_000, tpm: 10_000_000 }, tokensPerMinute: 700_000 };

/** Least time, in ms, for `amount` units through a bucket of `burst` refilled at `perMinute`. */
function leastTime(amount, perMinute, burst = (perMinute * BURST_SECONDS) / 60) {
  return (Math.max(0, amount - burst) * MINUTE_MS) / perMinute;
}

/** Forks a worker; resolves once it is ready, with `go()` that starts it and resolves with its result. */
function startWorker(task) {
  const child = fork(new URL('./redis-limiter-worker.mjs', import.meta.url), [JSON.stringify(task)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = () =>
    new Promise((resolve, reject) => {
      child.once('message', resolve);
      child.once('exit', (code) => reject(new Error(`worker exited with ${code}`)));
    });
  return next().then(() => ({
    go() {
      const result = next();
      child.send('go');
      return result;
    },
  }));
}

let keys = 0;
async function runCase({ label, shared, server: limits = SERVER, tokensPerMinute, redis, killHalfway }) {
  const server = await startChildServer({ ...limits, burstSeconds: BURST_SECONDS, headerStyle: 'openai' });
  const key = `bench-${process.pid}-${++keys}`;
  const workers = await Promise.all(
    Array.from({ length: WORKERS }, (_, w) =>
      startWorker({
        url: server.url,
        redisUrl: redis?.url,
        key,
        shared,
        tokensPerMinute,
        offset: w * TEXTS_PER_WORKER,
        count: TEXTS_PER_WORKER,
        limitMs: CASE_LIMIT_MS,
      }),
    ),
  );
  const started = performance.now();
  let killed;
  if (killHalfway !== undefined) {
    killed = new Promise((resolve) =>
      setTimeout(async () => {
        await redis.kill();
        await redis.launch();
        resolve();
      }, killHalfway),
    );
  }
  const results = await Promise.all(workers.map((worker) => worker.go()));
  const elapsedMs = performance.now() - started;
  await killed;
  const stats = await server.stats();
  await server.close();
  const sum = (field) => results.reduce((total, r) => total + r[field], 0);
  const [tokens, missing, wrong, failed] = [sum('tokens'), sum('missing'), sum('wrong'), sum('failed')];
  const inputs = WORKERS * TEXTS_PER_WORKER;
  const requestsNeeded = Math.max(stats.embeddings, WORKERS * Math.ceil(TEXTS_PER_WORKER / INPUTS_PER_REQUEST));
  const minimumMs =
    tokensPerMinute === undefined
      ? Math.max(leastTime(tokens, limits.tpm), leastTime(requestsNeeded, limits.rpm))
      : leastTime(tokens, tokensPerMinute, tokensPerMinute);
  return {
    label,
    pacing: shared ? 'shared (Redis)' : 'each alone',
    tokens,
    requests: stats.requests,
    rateLimited: stats.rateLimited,
    share429: stats.rateLimited / stats.requests,
    // Counted only when the job ended: a job stopped at the limit leaves its inputs uncounted.
    duplicated: missing > 0 ? 0 : stats.inputs - (inputs - failed),
    elapsedMs,
    minimumMs,
    ratio: elapsedMs / minimumMs,
    // Tokens sent beyond the configured bucket's first minute, per minute of the run.
    rate: tokensPerMinute === undefined ? undefined : ((tokens - tokensPerMinute) * MINUTE_MS) / elapsedMs,
    tokensPerMinute,
    exact: missing === 0 && wrong === 0 && stats.inputs === inputs,
    missing,
    wrong,
    failed,
  };
}

function printTable(rows) {
  const header = ['case', 'pacing', 'requests', '429s', 'time', 'least', 'ratio', 'token rate', 'inputs once, correct'];
  const lines = rows.map((r) => [
    r.label,
    r.pacing,
    String(r.requests),
    `${r.rateLimited} (${(r.share429 * 100).toFixed(1)} %)`,
    `${(r.elapsedMs / 1000).toFixed(1)} s`,
    `${(r.minimumMs / 1000).toFixed(1)} s`,
    r.missing > 0 ? `${r.ratio.toFixed(3)} (ended early)` : r.ratio.toFixed(3),
    r.rate === undefined
      ? ''
      : `${Math.round(r.rate).toLocaleString('en')}/min (${((r.rate / r.tokensPerMinute - 1) * 100).toFixed(1)} %)`,
    r.exact ? 'yes' : `NO: ${r.missing} missing (${r.failed} failed), ${r.wrong} wrong, ${r.duplicated} embedded twice`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const format = (cells) => `   ${cells.map((c, i) => c.padEnd(widths[i])).join('  ')}`.trimEnd();
  console.log(format(header));
  for (const line of lines) console.log(format(line));
  console.log(
    `   targets (shared): ratio ≤ ${TARGET.ratio}, 429s ≤ max(1, ${TARGET.share429 * 100} %), token rate within ±${TARGET.rate * 100} % of the configured, every input once`,
  );
}

export async function redisLimiterBench() {
  console.log(
    `\n12. One budget shared through Redis: ${WORKERS} worker processes × ${TEXTS_PER_WORKER.toLocaleString('en')} short texts, ${BURST_SECONDS} s burst window, limits learnt from headers`,
  );
  const missing = redisMissing();
  if (missing !== undefined) {
    console.log(`   skipped: ${missing}`);
    return [];
  }
  const redis = await startRedis();
  const rows = [];
  try {
    const half = leastTime(WORKERS * Math.ceil(TEXTS_PER_WORKER / INPUTS_PER_REQUEST), SERVER.rpm) / 2;
    const cases = [
      ['1. four workers, one key', {}],
      [
        '2. tokensPerMinute 700,000 configured',
        { server: CONFIGURED.server, tokensPerMinute: CONFIGURED.tokensPerMinute },
      ],
      ['3. as 1, redis-server killed halfway', { killHalfway: half }],
    ];
    const only = process.argv.slice(2).map(Number);
    for (const [i, [label, options]] of cases.entries()) {
      if (only.length > 0 && !only.includes(i + 1)) continue;
      rows.push(await runCase({ label, shared: true, redis, ...options }));
      // Alone, no Redis is involved: case 3's comparison is case 1's.
      if (options.killHalfway === undefined) rows.push(await runCase({ label, shared: false, ...options }));
    }
  } finally {
    await redis.stop();
  }
  printTable(rows);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) await redisLimiterBench();
