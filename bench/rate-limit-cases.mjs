// Benchmark: rate limits as hosted APIs enforce them. Five cases, each against a fresh local
// server (another process) whose buckets hold one second of their per-minute limits
// (burstSeconds: 1) and which answers in one header style; the client runs with its defaults,
// so every limit it paces on is learnt from the answers (no rateLimit given).
// The least time the limits allow is what the job needs beyond one full bucket, at the refill
// rate: (tokens sent − one burst) ÷ tokens per second, or the same for requests, whichever
// binds. The figure is the job's time ÷ that least time, beside the share of requests answered
// 429 and a check that every input came back exactly once with its own vector.
import { cl100kTokenizer, EmbeddingsClient } from '../dist/index.js';
import { localHashEmbedding } from '../dist/server.js';
import { startChildServer } from './child-server.mjs';
import { textAt } from './corpus.mjs';

const MINUTE_MS = 60_000;
const BURST_SECONDS = 1;
/** The vectors' length in every case here and in bench/redis-limiter-worker.mjs. */
export const DIMENSIONS = 64;
/** Inputs per request with the client's defaults: OpenAI's cap of 2048. */
const INPUTS_PER_REQUEST = 2048;
/** A long text: this many corpus sentences, about 4,000 tokens (under the 8,192 per input). */
const SENTENCES_PER_LONG_TEXT = 280;

/** A case still running after this is stopped (its inputs then count as missing). @unit ms */
const CASE_LIMIT_MS = 90_000;

const TARGETS = {
  headers: { ratio: 1.05, share429: 0.02 },
  headerless: { ratio: 1.2, share429: 0.1 },
};

/** Short texts: `requests` full requests of 2048 inputs, so the input count closes each request. */
function shortTexts(requests, offset = 0) {
  return Array.from({ length: requests * INPUTS_PER_REQUEST }, (_, i) => textAt(offset + i));
}

/** Long texts, packed by the token budget: about 74 of them fill a request to its 300,000-token cap. */
function longTexts(count) {
  return Array.from({ length: count }, (_, i) =>
    Array.from({ length: SENTENCES_PER_LONG_TEXT }, (_, j) => textAt(i * SENTENCES_PER_LONG_TEXT + j)).join(' '),
  );
}

/** Least time, in ms, for `amount` units through a bucket of `burst` refilled at `perMinute`. */
function leastTime(amount, perMinute) {
  if (perMinute === undefined) return 0;
  const burst = (perMinute * BURST_SECONDS) / 60;
  return (Math.max(0, amount - burst) * MINUTE_MS) / perMinute;
}

/**
 * Checks a createMany answer of DIMENSIONS-long vectors against its inputs: `missing` have no
 * vector (failed or lost), `wrong` have another text's vector or one given twice.
 */
export function check(texts, res) {
  const seen = new Uint8Array(texts.length);
  let wrong = 0;
  for (const item of res.data) {
    const i = item.index;
    if (!(i >= 0 && i < texts.length) || seen[i]++ || item.embedding.length !== DIMENSIONS) {
      wrong++;
      continue;
    }
    const expected = localHashEmbedding(texts[i], DIMENSIONS);
    for (let d = 0; d < DIMENSIONS; d++) {
      if (Math.abs(item.embedding[d] - expected[d]) > 1e-6) {
        wrong++;
        break;
      }
    }
  }
  return { missing: seen.reduce((sum, once) => sum + (once ? 0 : 1), 0), wrong, failed: res.failures.length };
}

/**
 * Runs one case: `jobs` (arrays of texts) through createMany at once on one client.
 * @returns the row of the table.
 */
async function runCase({ label, rpm, tpm, headerStyle, jobs, headerless = false }) {
  const server = await startChildServer({ rpm, tpm, burstSeconds: BURST_SECONDS, headerStyle });
  const client = new EmbeddingsClient({ baseURL: server.url });
  const tokens = jobs.flat().reduce((sum, text) => sum + cl100kTokenizer.count(text), 0);
  const started = performance.now();
  // A case that has not finished by then is stopped and reported as such: the bench stays bounded.
  const signal = AbortSignal.timeout(CASE_LIMIT_MS);
  const results = await Promise.all(
    jobs.map((texts) =>
      client.embeddings.createMany(
        { model: 'text-embedding-3-small', input: texts, dimensions: DIMENSIONS },
        { onFailure: 'collect', signal },
      ),
    ),
  ).catch((error) => {
    if (!signal.aborted) throw error;
    return jobs.map(() => ({ data: [], failures: [] }));
  });
  const elapsedMs = performance.now() - started;
  const stats = await server.stats();
  await server.close();
  await client.close();

  const inputs = jobs.reduce((sum, texts) => sum + texts.length, 0);
  const checks = jobs.map((texts, j) => check(texts, results[j]));
  const sum = (field) => checks.reduce((total, c) => total + c[field], 0);
  const [missing, wrong, failures] = [sum('missing'), sum('wrong'), sum('failed')];
  // The requests the job needs, whether or not they all succeeded: a full one per 2048 inputs at least.
  const requestsNeeded = Math.max(
    stats.embeddings,
    jobs.reduce((total, texts) => total + Math.ceil(texts.length / INPUTS_PER_REQUEST), 0),
  );
  const minimumMs = Math.max(leastTime(tokens, tpm), leastTime(requestsNeeded, rpm));
  const target = headerless ? TARGETS.headerless : TARGETS.headers;
  return {
    label,
    limits: `${rpm} rpm, ${(tpm / 1e6).toLocaleString('en')}M tpm, ${headerStyle}`,
    inputs,
    tokens,
    requests: stats.requests,
    rateLimited: stats.rateLimited,
    share429: stats.rateLimited / stats.requests,
    // Sent to the server and embedded more than once: stats.inputs counts every 200's inputs.
    duplicated: stats.inputs - (inputs - failures),
    elapsedMs,
    minimumMs,
    ratio: elapsedMs / minimumMs,
    missing,
    wrong,
    failures,
    target,
  };
}

function printTable(rows) {
  const header = [
    'case',
    'limits',
    'inputs / tokens',
    'requests',
    '429s',
    'time',
    'least',
    'ratio',
    'inputs once, correct',
    'target',
  ];
  const lines = rows.map((r) => {
    const met = r.ratio <= r.target.ratio && r.rateLimited <= Math.max(1, r.target.share429 * r.requests);
    const exact = r.missing === 0 && r.wrong === 0 && r.duplicated === 0;
    return [
      r.label,
      r.limits,
      `${r.inputs.toLocaleString('en')} / ${r.tokens.toLocaleString('en')}`,
      String(r.requests),
      `${r.rateLimited} (${(r.share429 * 100).toFixed(1)} %)`,
      `${(r.elapsedMs / 1000).toFixed(1)} s`,
      `${(r.minimumMs / 1000).toFixed(1)} s`,
      // A job whose inputs failed ended early: its time says nothing of the pacing.
      r.missing > 0 ? `${r.ratio.toFixed(3)} (ended early)` : r.ratio.toFixed(3),
      exact
        ? 'yes'
        : `NO: ${r.missing} missing (${r.failures} failed), ${r.wrong} wrong, ${r.duplicated} embedded twice`,
      `≤ ${r.target.ratio}, ≤ max(1, ${r.target.share429 * 100} %): ${met && exact ? 'met' : 'MISSED'}`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const format = (cells) => `   ${cells.map((c, i) => c.padEnd(widths[i])).join('  ')}`.trimEnd();
  console.log(format(header));
  for (const line of lines) console.log(format(line));
}

// Short texts: 120 rpm is 2 requests a second, a burst of 2; 10M tpm leaves the requests binding.
// 42 requests need (42 − 2) ÷ 2 = 20 s.
const SHORT = { rpm: 120, tpm: 10_000_000 };
// 18M tpm is 300,000 tokens a second, a burst of one request at the cap: about 21 requests need 20 s.
const LONG = { rpm: 10_000, tpm: 18_000_000 };

/** The five cases: label, server limits and header style, and the jobs' texts (made when the case runs). */
const CASES = [
  ['1. OpenAI headers, short texts', { ...SHORT, headerStyle: 'openai' }, () => [shortTexts(42)]],
  ['2. OpenAI headers, long texts (300k-token requests)', { ...LONG, headerStyle: 'openai' }, () => [longTexts(1550)]],
  ['3. Azure remaining-only headers, short texts', { ...SHORT, headerStyle: 'azure' }, () => [shortTexts(42)]],
  [
    '4. no headers, retry-after in seconds',
    { ...SHORT, headerStyle: 'none', headerless: true },
    () => [shortTexts(42)],
  ],
  [
    '5. two createMany at once, one client, OpenAI headers',
    { ...SHORT, headerStyle: 'openai' },
    () => [shortTexts(21), shortTexts(21, 21 * INPUTS_PER_REQUEST)],
  ],
];

/** Runs the cases numbered in `only` (1-based), or all of them. */
export async function rateLimitCasesBench(only = CASES.map((_, i) => i + 1)) {
  console.log(
    `\n1b. Rate limits as servers enforce them (createMany with the client's defaults, ${BURST_SECONDS} s burst window, limits learnt from answers only)`,
  );
  const rows = [];
  for (const [label, limits, jobs] of CASES.filter((_, i) => only.includes(i + 1))) {
    rows.push(await runCase({ label, ...limits, jobs: jobs() }));
  }
  printTable(rows);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) await rateLimitCasesBench();
