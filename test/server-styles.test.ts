import { rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { cl100kTokenizer, InvalidArgumentError, PRESET_NAMES } from '../src/index.js';
import {
  createServer,
  localHashEmbedding,
  SERVER_STYLES,
  type LocalServer,
  type ServerOptions,
} from '../src/server/index.js';
import { startCli } from './support/cli-child.js';
import { buildCli, expectVectorsOf, readJsonl, run, serving, tempDir, until } from './support/cli-helpers.js';

const servers: LocalServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function start(options: ServerOptions): Promise<LocalServer> {
  const server = createServer(options);
  servers.push(server);
  await server.listen(0);
  return server;
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: JSON.parse(text) as Record<string, unknown> };
}

const texts = (n: number) => Array.from({ length: n }, (_, i) => `text ${i}`);
const AZURE_KEY = { 'api-key': 'test-key' };

describe('each style caps a request at its documented count and refuses in its words', () => {
  test.each([
    ['tei', 32, 422, { error: 'batch size 33 > maximum allowed batch size 32', error_type: 'Validation' }],
    [
      'gemini-openai',
      100,
      400,
      {
        error: {
          code: 400,
          message: '* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n',
          status: 'INVALID_ARGUMENT',
        },
      },
    ],
    ['cohere-compat', 96, 400, { message: 'invalid request: total number of texts must be at most 96 - received 97' }],
    [
      'mistral',
      512,
      400,
      {
        object: 'error',
        message: 'Too many inputs in request, split into more batches.',
        type: 'invalid_request_prompt',
        param: null,
        code: '3210',
      },
    ],
    [
      'voyage',
      1000,
      400,
      { detail: 'The max allowed batch size is 1000. Your batch has 1001 inputs. Please lower the batch size.' },
    ],
    [
      'openai',
      2048,
      400,
      {
        error: {
          message:
            "Invalid 'input': array too long. Expected an array with maximum length 2048, but got an array with length 2049 instead.",
          type: 'invalid_request_error',
          param: 'input',
          code: 'array_above_max_length',
        },
      },
    ],
  ] as const)('%s: %i inputs pass, one more gets %i', async (style, cap, status, body) => {
    const server = await start({ style });
    const ok = await post(`${server.url}/embeddings`, { model: 'm', input: texts(cap) });
    expect(ok.status).toBe(200);
    expect((ok.json.data as unknown[]).length).toBe(cap);
    const refused = await post(`${server.url}/embeddings`, { model: 'm', input: texts(cap + 1) });
    expect(refused.status).toBe(status);
    expect(refused.json).toEqual(body);
    expect(server.stats.refused.inputs).toBe(1);
    expect(server.stats.embeddings).toBe(1);
  });

  test('maxInputsPerRequest sets an unannounced cap: azure refuses with its old message', async () => {
    const server = await start({ style: 'azure', maxInputsPerRequest: 16 });
    const refused = await post(
      `${server.url}/embeddings`,
      { model: 'local-hash-embedding', input: texts(17) },
      AZURE_KEY,
    );
    expect(refused.status).toBe(400);
    expect(refused.json).toEqual({
      error: {
        message:
          'Too many inputs. The max number of inputs is 16.  We hope to increase the number of inputs per request soon. Please contact us through an Azure support request at: https://go.microsoft.com/fwlink/?linkid=2213926 for further questions.',
        type: 'invalid_request_error',
        param: null,
        code: null,
      },
    });
    const ok = await post(`${server.url}/embeddings`, { model: 'local-hash-embedding', input: texts(16) }, AZURE_KEY);
    expect(ok.status).toBe(200);
    expect(server.stats.refused.inputs).toBe(1);
  });

  test.each([
    ['ollama', 400, { error: { message: 'Too many inputs: 5. At most 4 inputs are allowed per request.' } }],
    ['lmstudio', 400, { error: { message: 'Too many inputs: 5. At most 4 inputs are allowed per request.' } }],
    ['vllm', 400, { object: 'error', message: 'This server accepts at most 4 inputs per request, got 5.', code: 400 }],
    ['jina', 400, { detail: 'Too many inputs: 5. The maximum number of inputs is 4.' }],
  ] as const)('%s with an unannounced cap of 4 refuses 5 with %i in its body', async (style, status, body) => {
    const server = await start({ style, maxInputsPerRequest: 4 });
    expect(await post(`${server.url}/embeddings`, { model: 'm', input: texts(5) })).toMatchObject({
      status,
      json: body,
    });
    expect((await post(`${server.url}/embeddings`, { model: 'm', input: texts(4) })).status).toBe(200);
    expect(server.stats.refused.inputs).toBe(1);
  });

  test('tei with an unannounced cap of 8 names the count it got', async () => {
    const server = await start({ style: 'tei', maxInputsPerRequest: 8 });
    const refused = await post(`${server.url}/embeddings`, { model: 'm', input: texts(60) });
    expect(refused).toMatchObject({
      status: 422,
      json: { error: 'batch size 60 > maximum allowed batch size 8', error_type: 'Validation' },
    });
  });

  test('token caps: mistral at 16,384 and voyage at 120,000 tokens a request', async () => {
    const long = 'word '.repeat(4000);
    const tokens = cl100kTokenizer.count(long);
    const mistral = await start({ style: 'mistral' });
    const refused = await post(`${mistral.url}/embeddings`, {
      model: 'mistral-embed',
      input: [long, long, long, long, long],
    });
    expect(refused.status).toBe(400);
    expect(refused.json).toMatchObject({
      object: 'error',
      message: `Too many tokens in batch. Max is 16384 got ${5 * tokens}`,
    });
    expect(mistral.stats.refused.tokens).toBe(1);
    const voyage = await start({ style: 'voyage' });
    const big = await post(`${voyage.url}/embeddings`, { model: 'voyage-3-large', input: Array(31).fill(long) });
    expect(big.status).toBe(400);
    expect(big.json).toEqual({
      detail: `Request to model 'voyage-3-large' failed. The max allowed tokens per submitted batch is 120000. Your batch has ${31 * tokens} tokens after truncation. Please lower the number of tokens in the batch.`,
    });
  });
});

describe('request fields', () => {
  test('a plain OpenAI server refuses a provider field with 400 "Unrecognized request argument supplied"', async () => {
    const server = await start({ style: 'openai' });
    for (const field of ['input_type', 'task', 'output_dimension', 'truncate_prompt_tokens']) {
      const res = await post(`${server.url}/embeddings`, { model: 'm', input: 'x', [field]: 'query' });
      expect(res.status).toBe(400);
      expect(res.json).toEqual({
        error: {
          message: `Unrecognized request argument supplied: ${field}`,
          type: 'invalid_request_error',
          param: null,
          code: null,
        },
      });
    }
    expect(server.stats.refused.field).toBe(4);
    expect(server.stats.embeddings).toBe(0);
  });

  test('mistral refuses `dimensions` with its 422 and honours `output_dimension`', async () => {
    const server = await start({ style: 'mistral' });
    const refused = await post(`${server.url}/embeddings`, { model: 'm', input: 'x', dimensions: 8 });
    expect(refused.status).toBe(422);
    expect(refused.json).toMatchObject({
      object: 'error',
      message: {
        detail: [{ type: 'extra_forbidden', loc: ['body', 'dimensions'], msg: 'Extra inputs are not permitted' }],
      },
    });
    const ok = await post(`${server.url}/embeddings`, { model: 'm', input: 'x', output_dimension: 8 });
    expect((ok.json.data as { embedding: number[] }[])[0]!.embedding).toHaveLength(8);
  });

  test("gemini-openai refuses an unknown field in Google's words", async () => {
    const server = await start({ style: 'gemini-openai' });
    const refused = await post(`${server.url}/embeddings`, { model: 'm', input: 'x', input_type: 'query' });
    expect(refused).toMatchObject({
      status: 400,
      json: {
        error: { code: 400, message: 'Invalid JSON payload received. Unknown name "input_type": Cannot find field.' },
      },
    });
  });

  test.each([
    ['voyage', { input_type: 'query', output_dimension: 16, truncation: true }, 16],
    ['jina', { task: 'retrieval.query', dimensions: 16 }, 16],
    ['cohere-compat', { input_type: 'search_query' }, 384],
    ['vllm', { truncate_prompt_tokens: 256, dimensions: 16 }, 16],
    ['tei', { dimensions: 16, prompt_name: 'query' }, 16],
    // Ollama and LM Studio answer the model's own length whatever `dimensions` asks.
    ['ollama', { dimensions: 16 }, 384],
    ['lmstudio', { dimensions: 16 }, 384],
  ] as const)('%s receives its fields as sent and answers their vector length', async (style, fields, length) => {
    const server = await start({ style });
    const res = await post(`${server.url}/embeddings`, { model: 'm', input: ['a', 'b'], ...fields });
    expect(res.status).toBe(200);
    expect((res.json.data as { embedding: number[] }[])[1]!.embedding).toHaveLength(length);
    expect(server.stats.lastFields).toEqual(fields);
    for (const name of Object.keys(fields)) expect(server.stats.fields[name]).toBe(1);
  });

  test.each([
    ['ollama', 'float'],
    ['lmstudio', 'float'],
    ['gemini-openai', 'float'],
    ['jina', 'float'],
    ['tei', 'base64'],
    ['vllm', 'base64'],
    ['voyage', 'base64'],
    ['mistral', 'base64'],
    ['cohere-compat', 'base64'],
    ['openai', 'base64'],
  ] as const)('%s asked for base64 answers %s', async (style, format) => {
    const server = await start({ style, dimensions: 4 });
    const res = await post(`${server.url}/embeddings`, { model: 'm', input: 'hello', encoding_format: 'base64' });
    const embedding = (res.json.data as { embedding: unknown }[])[0]!.embedding;
    if (format === 'float') {
      expect(embedding).toHaveLength(4);
      (embedding as number[]).forEach((value, i) => expect(Math.fround(value)).toBe(localHashEmbedding('hello', 4)[i]));
    } else {
      expect(typeof embedding).toBe('string');
      expect(Buffer.from(embedding as string, 'base64')).toEqual(Buffer.from(localHashEmbedding('hello', 4).buffer));
    }
  });
});

describe('usage shapes', () => {
  test.each([
    ['openai', { prompt_tokens: 2, total_tokens: 2 }],
    ['tei', { prompt_tokens: 2, total_tokens: 2 }],
    ['voyage', { total_tokens: 2 }],
    ['gemini-openai', undefined],
  ] as const)('%s answers usage %j', async (style, usage) => {
    const server = await start({ style });
    const res = await post(`${server.url}/embeddings`, { model: 'm', input: ['hello', 'world'] });
    expect(res.status).toBe(200);
    expect(res.json.usage).toEqual(usage);
    expect('usage' in res.json).toBe(usage !== undefined);
  });
});

describe('azure', () => {
  const deploymentUrl = (server: LocalServer, name: string, query = '?api-version=2024-10-21') =>
    `${server.url.replace(/\/openai\/v1$/, '')}/openai/deployments/${name}/embeddings${query}`;

  test('serves the v1 form at its URL and the deployments form with an api-version', async () => {
    const server = await start({ style: 'azure', deployments: ['embed-small'] });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/openai\/v1$/);
    const v1 = await post(`${server.url}/embeddings`, { model: 'embed-small', input: 'x' }, AZURE_KEY);
    expect(v1.status).toBe(200);
    const named = await post(deploymentUrl(server, 'embed-small'), { input: ['x', 'y'] }, AZURE_KEY);
    expect(named.status).toBe(200);
    expect((named.json.data as unknown[]).length).toBe(2);
    const noVersion = await post(deploymentUrl(server, 'embed-small', ''), { input: 'x' }, AZURE_KEY);
    expect(noVersion).toMatchObject({ status: 404, json: { error: { code: '404', message: 'Resource not found' } } });
  });

  test('an unknown deployment, in the URL or as the v1 model, gets 404 DeploymentNotFound', async () => {
    const server = await start({ style: 'azure', deployments: ['embed-small'] });
    const expected = {
      status: 404,
      json: {
        error: {
          code: 'DeploymentNotFound',
          message:
            'The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.',
        },
      },
    };
    expect(await post(deploymentUrl(server, 'text-embedding-3-small'), { input: 'x' }, AZURE_KEY)).toMatchObject(
      expected,
    );
    expect(
      await post(`${server.url}/embeddings`, { model: 'text-embedding-3-small', input: 'x' }, AZURE_KEY),
    ).toMatchObject(expected);
    expect(server.stats.refused.deployment).toBe(2);
  });

  test('no credential gets 401; api-key or a bearer token passes', async () => {
    const server = await start({ style: 'azure' });
    const body = { model: 'local-hash-embedding', input: 'x' };
    const none = await post(`${server.url}/embeddings`, body);
    expect(none.status).toBe(401);
    expect(none.json).toMatchObject({ error: { code: '401', message: expect.stringContaining('Access denied') } });
    expect((await post(`${server.url}/embeddings`, body, AZURE_KEY)).status).toBe(200);
    expect((await post(`${server.url}/embeddings`, body, { authorization: 'Bearer t1' })).status).toBe(200);
    expect(server.stats.refused.auth).toBe(1);
  });

  test('a bearer token is accepted for tokenLifetimeRequests requests, then answered 401 as expired', async () => {
    const server = await start({ style: 'azure', tokenLifetimeRequests: 3 });
    const body = { model: 'local-hash-embedding', input: 'x' };
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++)
      statuses.push((await post(`${server.url}/embeddings`, body, { authorization: 'Bearer t1' })).status);
    expect(statuses).toEqual([200, 200, 200, 401]);
    const expired = await post(`${server.url}/embeddings`, body, { authorization: 'Bearer t1' });
    expect(expired.json).toEqual({
      error: {
        code: '401',
        message:
          'Unauthorized. Access token is missing, invalid, audience is incorrect (https://cognitiveservices.azure.com), or have expired.',
      },
    });
    // A fresh token starts its own lifetime; a key never expires.
    expect((await post(`${server.url}/embeddings`, body, { authorization: 'Bearer t2' })).status).toBe(200);
    expect((await post(`${server.url}/embeddings`, body, AZURE_KEY)).status).toBe(200);
    expect(server.stats.refused.auth).toBe(2);
  });

  test('rate-limit headers are remaining-only, as Azure sends them', async () => {
    const server = await start({ style: 'azure', rpm: 600 });
    const res = await post(`${server.url}/embeddings`, { model: 'local-hash-embedding', input: 'x' }, AZURE_KEY);
    const names = [...res.headers.keys()].filter((name) => name.startsWith('x-ratelimit-'));
    expect(names.sort()).toEqual(['x-ratelimit-remaining-requests']);
  });

  test('the openai routes are not served, as Azure serves none of them', async () => {
    const server = await start({ style: 'azure' });
    const origin = server.url.replace(/\/openai\/v1$/, '');
    const res = await post(`${origin}/v1/embeddings`, { model: 'local-hash-embedding', input: 'x' }, AZURE_KEY);
    expect(res.status).toBe(404);
  });
});

describe('options', () => {
  test.each([
    [{ style: 'bedrock' }, "`style` must be one of 'openai', 'azure'"],
    [{ maxInputsPerRequest: 0 }, '`maxInputsPerRequest` must be an integer from 1 to 2048 (got 0)'],
    [{ deployments: [] }, '`deployments` must name at least one deployment'],
    [{ tokenLifetimeRequests: 1.5 }, '`tokenLifetimeRequests` must be an integer ≥ 1 (got 1.5)'],
  ])('createServer(%j) throws naming the option', (options, message) => {
    expect(() => createServer(options as ServerOptions)).toThrow(InvalidArgumentError);
    expect(() => createServer(options as ServerOptions)).toThrow(message);
  });

  test('SERVER_STYLES lists every preset name', () => {
    expect(SERVER_STYLES).toEqual(PRESET_NAMES);
    expect(SERVER_STYLES).toContain('cohere-compat');
    expect(Object.isFrozen(SERVER_STYLES)).toBe(true);
  });
});

describe('embedrail serve --style', () => {
  test('--style tei serves TEI: 32 inputs pass, 33 get its 422', async () => {
    const printed = await serving(['--style', 'tei'], async (url) => {
      expect((await post(`${url}/embeddings`, { model: 'm', input: texts(32) })).status).toBe(200);
      expect(await post(`${url}/embeddings`, { model: 'm', input: texts(33) })).toMatchObject({
        status: 422,
        json: { error: 'batch size 33 > maximum allowed batch size 32', error_type: 'Validation' },
      });
    });
    expect(printed.stdout).toContain(' as tei at ');
  });

  test('--style azure --max-inputs-per-request 16 answers its old message; a bad style is a usage error', async () => {
    await serving(['--style', 'azure', '--max-inputs-per-request', '16'], async (url) => {
      expect(url).toMatch(/\/openai\/v1$/);
      const refused = await post(`${url}/embeddings`, { model: 'local-hash-embedding', input: texts(17) }, AZURE_KEY);
      expect(refused.status).toBe(400);
      expect((refused.json.error as { message: string }).message).toMatch(
        /^Too many inputs\. The max number of inputs is 16\./,
      );
    });
    const bad = await run(['serve', '--port', '0', '--style', 'bedrock']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("argument 'bedrock' is invalid");
  });
});

describe('embedrail serve --style tei as a process', () => {
  test(
    'embedrail embed of 100 lines against it writes every vector: the 422 teaches the cap',
    { timeout: 120_000 },
    async () => {
      const cli = await buildCli();
      const dir = tempDir();
      const server = startCli(cli, ['serve', '--port', '0', '--style', 'tei', '--dimensions', '64']);
      try {
        await until(() => /\/v1\b/.test(server.stdout()), 10_000);
        const url = /http:\/\/127\.0\.0\.1:\d+\/v1/.exec(server.stdout())![0];
        const lines = Object.fromEntries(texts(100).map((text, i) => [String(i + 1), text]));
        const file = dir.path('lines.txt');
        writeFileSync(file, `${Object.values(lines).join('\n')}\n`);
        const out = dir.path('out.jsonl');
        const embedded = await startCli(cli, ['embed', file, '--out', out, '--base-url', url]).exit;
        expect(embedded.stderr).toMatch(/100 embedded, 0 failed/);
        expect(embedded.code).toBe(0);
        expectVectorsOf(readJsonl(out), lines);
      } finally {
        server.child.kill('SIGTERM');
        const exit = await server.exit;
        dir.remove();
        rmSync(dirname(cli), { recursive: true, force: true });
        expect(exit.code).toBe(0);
      }
    },
  );
});
