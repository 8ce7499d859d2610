/**
 * Contract test of the Files and Batches requests: the client's real requests, over its real
 * undici transport, checked by Prism against OpenAI's own OpenAPI description
 * (test/fixtures/openai-openapi.yml). Prism answers 422 to a body, a multipart form or a query
 * that breaks the schema, so every request sent here must come back 2xx, and its answer (Prism's
 * example built from the schema) must read as the object the call promises.
 *
 * Run as test/contract.test.ts is: skipped only when PRISM_URL is not in the environment and CI
 * is not set; an empty PRISM_URL, one that does not answer, or a CI run without one fails.
 */
import { request } from 'undici';
import { beforeAll, describe, expect, test } from 'vitest';
import { EmbeddingsClient, toFile } from '../src/index.js';

const PRISM_URL = process.env.PRISM_URL;
const HOW_TO_RUN =
  '`bash .ci/run` starts Prism for it; by hand: scripts/prism.sh run npx vitest run test/files-contract.test.ts';
const inCI = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';
const runContract = PRISM_URL !== undefined || inCI;
if (!runContract) console.warn(`test/files-contract.test.ts skipped: PRISM_URL is not set. ${HOW_TO_RUN}`);

async function requirePrism(url: string | undefined): Promise<string> {
  if (!url) {
    throw new Error(
      `PRISM_URL is ${url === undefined ? 'not set, and CI is, where the contract test may not skip' : 'set but empty'}; ${HOW_TO_RUN}`,
    );
  }
  try {
    const response = await request(`${url}/batches`, { method: 'GET', headersTimeout: 10_000 });
    await response.body.dump();
  } catch (error) {
    throw new Error(`Prism does not answer at PRISM_URL=${url}: ${(error as Error).message}. ${HOW_TO_RUN}`, {
      cause: error,
    });
  }
  return url;
}

describe.runIf(runContract)('Files and Batches requests against OpenAI’s OpenAPI description (Prism)', () => {
  let client: EmbeddingsClient;
  beforeAll(async () => {
    const url = await requirePrism(PRISM_URL);
    client = new EmbeddingsClient({ baseURL: url, apiKey: 'sk-contract-test', maxRetries: 0 });
    return () => client.close();
  });

  test('files.create: the multipart form (purpose, file, expires_after) is accepted', async () => {
    const file = await client.files.create({
      file: toFile(
        '{"custom_id":"a","method":"POST","url":"/v1/embeddings","body":{"model":"m","input":"x"}}\n',
        'in.jsonl',
      ),
      purpose: 'batch',
      expires_after: { anchor: 'created_at', seconds: 3600 },
    });
    expect(file.object).toBe('file');
  });

  test('files.retrieve, files.content, files.delete and files.list are accepted', async () => {
    expect((await client.files.retrieve('file-abc')).object).toBe('file');
    const chunks: Buffer[] = [];
    for await (const chunk of await client.files.content('file-abc')) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).length).toBeGreaterThan(0);
    expect((await client.files.delete('file-abc')).object).toBe('file');
    const pages = [];
    for await (const page of client.files
      .list({ purpose: 'batch', limit: 2, order: 'asc', after: 'file-abc' })
      .pages()) {
      pages.push(page);
    }
    expect(pages.length).toBeGreaterThan(0);
  });

  test('batches.create with metadata, retrieve, cancel and list pages are accepted', async () => {
    const params = {
      input_file_id: 'file-abc',
      endpoint: '/v1/embeddings',
      completion_window: '24h',
      metadata: { job: 'nightly', shard: '1' },
    } as const;
    expect((await client.batches.create(params)).object).toBe('batch');
    expect((await client.batches.retrieve('batch_abc')).object).toBe('batch');
    expect((await client.batches.cancel('batch_abc')).object).toBe('batch');
    const pages = [];
    for await (const page of client.batches.list({ limit: 2, after: 'batch_abc' }).pages()) pages.push(page);
    expect(pages.length).toBeGreaterThan(0);
  });

  test('Prism checks these paths: a batch for an endpoint the schema does not list comes back 422', async () => {
    const url = await requirePrism(PRISM_URL);
    const response = await request(`${url}/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer sk-contract-test' },
      body: JSON.stringify({ input_file_id: 'file-abc', endpoint: '/v1/nope', completion_window: '24h' }),
    });
    await response.body.dump();
    expect(response.statusCode).toBe(422);
  });
});
