/** `--preset` and `--input-type` on embed and search, run as a shell runs them, against the local server playing each provider. */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { PRESET_NAMES } from '../src/index.js';
import { createServer } from '../src/server/index.js';
import type { LocalServer } from '../src/server/index.js';
import { startCli } from './support/cli-child.js';
import { buildCli, expectVectorsOf, readJsonl, run, tempDir } from './support/cli-helpers.js';

let cli: string;
const dir = tempDir();
let counter = 0;
const servers: LocalServer[] = [];

beforeAll(async () => {
  cli = await buildCli();
}, 120_000);
afterAll(() => {
  dir.remove();
  rmSync(dirname(cli), { recursive: true, force: true });
});
afterEach(async () => {
  vi.unstubAllEnvs();
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function serving(style: 'voyage' | 'tei' | 'openai'): Promise<{ server: LocalServer; url: string }> {
  const server = createServer({ style, dimensions: 64 });
  servers.push(server);
  const { url } = await server.listen(0, '127.0.0.1');
  return { server, url };
}

/** A .txt input of `count` distinct lines, and the texts by id (the line number). */
function lines(count: number): { file: string; texts: Record<string, string> } {
  const texts = Object.fromEntries(
    Array.from({ length: count }, (_, i) => [String(i + 1), `line ${i + 1} about topic ${i % 7}`]),
  );
  const file = dir.path(`in-${++counter}.txt`);
  writeFileSync(file, `${Object.values(texts).join('\n')}\n`);
  return { file, texts };
}

const embedArgs = (file: string, url: string, ...flags: string[]) => {
  const out = dir.path(`out-${++counter}.jsonl`);
  return { out, args: ['embed', file, '--out', out, '--base-url', url, ...flags] };
};

describe('embed --preset --input-type', () => {
  test(
    "--preset voyage --input-type document sends input_type: 'document' on every request",
    { timeout: 60_000 },
    async () => {
      const { server, url } = await serving('voyage');
      const { file, texts } = lines(10);
      const { out, args } = embedArgs(file, url, '--preset', 'voyage', '--input-type', 'document');
      const done = await startCli(cli, args).exit;
      expect(done.stderr).toMatch(/10 embedded, 0 failed/);
      expect(done.code).toBe(0);
      expect(server.stats.embeddings).toBeGreaterThan(0);
      expect(server.stats.fields.input_type).toBe(server.stats.embeddings);
      expect(server.stats.lastFields).toMatchObject({ input_type: 'document' });
      expectVectorsOf(readJsonl(out), texts);
    },
  );

  test('without --input-type no input-type field is sent, as the library does', { timeout: 60_000 }, async () => {
    const { server, url } = await serving('voyage');
    const { file } = lines(3);
    const done = await startCli(cli, embedArgs(file, url, '--preset', 'voyage').args).exit;
    expect(done.code).toBe(0);
    expect(server.stats.embeddings).toBeGreaterThan(0);
    expect(server.stats.fields.input_type).toBeUndefined();
  });

  test('--input-type document to a plain OpenAI server sends no field of it', { timeout: 60_000 }, async () => {
    const { server, url } = await serving('openai');
    const { file } = lines(3);
    const done = await startCli(cli, embedArgs(file, url, '--input-type', 'document').args).exit;
    expect(done.code).toBe(0);
    expect(server.stats.embeddings).toBeGreaterThan(0);
    expect(Object.keys(server.stats.fields).filter((name) => name !== 'encoding_format')).toEqual([]);
  });

  test(
    "--preset tei: 100 lines end as 100 vectors in requests of TEI's 32, none refused",
    { timeout: 60_000 },
    async () => {
      const { server, url } = await serving('tei');
      const { file, texts } = lines(100);
      const { out, args } = embedArgs(file, url, '--preset', 'tei');
      const done = await startCli(cli, args).exit;
      expect(done.stderr).toMatch(/100 embedded, 0 failed/);
      expect(done.code).toBe(0);
      expectVectorsOf(readJsonl(out), texts);
      expect(server.stats.refused.inputs).toBe(0);
      expect(server.stats.embeddings).toBe(4);
      expect(server.stats.inputs).toBe(100);
    },
  );

  test('--batch-size still wins over the preset', { timeout: 60_000 }, async () => {
    const { server, url } = await serving('tei');
    const { file } = lines(20);
    const done = await startCli(cli, embedArgs(file, url, '--preset', 'tei', '--batch-size', '5').args).exit;
    expect(done.code).toBe(0);
    expect(server.stats.embeddings).toBe(4);
  });

  test('an unknown preset fails before any request, listing the choices', { timeout: 60_000 }, async () => {
    const { server, url } = await serving('openai');
    const { file } = lines(3);
    const { out, args } = embedArgs(file, url, '--preset', 'bedrock');
    const done = await startCli(cli, args).exit;
    expect(done.code).toBe(2);
    expect(done.stderr).toContain(`argument 'bedrock' is invalid. Allowed choices are ${PRESET_NAMES.join(', ')}.`);
    expect(server.stats.requests).toBe(0);
    expect(readJsonlOrNothing(out)).toBeUndefined();
  });

  test('an unknown input type fails before any request, naming the flag', { timeout: 60_000 }, async () => {
    const { server, url } = await serving('voyage');
    const { file } = lines(3);
    const done = await startCli(cli, embedArgs(file, url, '--preset', 'voyage', '--input-type', 'passage').args).exit;
    expect(done.code).toBe(2);
    expect(done.stderr).toMatch(
      /--input-type <type>' argument 'passage' is invalid. Allowed choices are query, document/,
    );
    expect(server.stats.requests).toBe(0);
  });
});

describe('--resume keeps the input type the output was made with', () => {
  test(
    'without the flag it goes on as recorded; another is refused before any request',
    { timeout: 60_000 },
    async () => {
      const { server, url } = await serving('voyage');
      const { file, texts } = lines(6);
      writeFileSync(file, `${Object.values(texts).slice(0, 3).join('\n')}\n`);
      const { out, args } = embedArgs(file, url, '--preset', 'voyage', '--input-type', 'document');
      expect((await startCli(cli, args).exit).code).toBe(0);
      expect(JSON.parse(readFileSync(`${out}.meta.json`, 'utf8'))).toMatchObject({ inputType: 'document' });

      writeFileSync(file, `${Object.values(texts).join('\n')}\n`);
      const base = ['embed', file, '--out', out, '--base-url', url, '--preset', 'voyage', '--resume'];
      const before = server.stats.requests;
      const refused = await startCli(cli, [...base, '--input-type', 'query']).exit;
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(
        `cannot resume '${out}': it was made with --input-type document but --input-type is query`,
      );
      expect(server.stats.requests).toBe(before);

      const resumed = await startCli(cli, base).exit;
      expect(resumed.stderr).toMatch(/3 embedded, 3 already in .*, 0 failed/);
      expect(resumed.code).toBe(0);
      expect(server.stats.lastFields).toMatchObject({ input_type: 'document' });
      expectVectorsOf(readJsonl(out), texts);
    },
  );

  test('an output made with none refuses one on --resume', { timeout: 60_000 }, async () => {
    const { server, url } = await serving('voyage');
    const { file } = lines(2);
    const { out, args } = embedArgs(file, url, '--preset', 'voyage');
    expect((await startCli(cli, args).exit).code).toBe(0);
    const before = server.stats.requests;
    const refused = await startCli(cli, [...args, '--resume', '--input-type', 'document']).exit;
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`it was made with no --input-type but --input-type is document`);
    expect(server.stats.requests).toBe(before);
    expect(existsSync(out)).toBe(true);
  });
});

describe('search --preset --input-type', () => {
  test(
    "the query is sent with input_type: 'query' by default, or as --input-type says",
    { timeout: 60_000 },
    async () => {
      const { server, url } = await serving('voyage');
      const { file } = lines(10);
      const { out, args } = embedArgs(file, url, '--preset', 'voyage', '--input-type', 'document');
      expect((await startCli(cli, args).exit).code).toBe(0);

      const searched = await startCli(cli, ['search', out, 'topic 3', '--preset', 'voyage', '--base-url', url]).exit;
      expect(searched.code).toBe(0);
      expect(searched.stdout.trim().split('\n')).toHaveLength(5);
      expect(server.stats.lastFields).toMatchObject({ input_type: 'query' });

      const asDocument = [
        'search',
        out,
        'topic 3',
        '--preset',
        'voyage',
        '--base-url',
        url,
        '--input-type',
        'document',
      ];
      expect((await startCli(cli, asDocument).exit).code).toBe(0);
      expect(server.stats.lastFields).toMatchObject({ input_type: 'document' });
    },
  );
});

describe("the preset's root, as the library resolves it", () => {
  test('--preset tei with no --base-url and no variable names the flag to pass', async () => {
    vi.stubEnv('EMBEDRAIL_BASE_URL', '');
    vi.stubEnv('OPENAI_BASE_URL', '');
    const { file } = lines(1);
    const { code, stderr } = await run(['embed', file, '--out', dir.path(`out-${++counter}.jsonl`), '--preset', 'tei']);
    expect(code).toBe(2);
    expect(stderr).toBe(
      "embedrail: --preset tei has no API root of its own: pass --base-url, your server's " +
        '(got none, and EMBEDRAIL_BASE_URL and OPENAI_BASE_URL are empty)\n',
    );
  });

  test("--preset voyage with no --base-url goes to Voyage's root, which needs its key", async () => {
    vi.stubEnv('EMBEDRAIL_BASE_URL', '');
    vi.stubEnv('OPENAI_BASE_URL', 'http://127.0.0.1:9/v1');
    vi.stubEnv('EMBEDRAIL_API_KEY', '');
    vi.stubEnv('VOYAGE_API_KEY', '');
    vi.stubEnv('OPENAI_API_KEY', 'sk-not-for-voyage');
    const { file } = lines(1);
    const { code, stderr } = await run([
      'embed',
      file,
      '--out',
      dir.path(`out-${++counter}.jsonl`),
      '--preset',
      'voyage',
    ]);
    expect(code).toBe(2);
    expect(stderr).toMatch(
      /^embedrail: No API key for https:\/\/api\.voyageai\.com\/v1: pass --api-key or set VOYAGE_API_KEY \(it was empty\)/,
    );
  });

  test("$EMBEDRAIL_BASE_URL wins over the preset's root", async () => {
    const { server, url } = await serving('voyage');
    vi.stubEnv('EMBEDRAIL_BASE_URL', url);
    vi.stubEnv('EMBEDRAIL_API_KEY', '');
    vi.stubEnv('VOYAGE_API_KEY', '');
    const { file } = lines(2);
    const out = dir.path(`out-${++counter}.jsonl`);
    const { code } = await run(['embed', file, '--out', out, '--preset', 'voyage', '--input-type', 'query']);
    expect(code).toBe(0);
    expect(server.stats.lastFields).toMatchObject({ input_type: 'query' });
  });
});

function readJsonlOrNothing(path: string): unknown[] | undefined {
  try {
    return readJsonl(path);
  } catch {
    return undefined;
  }
}
