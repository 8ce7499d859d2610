import { afterEach } from 'vitest';
import {
  BatchResultLine,
  EmbeddingsClient,
  readBatchLines,
  toFile,
  type Batch,
  type ClientOptions,
  type BatchResultLine as ResultLine,
} from '../../src/index.js';
import { createServer, type LocalServer, type ServerOptions } from '../../src/server/index.js';

/**
 * Starts local servers for one test file, each with a client of it (no retries), and closes
 * them after each test. `serverDefaults` and `clientDefaults` apply to every one started; the
 * options given to a start win over them.
 */
export function useBatchServers(serverDefaults: ServerOptions = {}, clientDefaults: ClientOptions<'array'> = {}) {
  const open: { server: LocalServer; client: EmbeddingsClient }[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map(async ({ server, client }) => (await client.close(), await server.close())));
  });
  return async (options: ServerOptions = {}, clientOptions: ClientOptions<'array'> = {}) => {
    const server = createServer({ batchProcessingMs: 0, ...serverDefaults, ...options });
    const { url } = await server.listen(0);
    const client = new EmbeddingsClient({ baseURL: url, maxRetries: 0, ...clientDefaults, ...clientOptions });
    open.push({ server, client });
    return { server, client, url };
  };
}

/** An input line embedding `input` under `customId`. */
export function inputLine(customId: string, input: unknown, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    custom_id: customId,
    method: 'POST',
    url: '/v1/embeddings',
    body: { model: 'm', input, ...extra },
  });
}

/** `count` input lines `r0`, `r1`, ... embedding `text 0`, `text 1`, ... */
export function inputLines(count: number): string[] {
  return Array.from({ length: count }, (_, i) => inputLine(`r${i}`, `text ${i}`));
}

/** Uploads `lines` as a batch input file and creates the batch. */
export async function submit(
  client: EmbeddingsClient,
  lines: string[],
  metadata?: Record<string, string>,
): Promise<Batch> {
  const file = await client.files.create({ file: toFile(`${lines.join('\n')}\n`, 'input.jsonl'), purpose: 'batch' });
  return client.batches.create({
    input_file_id: file.id,
    endpoint: '/v1/embeddings',
    completion_window: '24h',
    ...(metadata && { metadata }),
  });
}

const ENDED = ['completed', 'failed', 'expired', 'cancelled'];

/** Polls the batch until it ends, returning every status it was seen in, in order. */
export async function settle(
  client: EmbeddingsClient,
  batch: Batch,
  pollMs = 5,
): Promise<{ batch: Batch; seen: string[] }> {
  const seen = [batch.status];
  let current = batch;
  while (!ENDED.includes(current.status)) {
    await new Promise((resolve) => setTimeout(resolve, pollMs));
    current = await client.batches.retrieve(batch.id);
    if (seen.at(-1) !== current.status) seen.push(current.status);
  }
  return { batch: current, seen };
}

/** Every line of a batch output or error file, read through the client. */
export async function readFile(client: EmbeddingsClient, fileId: string | null | undefined): Promise<ResultLine[]> {
  if (!fileId) return [];
  const lines: ResultLine[] = [];
  for await (const { value } of readBatchLines(await client.files.content(fileId), BatchResultLine)) lines.push(value);
  return lines;
}
