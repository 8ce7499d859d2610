/**
 * What a program that imports embedrail for create() loads, in the built package (ESM and
 * CommonJS), checked in a child process: neither the tokenizer (dist/cl100k.cjs, required on
 * a first count) nor the batch engine (its chunk, imported on a first createMany() or stream()),
 * even with a tokens-per-minute limit to charge, nor undici's entry (fetch, WebSocket, the
 * mocks...), only the Agent and request() the transport sends with, nor the zod package, whose
 * part in use is bundled.
 */
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createServer, type LocalServer } from '../src/server/index.js';

// Building the package takes seconds on a busy machine.
const SLOW = { timeout: 120_000 };
/** undici's entry file: loading it loads all of undici. */
const UNDICI_ENTRY = /node_modules\/undici\/index\.js$/;
/** A file of the zod package: the part of it in use is bundled into the build. */
const ZOD_PACKAGE = /node_modules\/zod\//;
/** Only create-many.ts says this: a loaded file that holds it holds the batch engine. */
const BATCH_ENGINE_MARKER = 'must hold at least one text';

// Inside the repository, so the built files resolve their dependencies from its node_modules.
const dir = join(process.cwd(), 'node_modules', '.cache', 'embedrail-import-test', `${process.pid}-${Date.now()}`);
const out = join(dir, 'dist');
let server: LocalServer;
let url: string;

beforeAll(async () => {
  const { build } = await import('tsup');
  // The package's own build (tsup.config.ts), into a folder of this test.
  await build({ outDir: out, dts: false, silent: true });
  server = createServer({ dimensions: 8 });
  ({ url } = await server.listen(0, '127.0.0.1'));
}, SLOW.timeout);

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `code` in a child Node; its last stdout line is JSON. */
function child(args: string[]): Promise<{ vectors: number; loaded: string[] }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: dir, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`${error.message}\n${stderr}`));
      resolve(JSON.parse(stdout.trim().split('\n').at(-1)!) as { vectors: number; loaded: string[] });
    });
  });
}

/** A create() with a tokens budget, which must charge its tokens: the old way counted them with cl100k. */
const createCall = (baseURL: string) => `
  const client = new EmbeddingsClient({ baseURL: ${JSON.stringify(baseURL)}, apiKey: 'k', rateLimit: { tokensPerMinute: 1000000 } });
  const first = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['hello world', 'again'] });
  const second = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'and once more' });
  await client.close();
  const vectors = first.data.length + second.data.length;`;

test(
  "ESM: create() loads neither the tokenizer nor the batch engine nor undici's entry nor the zod package",
  SLOW,
  async () => {
    const log = join(dir, 'esm-loaded.txt');
    // A static import: a dynamic one inside the hook would go through the hook itself, and hang.
    const hooks = `import { appendFileSync } from 'node:fs';
    export async function load(url, context, next) {
      appendFileSync(${JSON.stringify(log)}, url + '\\n');
      return next(url, context);
    }`;
    const script = `
      import { register, createRequire } from 'node:module';
      import { readFileSync } from 'node:fs';
      register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hooks)}));
      const { EmbeddingsClient } = await import(${JSON.stringify(pathToFileURL(join(out, 'index.js')).href)});
      ${createCall(url)}
      const required = Object.keys(createRequire(process.cwd() + '/').cache);
      const imported = readFileSync(${JSON.stringify(log)}, 'utf8').split('\\n').filter(Boolean);
      console.log(JSON.stringify({ vectors, loaded: [...imported, ...required] }));`;
    const { vectors, loaded } = await child(['--input-type=module', '-e', script]);
    expect(vectors).toBe(3);
    const ours = loaded.filter((file) => file.includes(out));
    expect(ours.some((file) => file.endsWith('index.js'))).toBe(true);
    expect(ours.filter((file) => file.includes('cl100k'))).toEqual([]);
    expect(loaded.filter((file) => UNDICI_ENTRY.test(file))).toEqual([]);
    expect(loaded.some((file) => file.endsWith('undici/lib/dispatcher/agent.js'))).toBe(true);
    expect(loaded.filter((file) => ZOD_PACKAGE.test(file))).toEqual([]);
    const engine = ours.filter((file) =>
      readFileSync(file.startsWith('file:') ? new URL(file) : file, 'utf8').includes(BATCH_ENGINE_MARKER),
    );
    expect(engine).toEqual([]);
  },
);

test("CommonJS: create() loads neither the tokenizer nor undici's entry nor the zod package", SLOW, async () => {
  const script = `
      const { EmbeddingsClient } = require(${JSON.stringify(join(out, 'index.cjs'))});
      (async () => {
        ${createCall(url)}
        console.log(JSON.stringify({ vectors, loaded: Object.keys(require.cache) }));
      })();`;
  const { vectors, loaded } = await child(['-e', script]);
  expect(vectors).toBe(3);
  expect(loaded.some((file) => file.endsWith('index.cjs'))).toBe(true);
  expect(loaded.filter((file) => file.includes('cl100k'))).toEqual([]);
  expect(loaded.filter((file) => UNDICI_ENTRY.test(file))).toEqual([]);
  expect(loaded.some((file) => file.endsWith('undici/lib/dispatcher/agent.js'))).toBe(true);
  expect(loaded.filter((file) => ZOD_PACKAGE.test(file))).toEqual([]);
});

test('the tokenizer and the batch engine do load when a batch call needs them', SLOW, async () => {
  const script = `
      const { EmbeddingsClient } = require(${JSON.stringify(join(out, 'index.cjs'))});
      (async () => {
        const client = new EmbeddingsClient({ baseURL: ${JSON.stringify(url)}, apiKey: 'k' });
        // Over 8192 bytes: counted before any request.
        const res = await client.embeddings.createMany({ model: 'text-embedding-3-small', input: ['word '.repeat(2000), 'short'] });
        await client.close();
        console.log(JSON.stringify({ vectors: res.data.length, loaded: Object.keys(require.cache) }));
      })();`;
  const { vectors, loaded } = await child(['-e', script]);
  expect(vectors).toBe(2);
  expect(loaded.filter((file) => file.endsWith('cl100k.cjs'))).toHaveLength(1);
});
