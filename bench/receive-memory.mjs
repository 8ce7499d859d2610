// Keeping a million vectors: client CPU and resident memory for 1,000,000 × 256 vectors held
// in each layout, each layout in a process of its own (this file re-run with the layout as
// argv[2]). 256 dimensions keep the data itself at 1 GB; what differs between layouts is the
// cost per vector: one ArrayBuffer each ('float32'), row views over one buffer per answer
// ('float32-view'), one buffer for the whole job (matrix). number[] vectors ('array') would
// need 2 GB of doubles plus an object each and are left out. Texts are counted by length and
// not deduplicated, so the figures hold receiving and keeping, not cl100k counting. Beside RSS
// (which V8 and malloc give back slowly) the JavaScript heap plus ArrayBuffer memory is printed,
// measured after a full GC with the result still referenced.
import { execFileSync } from 'node:child_process';
import { startChildServer } from './child-server.mjs';
import { generateTexts } from './corpus.mjs';

const INPUTS = 1_000_000;
const DIMENSIONS = 256;
const MB = 1024 * 1024;
const LAYOUTS = [
  ['float32', "'float32' (one ArrayBuffer per vector)"],
  ['float32-view', "'float32-view' (views, one buffer per answer)"],
  ['matrix', 'matrix: true (one buffer)'],
];

async function measure(layout, url) {
  const { EmbeddingsClient } = await import('../dist/index.js');
  const client = new EmbeddingsClient({ baseURL: url, timeout: 300_000 });
  const input = [...generateTexts(INPUTS)];
  const tokenizer = { count: (text) => text.length, truncate: (text) => text };
  globalThis.gc?.();
  const before = process.memoryUsage();
  const since = process.cpuUsage();
  const options = layout === 'matrix' ? { matrix: true } : { vectorType: layout };
  const res = await client.embeddings.createMany(
    { model: 'local-hash-embedding', input },
    { ...options, tokenizer, dedupe: false },
  );
  const used = process.cpuUsage(since);
  globalThis.gc?.();
  const after = process.memoryUsage();
  const rss = after.rss - before.rss;
  const held = after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers;
  const kept = layout === 'matrix' ? res.matrix.rows : res.data.length;
  if (kept !== INPUTS) throw new Error(`${layout}: kept ${kept}`);
  await client.close();
  return { cpuMs: (used.user + used.system) / 1000, rssMB: rss / MB, heldMB: held / MB, kept };
}

export async function receiveMemoryBench() {
  const server = await startChildServer({ dimensions: DIMENSIONS });
  const results = [];
  try {
    for (const [layout, label] of LAYOUTS) {
      const out = execFileSync(
        process.execPath,
        ['--expose-gc', new URL(import.meta.url).pathname, layout, server.url],
        {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'inherit'],
          maxBuffer: 1024 * 1024,
        },
      );
      results.push({ label, ...JSON.parse(out.trim().split('\n').pop()) });
    }
  } finally {
    await server.close();
  }
  const dataMB = (INPUTS * DIMENSIONS * 4) / MB;
  console.log(
    `\nKeeping ${INPUTS.toLocaleString('en')} vectors of ${DIMENSIONS} dimensions (${dataMB.toFixed(0)} MB of floats), createMany, client process (${process.version})`,
  );
  for (const r of results) {
    console.log(
      `   ${r.label.padEnd(46)} ${(r.cpuMs / 1000).toFixed(1).padStart(6)} s CPU  ${r.rssMB.toFixed(0).padStart(6)} MB RSS  ${r.heldMB.toFixed(0).padStart(6)} MB heap + buffers (${(r.heldMB - dataMB).toFixed(0)} beyond the data)`,
    );
  }
  const [owned, views, matrix] = results;
  console.log(
    `   CPU: float32 / float32-view ${(owned.cpuMs / views.cpuMs).toFixed(2)}×, float32 / matrix ${(owned.cpuMs / matrix.cpuMs).toFixed(2)}×`,
  );
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [layout, url] = process.argv.slice(2);
  if (layout) console.log(JSON.stringify(await measure(layout, url)));
  else await receiveMemoryBench();
}
