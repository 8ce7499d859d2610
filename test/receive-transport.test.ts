/** The transport hands a 2xx body to the answer's reader chunk by chunk, as it arrives, after content decoding. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, test } from 'vitest';
import { EmbeddingsClient } from '../src/index.js';
import { Transport, type AttemptOptions, type BodySink } from '../src/transport.js';
import { base64Answer } from './support/answers.js';

let server: Server | undefined;
afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

/** A server on 127.0.0.1 whose one route is `handler`; resolves with its base URL. */
async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
  server = createServer(handler);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
}

function transport(baseURL: string): Transport {
  return new Transport({
    baseURL,
    apiKey: undefined,
    apiKeyHeader: 'authorization',
    organization: undefined,
    project: undefined,
    defaultHeaders: {},
    defaultQuery: {},
    dispatcher: undefined,
  });
}

const attempt = (receive: () => BodySink): AttemptOptions => ({
  timeout: 60_000,
  maxResponseBytes: 1 << 24,
  signal: undefined,
  headers: {},
  query: {},
  receive,
});

describe('the transport feeds the reader as the body arrives', () => {
  test('the reader has the first half of the body before the server sends the second', async () => {
    const { body } = base64Answer(4, 64);
    const half = Math.floor(body.length / 2);
    let firstHalfRead!: () => void;
    const read = new Promise<void>((resolve) => (firstHalfRead = resolve));
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(body.slice(0, half));
      // The rest waits for the reader: a transport that read the whole body first would never get it.
      void read.then(() => res.end(body.slice(half)));
    });
    let received = '';
    const client = transport(url);
    const response = await client.post(
      '/embeddings',
      {},
      attempt(() => ({
        write(chunk) {
          received += chunk.toString('latin1');
          if (received.length >= half) firstHalfRead();
        },
      })),
    );
    expect(received).toBe(body);
    expect(response.text).toBe(body);
    await client.close();
  });

  test('a gzip body reaches the reader decoded; an error body never reaches it', async () => {
    const { body } = base64Answer(3, 16);
    let status = 200;
    const url = await serve((_req, res) => {
      if (status !== 200) {
        res.writeHead(status, { 'content-type': 'application/json' }).end('{"error":{"message":"no"}}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(gzipSync(body));
    });
    const client = transport(url);
    let received = '';
    const sink = () => ({ write: (chunk: Buffer) => void (received += chunk.toString('latin1')) });
    await client.post('/embeddings', {}, attempt(sink));
    expect(received).toBe(body);
    received = '';
    status = 400;
    await expect(client.post('/embeddings', {}, attempt(sink))).rejects.toThrow(/no/);
    expect(received).toBe('');
    await client.close();
  });

  test('create() reads a body sent a few bytes at a time', async () => {
    const { body, vectors } = base64Answer(3, 32);
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      for (let at = 0; at < body.length; at += 7) res.write(body.slice(at, at + 7));
      res.end();
    });
    const client = new EmbeddingsClient({ baseURL: url, vectorType: 'float32-view', normalize: false });
    const res = await client.embeddings.create({ model: 'm', input: ['a', 'b', 'c'] });
    expect(res.data.map((item) => Array.from(item.embedding))).toEqual(vectors.map((v) => Array.from(v)));
    expect(res.data[2]!.embedding.buffer).toBe(res.data[0]!.embedding.buffer);
    await client.close();
  });
});
