// Benchmark 1: rate-limit efficiency. A corpus larger than one minute's token budget is
// embedded with createMany() against a local server (another process) that enforces tpm and
// rpm as OpenAI does: buckets that start full and refill continuously, 429 beyond them.
// The least time the limits allow is the time to refill what the corpus needs beyond the
// first full bucket; the figure is total time ÷ that least time.
import { cl100kTokenizer, EmbeddingsClient } from '../dist/index.js';
import { startChildServer } from './child-server.mjs';
import { textAt } from './corpus.mjs';

const MINUTE_MS = 60_000;

/** Least time, in ms, for `amount` units through a bucket of `limit` per minute that starts full. */
function leastTime(amount, limit) {
  return Math.max(0, ((amount - limit) * MINUTE_MS) / limit);
}

/**
 * @param {{ label: string, rpm: number, tpm: number, inputs: number, maxInputsPerRequest: number,
 *   clientLimits: boolean }} scenario  clientLimits: tell createMany the limits (rateLimit), or
 *   leave it to learn them from the x-ratelimit-* headers alone.
 */
export async function rateLimitScenario({ label, rpm, tpm, inputs, maxInputsPerRequest, clientLimits }) {
  const texts = Array.from({ length: inputs }, (_, i) => textAt(i));
  const tokens = texts.reduce((sum, text) => sum + cl100kTokenizer.count(text), 0);
  const server = await startChildServer({ rpm, tpm });
  const client = new EmbeddingsClient({ baseURL: server.url, maxRetries: 10 });
  let firstAnswerMs;
  const started = performance.now();
  const res = await client.embeddings.createMany(
    { model: 'local-hash-embedding', input: texts, dimensions: 64 },
    {
      maxInputsPerRequest,
      // The server counts cl100k tokens; the pacer must count the same to use the budget fully.
      tokenizer: cl100kTokenizer,
      rateLimit: clientLimits ? { requestsPerMinute: rpm, tokensPerMinute: tpm } : undefined,
      onFailure: 'collect',
      onProgress: () => {
        firstAnswerMs ??= performance.now() - started;
      },
    },
  );
  const elapsedMs = performance.now() - started;
  const stats = await server.stats();
  await server.close();
  await client.close();

  const answered = res.data.filter((d) => d && d.embedding && d.embedding.length === 64).length;
  const lost = inputs - answered;
  const minimumMs = Math.max(leastTime(tokens, tpm), leastTime(stats.embeddings, rpm));
  const ratio = elapsedMs / minimumMs;
  const share429 = stats.rateLimited / stats.requests;
  console.log(`   ${label}`);
  console.log(
    `     ${inputs.toLocaleString('en')} inputs, ${tokens.toLocaleString('en')} tokens, ${stats.embeddings} requests; limits ${rpm} rpm, ${tpm.toLocaleString('en')} tpm`,
  );
  console.log(
    `     total ${(elapsedMs / 1000).toFixed(2)} s / least ${(minimumMs / 1000).toFixed(2)} s = ${ratio.toFixed(3)} (target ≤ 1.05: ${ratio <= 1.05 ? 'met' : 'MISSED'})`,
  );
  console.log(`     first answer after ${(firstAnswerMs / 1000).toFixed(2)} s (planning and the first burst)`);
  console.log(
    `     lost inputs ${lost} (failures ${res.failures?.length ?? 0}); 429s ${stats.rateLimited} of ${stats.requests} requests = ${(share429 * 100).toFixed(1)} % (target ≤ 2 %: ${share429 <= 0.02 ? 'met' : 'MISSED'})`,
  );
  return { elapsedMs, minimumMs, ratio, lost, rateLimited: stats.rateLimited, requests: stats.requests };
}

export async function rateLimitBench() {
  console.log('\n1. Rate-limit efficiency (createMany against a server enforcing rpm and tpm)');
  const results = [];
  // Tokens bind: 600k tpm is 10k tokens/s; ~810k tokens need ~21 s beyond the first minute's burst.
  results.push(
    await rateLimitScenario({
      label: 'tpm-bound, limits given to createMany (rateLimit)',
      rpm: 1000,
      tpm: 600_000,
      inputs: 55_000,
      maxInputsPerRequest: 256,
      clientLimits: true,
    }),
  );
  results.push(
    await rateLimitScenario({
      label: 'tpm-bound, limits learnt from x-ratelimit-* headers only',
      rpm: 1000,
      tpm: 600_000,
      inputs: 55_000,
      maxInputsPerRequest: 256,
      clientLimits: false,
    }),
  );
  // Requests bind: 300 rpm is 5 requests/s; 375 small requests need 15 s beyond the burst.
  results.push(
    await rateLimitScenario({
      label: 'rpm-bound, limits learnt from x-ratelimit-* headers only',
      rpm: 300,
      tpm: 10_000_000,
      inputs: 375 * 25,
      maxInputsPerRequest: 25,
      clientLimits: false,
    }),
  );
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) await rateLimitBench();
