// Benchmark 2: the client's CPU cost per vector for one response of 2048 × 1536-dimension
// vectors, base64 versus float JSON. The server runs in another process, so
// process.cpuUsage() here counts only receiving, parsing, checking and decoding.
import { EmbeddingsClient } from '../dist/index.js';
import { startChildServer } from './child-server.mjs';
import { textAt } from './corpus.mjs';

const INPUTS = 2048;
const DIMENSIONS = 1536;

function cpuMs(since) {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
}

/** Body size of one answer in `format`, read raw once (outside the measurement). */
async function bodyBytes(url, input, format) {
  const res = await fetch(`${url}/embeddings`, {
    method: 'POST',
    body: JSON.stringify({ model: 'local-hash-embedding', input, encoding_format: format }),
  });
  return (await res.arrayBuffer()).byteLength;
}

export async function decodeCostBench() {
  const server = await startChildServer({ dimensions: DIMENSIONS });
  const client = new EmbeddingsClient({ baseURL: server.url, maxRetries: 0, timeout: 120_000 });
  const input = Array.from({ length: INPUTS }, (_, i) => textAt(i));
  // Float JSON answers take the server seconds to print, so they are measured fewer times.
  const cases = [
    { label: 'base64 (default)', params: {}, options: {}, repetitions: 3 },
    { label: 'base64, Float32Array', params: {}, options: { vectorType: 'float32' }, repetitions: 3 },
    { label: 'float JSON', params: { encoding_format: 'float' }, options: {}, repetitions: 2 },
    {
      label: 'float JSON, Float32Array',
      params: { encoding_format: 'float' },
      options: { vectorType: 'float32' },
      repetitions: 2,
    },
  ];
  // Raw reads give the body sizes and warm the server; one unmeasured call warms the client.
  const sizes = {
    base64: await bodyBytes(server.url, input, 'base64'),
    float: await bodyBytes(server.url, input, 'float'),
  };
  await client.embeddings.create({ model: 'local-hash-embedding', input });
  const results = [];
  for (const c of cases) {
    let total = 0;
    for (let r = 0; r < c.repetitions; r++) {
      globalThis.gc?.();
      const since = process.cpuUsage();
      const res = await client.embeddings.create({ model: 'local-hash-embedding', input, ...c.params }, c.options);
      total += cpuMs(since);
      if (res.data.length !== INPUTS || res.data[INPUTS - 1].embedding.length !== DIMENSIONS) {
        throw new Error(`${c.label}: wrong answer shape`);
      }
    }
    results.push({
      ...c,
      cpuMsPerResponse: total / c.repetitions,
      vectorsPerSecond: (INPUTS * c.repetitions * 1000) / total,
    });
  }
  await server.close();
  await client.close();

  console.log(
    `\n2. Client CPU per response of ${INPUTS} × ${DIMENSIONS}-dimension vectors (receive, parse, check, decode, normalise)`,
  );
  console.log(
    `   response body: base64 ${(sizes.base64 / 1e6).toFixed(1)} MB, float JSON ${(sizes.float / 1e6).toFixed(1)} MB`,
  );
  for (const r of results) {
    console.log(
      `   ${r.label.padEnd(26)} ${r.cpuMsPerResponse.toFixed(0).padStart(6)} ms CPU  ${Math.round(r.vectorsPerSecond).toLocaleString('en').padStart(9)} vectors/s  (mean of ${r.repetitions})`,
    );
  }
  const [base64, , float] = results;
  console.log(
    `   base64 is ${(base64.vectorsPerSecond / float.vectorsPerSecond).toFixed(1)}× float JSON in vectors per CPU second`,
  );
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) await decodeCostBench();
