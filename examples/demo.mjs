// `npm run demo`: embeds the sample corpus with the real CLI and searches it, end to end.
//
// By default everything stays on this machine: the local server (`embedrail/server`) listens
// on a free loopback port and serves its lexical `local-hash-embedding` model, so the demo
// needs no API key and no network. `npm run demo -- --openai` runs the same steps against
// OpenAI's text-embedding-3-small with OPENAI_API_KEY.
//
// It exits non-zero on any failure (a CLI error, a missing or duplicated vector, a search whose
// best hit is off topic), so CI runs it as a smoke test of the built package.
import { spawn } from 'node:child_process';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// EMBEDRAIL_DEMO_CLI: another build of the CLI, for the demo's own tests.
const CLI = process.env.EMBEDRAIL_DEMO_CLI || join(ROOT, 'dist', 'cli.js');
const CORPUS = join(ROOT, 'examples', 'data', 'facts.jsonl');
const K = 3;

/**
 * Queries and the topic (the id prefix in facts.jsonl) their best hit must come from. They
 * reuse the corpus's words because the local model is lexical: it matches words, not meaning.
 */
const QUERIES = [
  { query: 'bread dough rises with yeast', topic: 'cooking' },
  { query: 'planets and moons in the solar system', topic: 'astronomy' },
  { query: 'code review catches bugs before changes are merged', topic: 'programming' },
  { query: 'tomato plants need sunlight', topic: 'gardening' },
  { query: 'strings woodwinds and brass in an orchestra', topic: 'music' },
];

/** Child processes are bounded in time so a hung step fails the run instead of stalling CI. */
const EMBED_TIMEOUT_MS = 120_000;
const SEARCH_TIMEOUT_MS = 60_000;

const USAGE = `usage: npm run demo [-- --openai]

  (no flag)  start the local server on a free loopback port and use it (no key, no network)
  --openai   use OpenAI's text-embedding-3-small; needs OPENAI_API_KEY in the environment`;

/** A failure the demo explains in one line; anything else is a bug and prints its stack. */
class DemoError extends Error {
  exitCode = 1;
}

/** A bad command line: exit code 2, as the CLI uses for usage errors. */
class UsageError extends DemoError {
  exitCode = 2;
}

const children = new Set();
const cleanups = [];

async function main() {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    console.log(USAGE);
    return;
  }
  const unknown = args.filter((arg) => arg !== '--openai');
  if (unknown.length > 0) throw new UsageError(`unknown argument ${unknown.join(' ')}\n\n${USAGE}`);
  const useOpenAI = args.includes('--openai');
  if (useOpenAI && !process.env.OPENAI_API_KEY) {
    throw new UsageError('--openai needs OPENAI_API_KEY set in the environment (export OPENAI_API_KEY=sk-...)');
  }

  await access(CLI).catch(() => {
    throw new DemoError(`${CLI} does not exist; run "npm run build" first`);
  });
  const provider = useOpenAI ? openAIProvider() : await localProvider();
  console.log(`embedrail demo: ${provider.description}, model ${provider.model}\n`);

  const workDir = await mkdtemp(join(tmpdir(), 'embedrail-demo-'));
  // Kept when the CLI has pointed the user at a file in it (the failed inputs).
  let keepWorkDir = false;
  cleanups.push(() => (keepWorkDir ? undefined : rm(workDir, { recursive: true, force: true })));
  const vectorsPath = join(workDir, 'vectors.jsonl');
  const common = ['--base-url', provider.baseURL, '--model', provider.model];
  const texts = await readCorpus();

  console.log(`1. embedrail embed ${relative(process.cwd(), CORPUS) || CORPUS} (${texts.size} texts)`);
  const started = performance.now();
  try {
    await runCli(['embed', CORPUS, '--out', vectorsPath, ...common], provider.env, EMBED_TIMEOUT_MS, 'inherit');
  } catch (error) {
    const failures = `${vectorsPath}.failures.jsonl`;
    if (
      await access(failures).then(
        () => true,
        () => false,
      )
    ) {
      keepWorkDir = true;
      throw new DemoError(`${error.message}; the failed inputs are in ${failures} (kept; delete ${workDir} when done)`);
    }
    throw error;
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const dimensions = await checkVectors(vectorsPath, texts);
  console.log(`   ${texts.size} vectors of ${dimensions} dimensions written in ${seconds} s\n`);

  console.log(`2. embedrail search, top ${K} of each query (score = cosine similarity)`);
  for (const { query, topic } of QUERIES) {
    const output = await runCli(
      ['search', vectorsPath, query, '-k', String(K), ...common],
      provider.env,
      SEARCH_TIMEOUT_MS,
      'pipe',
    );
    const hits = parseHits(output, query);
    console.log(`\n   "${query}"`);
    for (const { score, id } of hits)
      console.log(`   ${score}  ${id.padEnd(15)} ${texts.get(id) ?? '(id not in the corpus)'}`);
    const best = hits[0];
    if (!best.id.startsWith(`${topic}-`)) {
      throw new DemoError(`the best hit for "${query}" is ${best.id}, expected an id from the ${topic} topic`);
    }
  }
  console.log(`\nDone: ${QUERIES.length} searches, each led by a text from the expected topic.`);
}

/** The default: a local server on a free loopback port, closed when the demo ends. */
async function localProvider() {
  let createServer;
  try {
    ({ createServer } = await import('../dist/server.js'));
  } catch (error) {
    throw new DemoError(`cannot load dist/server.js (${error.message}); run "npm run build" first`);
  }
  const server = createServer();
  const { url } = await server.listen(0, '127.0.0.1');
  cleanups.push(() => server.close());
  // A key set for a real provider has no business reaching the local server.
  const env = { ...process.env };
  delete env.EMBEDRAIL_API_KEY;
  delete env.OPENAI_API_KEY;
  return { description: `local server at ${url}`, baseURL: url, model: 'local-hash-embedding', env };
}

/**
 * `--openai`: the same steps against OpenAI (or OPENAI_BASE_URL, as the client reads it); the
 * CLI reads the key from its environment.
 */
function openAIProvider() {
  // The key travels in the environment, never on a command line where `ps` would show it;
  // dropping EMBEDRAIL_API_KEY makes sure the CLI picks OPENAI_API_KEY.
  const env = { ...process.env };
  delete env.EMBEDRAIL_API_KEY;
  const baseURL = process.env.OPENAI_BASE_URL || 'https://api.openai.com/v1';
  return { description: `OpenAI at ${baseURL}`, baseURL, model: 'text-embedding-3-small', env };
}

async function readCorpus() {
  const texts = new Map();
  for (const line of (await readFile(CORPUS, 'utf8')).split('\n')) {
    if (line.trim() === '') continue;
    const { id, text } = JSON.parse(line);
    texts.set(id, text);
  }
  return texts;
}

/** Every corpus id exactly once, every vector the same non-zero length: nothing lost. */
async function checkVectors(path, texts) {
  const seen = new Set();
  let dimensions;
  for (const line of (await readFile(path, 'utf8')).split('\n')) {
    if (line.trim() === '') continue;
    const { id, embedding } = JSON.parse(line);
    if (!texts.has(id)) throw new DemoError(`${path} holds an id that is not in the corpus: ${id}`);
    if (seen.has(id)) throw new DemoError(`${path} holds ${id} twice`);
    seen.add(id);
    if (!Array.isArray(embedding) || embedding.length === 0) throw new DemoError(`${path}: ${id} has no vector`);
    dimensions ??= embedding.length;
    if (embedding.length !== dimensions) {
      throw new DemoError(`${path}: ${id} has ${embedding.length} dimensions, the first vector ${dimensions}`);
    }
  }
  const missing = [...texts.keys()].filter((id) => !seen.has(id));
  if (missing.length > 0)
    throw new DemoError(`${path} lacks ${missing.length} ids, e.g. ${missing.slice(0, 3).join(', ')}`);
  return dimensions;
}

/** `embedrail search` prints one `score<TAB>id` line per hit, best first. */
function parseHits(output, query) {
  const hits = output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [score, id] = line.split('\t');
      if (id === undefined || Number.isNaN(Number(score))) {
        throw new DemoError(`embedrail search printed a line that is not "score<TAB>id": ${JSON.stringify(line)}`);
      }
      return { score, id };
    });
  if (hits.length !== K) throw new DemoError(`embedrail search "${query}" printed ${hits.length} hits, expected ${K}`);
  return hits;
}

/** Runs `node dist/cli.js <args>`; resolves with its stdout when captured, rejects on a non-zero exit. */
function runCli(args, env, timeoutMs, stdout) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env, stdio: ['ignore', stdout, 'inherit'] });
    children.add(child);
    let output = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk) => (output += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new DemoError(`embedrail ${args[0]} did not finish within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      children.delete(child);
      reject(new DemoError(`cannot start the CLI (${error.message})`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      if (code === 0) resolvePromise(output);
      else
        reject(new DemoError(`embedrail ${args[0]} failed with ${signal ? `signal ${signal}` : `exit code ${code}`}`));
    });
  });
}

/** Stops the children, the server and removes the temporary files, whatever happened. */
async function cleanUp() {
  for (const child of children) child.kill('SIGKILL');
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch (error) {
      console.error(`demo: clean-up failed: ${error.message}`);
      process.exitCode = 1;
    }
  }
  cleanups.length = 0;
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    void cleanUp().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}

try {
  await main();
} catch (error) {
  console.error(error instanceof DemoError ? `demo failed: ${error.message}` : error);
  process.exitCode = error instanceof DemoError ? error.exitCode : 1;
} finally {
  await cleanUp();
}
