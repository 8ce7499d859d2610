// Embedding a corpus: createMany() over every text with progress, a search over the result
// with topK(), then stream() over the same file read lazily line by line, served from the
// cache the first pass filled. Run after `npm run build`:
//
//   node examples/batch.mjs
//
// With EMBEDRAIL_BASE_URL set (and EMBEDRAIL_API_KEY or OPENAI_API_KEY when the server needs
// one) it calls that server with EMBEDRAIL_MODEL (default text-embedding-3-small); otherwise
// it starts the local server on a free loopback port, with 50 ms of latency per request to
// feel like a remote provider.
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { EmbeddingsClient, createMemoryCache, topK } from '../dist/index.js';
import { createServer } from '../dist/server.js';

const CORPUS = new URL('./data/facts.jsonl', import.meta.url);

const server = process.env.EMBEDRAIL_BASE_URL ? undefined : createServer({ latency: 50 });
// Without a baseURL the client reads EMBEDRAIL_BASE_URL, then OPENAI_BASE_URL, itself.
const baseURL = server ? (await server.listen(0, '127.0.0.1')).url : undefined;
const model = server ? 'local-hash-embedding' : (process.env.EMBEDRAIL_MODEL ?? 'text-embedding-3-small');
const client = new EmbeddingsClient({ baseURL, vectorType: 'float32' });

try {
  const records = (await readFile(CORPUS, 'utf8'))
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line));

  // Vectors are written here after each request, so a rerun (or a crash and a restart) sends
  // only what is missing.
  const cache = createMemoryCache();

  // 1. createMany(): one call for any number of texts. Small requests here, so the progress
  //    callback fires a few times; the defaults (2048 inputs, ~300k tokens) suit real corpora.
  const res = await client.embeddings.createMany(
    { model, input: records.map((record) => record.text) },
    {
      cache,
      maxInputsPerRequest: 50,
      maxConcurrency: 4,
      // Called as requests complete, and as a wait for the rate limiter starts (the first
      // request goes alone until the server's answer tells its limits).
      onProgress: (p) => {
        const waiting = p.rateLimit?.waitReason ? `, waiting (${p.rateLimit.waitReason})` : '';
        console.log(
          `  ${p.completedInputs}/${p.totalInputs} inputs, ${p.requests} requests, ${p.tokens} tokens${waiting}`,
        );
      },
    },
  );
  console.log(`createMany: ${res.data.length} vectors, ${res.usage.total_tokens} tokens\n`);

  // 2. topK(): rank the corpus, stored as one contiguous Float32Array, against a query.
  const dimensions = res.data[0].embedding.length;
  const matrix = new Float32Array(res.data.length * dimensions);
  for (const item of res.data) matrix.set(item.embedding, item.index * dimensions);
  const query = 'tomato plants need sunlight';
  const [queryVector] = (await client.embeddings.create({ model, input: query })).data.map((item) => item.embedding);
  console.log(`top 3 for "${query}":`);
  for (const { index, score } of topK(queryVector, matrix, 3)) {
    console.log(`  ${score.toFixed(3)}  ${records[index].id}  ${records[index].text}`);
  }

  // 3. stream(): the input is pulled lazily (here, lines of a file), so it may be larger than
  //    memory; results come back with the ids given, in input order with `ordered: true`.
  //    Every text is already in the cache, so this pass should send no request at all.
  async function* readRecords() {
    const lines = createInterface({ input: createReadStream(CORPUS), crlfDelay: Infinity });
    for await (const line of lines) {
      if (line.trim() !== '') yield JSON.parse(line);
    }
  }
  console.log('');
  let streamed = 0;
  let failed = 0;
  let requests = 0;
  for await (const item of client.embeddings.stream(
    { model, input: readRecords() },
    { cache, ordered: true, onFailure: 'collect', onProgress: (p) => (requests = p.requests) },
  )) {
    if (item.error) {
      failed++;
      console.log(`  ${item.id} failed: ${item.error.message}`);
      continue;
    }
    if (streamed < 3) console.log(`  stream: #${item.index} ${item.id}, ${item.embedding.length} dimensions`);
    streamed++;
  }
  console.log(`stream: ${streamed} vectors, ${failed} failures, ${requests} request${requests === 1 ? '' : 's'} sent`);
} finally {
  await client.close();
  await server?.close();
}
