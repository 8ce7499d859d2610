// A first call: embed a few texts in one request, compare them, and see what a bad argument
// does. Run after `npm run build`:
//
//   node examples/basic.mjs
//
// With EMBEDRAIL_BASE_URL set (and EMBEDRAIL_API_KEY or OPENAI_API_KEY when the server needs
// one) it calls that server with EMBEDRAIL_MODEL (default text-embedding-3-small); otherwise
// it starts the local server on a free loopback port, so it runs offline.
import { EmbeddingsClient, InvalidArgumentError, cosineSimilarity } from '../dist/index.js';
import { createServer } from '../dist/server.js';

const server = process.env.EMBEDRAIL_BASE_URL ? undefined : createServer();
// Without a baseURL the client reads EMBEDRAIL_BASE_URL, then OPENAI_BASE_URL, itself.
const baseURL = server ? (await server.listen(0, '127.0.0.1')).url : undefined;
const model = server ? 'local-hash-embedding' : (process.env.EMBEDRAIL_MODEL ?? 'text-embedding-3-small');
const client = new EmbeddingsClient({ baseURL });

try {
  const texts = [
    'Bread dough rises because yeast ferments sugars.',
    'Yeast makes bread dough rise.',
    'Jupiter is the largest planet in the solar system.',
  ];
  const res = await client.embeddings.create({ model, input: texts });
  console.log(`${res.data.length} vectors of ${res.data[0].embedding.length} dimensions from ${res.model}`);
  console.log(`usage: ${res.usage.prompt_tokens} prompt tokens`);

  // Vectors come back L2-normalised (normalize: true), in input order.
  const [bread, yeast, jupiter] = res.data.map((item) => item.embedding);
  console.log(`bread vs yeast:   ${cosineSimilarity(bread, yeast).toFixed(3)}`);
  console.log(`bread vs jupiter: ${cosineSimilarity(bread, jupiter).toFixed(3)}`);

  // Per call: a shorter vector, as a Float32Array.
  const short = await client.embeddings.create({ model, input: 'one text', dimensions: 64 }, { vectorType: 'float32' });
  const vector = short.data[0].embedding;
  console.log(`dimensions: 64 gives a ${vector.constructor.name} of length ${vector.length}`);

  // Bad arguments fail before any request, naming the field and the value.
  try {
    await client.embeddings.create({ model, input: 'one text', dimensions: 0 });
  } catch (error) {
    if (!(error instanceof InvalidArgumentError)) throw error;
    console.log(`InvalidArgumentError: ${error.message}`);
  }
} finally {
  await client.close();
  await server?.close();
}
