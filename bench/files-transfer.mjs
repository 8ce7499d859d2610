/**
 * A batch's files through client.files against the local server in a child process: a large
 * input file uploaded from a generator, a 50,000-line batch run, its output downloaded and read
 * line by line. Prints the time and the measuring process's peak RSS for each step: the client
 * must stream both ways, never holding a file.
 *
 *   npx tsup --silent && node --expose-gc bench/files-transfer.mjs
 */
import { BatchResultLine, EmbeddingsClient, readBatchLines, toFile } from '../dist/index.js';
import { startChildServer } from './child-server.mjs';

const MiB = 1024 * 1024;
const UPLOAD_MIB = 192;
const LINES = 50_000;

let peak = 0;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
const rss = () => `${(Math.max(peak, process.memoryUsage().rss) / MiB).toFixed(0)} MB`;
const resetPeak = () => {
  globalThis.gc?.();
  peak = process.memoryUsage().rss;
};

const server = await startChildServer({ maxFileBytes: 512 * MiB, maxStoredBytes: 1024 * MiB, batchProcessingMs: 0 });
const client = new EmbeddingsClient({ baseURL: server.url, maxRetries: 0, timeout: 600_000 });
try {
  resetPeak();
  let started = performance.now();
  async function* filler() {
    for (let i = 0; i < UPLOAD_MIB; i++) yield Buffer.alloc(MiB, 0x61 + (i % 26));
  }
  const big = await client.files.create({ file: toFile(filler(), 'filler.jsonl'), purpose: 'user_data' });
  const upload = performance.now() - started;
  console.log(`upload ${UPLOAD_MIB} MiB from a generator: ${upload.toFixed(0)} ms, peak RSS ${rss()}`);
  await client.files.delete(big.id);

  async function* lines() {
    for (let i = 0; i < LINES; i++) {
      yield `${JSON.stringify({ custom_id: `r${i}`, method: 'POST', url: '/v1/embeddings', body: { model: 'm', input: `passage number ${i} about embeddings and batches` } })}\n`;
    }
  }
  resetPeak();
  started = performance.now();
  const input = await client.files.create({ file: toFile(lines(), 'input.jsonl'), purpose: 'batch' });
  let batch = await client.batches.create({
    input_file_id: input.id,
    endpoint: '/v1/embeddings',
    completion_window: '24h',
  });
  while (!['completed', 'failed', 'expired', 'cancelled'].includes(batch.status)) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    batch = await client.batches.retrieve(batch.id);
  }
  console.log(
    `${LINES}-line batch (upload, run on the server): ${batch.status} in ${(performance.now() - started).toFixed(0)} ms`,
  );
  const output = await client.files.retrieve(batch.output_file_id);
  resetPeak();
  started = performance.now();
  let count = 0;
  for await (const { value } of readBatchLines(await client.files.content(output.id), BatchResultLine)) {
    if (value.custom_id) count++;
  }
  const download = performance.now() - started;
  console.log(
    `download and parse the output (${(output.bytes / MiB).toFixed(0)} MiB, ${count} lines): ${download.toFixed(0)} ms, peak RSS ${rss()}`,
  );
} finally {
  clearInterval(sampler);
  await client.close();
  await server.close();
}
