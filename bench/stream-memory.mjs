// Benchmark 3: stream() over a million generated inputs against a fast local server (in
// another process), printing peak RSS. The input is generated lazily; if stream() read far
// ahead of what is in flight, or kept results, memory would grow with the input count.
import { EmbeddingsClient } from '../dist/index.js';
import { startChildServer } from './child-server.mjs';
import { generateTexts } from './corpus.mjs';

const MB = 1024 * 1024;

/**
 * @param {{ inputs?: number, dimensions?: number, budgetMs?: number }} options
 *   budgetMs bounds the run: past it the stream is aborted and what it did is printed.
 */
export async function streamMemoryBench({ inputs = 1_000_000, dimensions = 256, budgetMs = 70_000 } = {}) {
  const server = await startChildServer({ dimensions });
  const client = new EmbeddingsClient({ baseURL: server.url });
  const seen = new Uint8Array(inputs);
  let received = 0;
  let failures = 0;
  let duplicates = 0;
  let peakRss = process.memoryUsage.rss();
  let peakHeap = process.memoryUsage().heapUsed;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  }, 100);
  const controller = new AbortController();
  const budget = setTimeout(() => controller.abort(new Error('time budget reached')), budgetMs);
  const startRss = process.memoryUsage.rss();
  const started = performance.now();
  let aborted = false;
  try {
    const items = client.embeddings.stream(
      { model: 'local-hash-embedding', input: generateTexts(inputs) },
      { onFailure: 'collect', vectorType: 'float32', signal: controller.signal },
    );
    for await (const item of items) {
      if ('error' in item && item.error) failures++;
      else if (item.embedding.length !== dimensions)
        throw new Error(`item ${item.index} has ${item.embedding.length} dimensions`);
      if (seen[item.index]) duplicates++;
      seen[item.index] = 1;
      received++;
    }
  } catch (error) {
    if (!controller.signal.aborted) throw error;
    aborted = true;
  } finally {
    clearTimeout(budget);
    clearInterval(sampler);
  }
  const elapsedMs = performance.now() - started;
  const stats = await server.stats();
  await server.close();
  await client.close();
  const maxRss = process.resourceUsage().maxRSS * 1024;
  const missing = aborted ? inputs - received : seen.reduce((n, s) => n + (s ? 0 : 1), 0);

  console.log(`\n3. stream() over ${inputs.toLocaleString('en')} generated inputs (${dimensions} dimensions, base64)`);
  if (aborted)
    console.log(
      `   stopped at the ${(budgetMs / 1000).toFixed(0)} s budget after ${received.toLocaleString('en')} inputs`,
    );
  console.log(
    `   inputs received:     ${received.toLocaleString('en')} in ${(elapsedMs / 1000).toFixed(1)} s (${Math.round((received / elapsedMs) * 1000).toLocaleString('en')} inputs/s)`,
  );
  console.log(
    `   failures / missing / duplicates: ${failures} / ${aborted ? 'n/a (aborted)' : missing} / ${duplicates}`,
  );
  console.log(`   server requests:     ${stats.requests} (${stats.embeddings} answered 200)`);
  console.log(`   RSS at start:        ${(startRss / MB).toFixed(0)} MB`);
  console.log(
    `   peak RSS (sampled):  ${(peakRss / MB).toFixed(0)} MB   peak heap used: ${(peakHeap / MB).toFixed(0)} MB`,
  );
  // Stopped early, the peak says nothing about the full input: no verdict then.
  const verdict = aborted
    ? `not judged (stopped before ${inputs.toLocaleString('en')})`
    : maxRss < 300 * MB
      ? 'met'
      : 'MISSED';
  console.log(`   peak RSS (maxRSS):   ${(maxRss / MB).toFixed(0)} MB   target < 300 MB: ${verdict}`);
  return { received, failures, missing, duplicates, elapsedMs, peakRss: maxRss, aborted };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const inputs = Number(process.argv[2] ?? 1_000_000);
  await streamMemoryBench({ inputs });
}
