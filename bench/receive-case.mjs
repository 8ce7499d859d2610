// One measurement of bench/receive-cpu.mjs, in a process of its own so "cold" means cold:
// argv = [case, mode, url]. Receives 8,192 × 1,536 base64 vectors from the server at url
// (4 requests of 2,048) and prints { cpuMs } as JSON. Modes: 'cold-import' counts loading the
// client's modules and the first run, 'cold' the first run alone (modules loaded first),
// 'warm' the mean of 8 runs after 2 unmeasured ones: a mark-compact comes about once in two
// runs, and a mean of 3 read undici alone as 47 ms in one process and 100 ms in the next.
// The create() and openai-node cases keep their four answers until the run ends, as a caller
// after the 8,192 vectors does and as createMany's one answer holds them: the figures compare
// the same work on the same data kept alive, not answers dropped as they come against all kept.
import { textAt } from './corpus.mjs';

const [name, mode, url] = process.argv.slice(2);
const INPUTS = 8192;
const PER_REQUEST = 2048;
const DIMENSIONS = 1536;
const WARM_RUNS = 8;
const model = 'local-hash-embedding';
const input = Array.from({ length: INPUTS }, (_, i) => textAt(i));
const parts = Array.from({ length: INPUTS / PER_REQUEST }, (_, r) =>
  input.slice(r * PER_REQUEST, (r + 1) * PER_REQUEST),
);

const cpuMs = (since) => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
};

function check(rows, dimensions) {
  if (rows !== INPUTS || dimensions !== DIMENSIONS) throw new Error(`${name}: got ${rows} × ${dimensions}`);
}

const rowsOf = (answers) => answers.reduce((sum, answer) => sum + answer.data.length, 0);

/** Loads what the case needs and returns one run of it. */
async function load() {
  if (name === 'undici') {
    const { request } = await import('undici');
    return async () => {
      let bytes = 0;
      for (const texts of parts) {
        const res = await request(`${url}/embeddings`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model, input: texts, encoding_format: 'base64' }),
        });
        for await (const chunk of res.body) bytes += chunk.length;
      }
      if (bytes < INPUTS * DIMENSIONS * 4) throw new Error('undici: short bodies');
    };
  }
  if (name === 'floor-rows' || name === 'floor-decode') {
    // The least a reader of 'float32' does beyond undici's receive: per vector a Float32Array of
    // its own, kept to the end of the run ('floor-rows'), and before it, Node's base64 decode of
    // the vector's text from a latin1 string ('floor-decode'). The texts are found with indexOf
    // alone (no JSON is checked); one that spans two chunks is made up for by decoding the last
    // whole one again, so that every answer still gives its 2,048 rows.
    const { request } = await import('undici');
    const mark = Buffer.from('"embedding":"');
    const scratch = new Float32Array(DIMENSIONS);
    const scratchBytes = Buffer.from(scratch.buffer);
    const decode = name === 'floor-decode';
    return async () => {
      const rows = [];
      for (const texts of parts) {
        const res = await request(`${url}/embeddings`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model, input: texts, encoding_format: 'base64' }),
        });
        let made = 0;
        let last = '';
        const row = (text) => {
          if (decode && scratchBytes.write(text, 0, DIMENSIONS * 4, 'base64') !== DIMENSIONS * 4) {
            throw new Error(`${name}: a vector that is not ${DIMENSIONS} floats of base64`);
          }
          rows.push(scratch.slice());
          made++;
        };
        for await (const chunk of res.body) {
          for (let at = chunk.indexOf(mark); at !== -1 && made < texts.length; at = chunk.indexOf(mark, at)) {
            const from = at + mark.length;
            at = chunk.indexOf(0x22, from);
            if (at === -1) break;
            last = chunk.toString('latin1', from, at);
            row(last);
          }
        }
        while (made < texts.length) row(last);
      }
      check(rows.length, rows[0].length);
    };
  }
  if (name === 'openai') {
    const { default: OpenAI } = await import('openai');
    const client = new OpenAI({ baseURL: url, apiKey: 'local', maxRetries: 0 });
    return async () => {
      const answers = [];
      for (const texts of parts) answers.push(await client.embeddings.create({ model, input: texts }));
      check(rowsOf(answers), answers[0].data[0].embedding.length);
    };
  }
  const { EmbeddingsClient } = await import('../dist/index.js');
  const client = new EmbeddingsClient({ baseURL: url, maxRetries: 0, timeout: 300_000 });
  if (name.startsWith('create-')) {
    const vectorType = name.slice('create-'.length);
    return async () => {
      const answers = [];
      for (const texts of parts) answers.push(await client.embeddings.create({ model, input: texts }, { vectorType }));
      check(rowsOf(answers), answers[0].data[0].embedding.length);
    };
  }
  if (name === 'createMany-matrix') {
    return async () => {
      const res = await client.embeddings.createMany({ model, input }, { matrix: true, maxConcurrency: 1 });
      check(res.matrix.rows, res.matrix.dimensions);
    };
  }
  const vectorType = name.slice('createMany-'.length);
  return async () => {
    // One request at a time, as create() ×4 sends them: the figures compare the same work.
    const res = await client.embeddings.createMany({ model, input }, { vectorType, maxConcurrency: 1 });
    check(res.data.length, res.data[0].embedding.length);
  };
}

let cpu;
if (mode === 'cold-import') {
  const since = process.cpuUsage();
  const run = await load();
  await run();
  cpu = cpuMs(since);
} else if (mode === 'cold') {
  const run = await load();
  const since = process.cpuUsage();
  await run();
  cpu = cpuMs(since);
} else {
  const run = await load();
  await run();
  await run();
  const since = process.cpuUsage();
  for (let i = 0; i < WARM_RUNS; i++) await run();
  cpu = cpuMs(since) / WARM_RUNS;
}
console.log(JSON.stringify({ cpuMs: cpu }));
process.exit(0);
