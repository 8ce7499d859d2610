import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  APIConnectionError,
  APITimeoutError,
  APIUserAbortError,
  AuthenticationError,
  EmbeddingsClient,
  InternalServerError,
  InvalidArgumentError,
  NotFoundError,
  toFile,
} from '../src/index.js';
import { fileObject, json, useRawServers } from './support/raw-server.js';
import { liveArrayBuffers } from './support/gc.js';

const KEY = 'sk-files-test-0123456789abcdef';
const start = useRawServers();

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'embedrail-files-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function client(url: string, options: ConstructorParameters<typeof EmbeddingsClient>[0] = {}) {
  return new EmbeddingsClient({ baseURL: url, apiKey: KEY, ...options });
}

/** The multipart body `files.create()` must send for these parts, with the request's own boundary. */
function expectedBody(boundary: string, fields: [string, string][], filename: string, content: string): string {
  const parts = fields.map(
    ([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`,
  );
  return (
    parts.join('') +
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\n` +
    `Content-Type: application/octet-stream\r\n\r\n${content}\r\n--${boundary}--\r\n`
  );
}

function boundaryOf(contentType: string | undefined): string {
  const match = /^multipart\/form-data; boundary=(\S+)$/.exec(contentType ?? '');
  if (!match) throw new Error(`not a multipart content type: ${contentType}`);
  return match[1]!;
}

describe('files.create', () => {
  test('sends multipart/form-data: the boundary, the purpose, the file name and bytes, its length and the key', async () => {
    const content = '{"custom_id":"a"}\n{"custom_id":"b"}\n';
    const { url, requests } = await start((_req, res, seen) => json(res, 200, fileObject(seen.bytes)));
    const c = client(url);
    const file = await c.files.create({ file: toFile(content, 'input.jsonl'), purpose: 'batch' });
    await c.close();
    expect(file).toMatchObject({ id: 'file-abc123', object: 'file', purpose: 'batch' });
    expect(requests).toHaveLength(1);
    const [request] = requests;
    expect(request!.method).toBe('POST');
    expect(request!.url).toBe('/v1/files');
    expect(request!.headers.authorization).toBe(`Bearer ${KEY}`);
    const boundary = boundaryOf(request!.headers['content-type']);
    expect(request!.body.toString('utf8')).toBe(expectedBody(boundary, [['purpose', 'batch']], 'input.jsonl', content));
    expect(request!.headers['content-length']).toBe(String(request!.bytes));
  });

  test('sends expires_after as its two form fields, and escapes a quote in the file name', async () => {
    const { url, requests } = await start((_req, res, seen) => json(res, 200, fileObject(seen.bytes)));
    const c = client(url);
    await c.files.create({
      file: toFile('x', 'a "b".jsonl'),
      purpose: 'batch',
      expires_after: { anchor: 'created_at', seconds: 3600 },
    });
    await c.close();
    const boundary = boundaryOf(requests[0]!.headers['content-type']);
    const fields: [string, string][] = [
      ['purpose', 'batch'],
      ['expires_after[anchor]', 'created_at'],
      ['expires_after[seconds]', '3600'],
    ];
    expect(requests[0]!.body.toString('utf8')).toBe(expectedBody(boundary, fields, 'a %22b%22.jsonl', 'x'));
  });

  test('a ReadStream is sent under its base name with the file size as length, and re-opened for a retry', async () => {
    const path = join(dir, 'shard-1.jsonl');
    const content = 'line one\nline two\n'.repeat(1000);
    await writeFile(path, content);
    const { url, requests } = await start((_req, res, seen, i) =>
      i === 0
        ? json(res, 500, { error: { message: 'boom' } })
        : json(res, 200, fileObject(seen.bytes, 'shard-1.jsonl')),
    );
    const c = client(url, { maxRetries: 1 });
    await c.files.create({ file: createReadStream(path), purpose: 'batch' });
    await c.close();
    expect(requests).toHaveLength(2);
    for (const request of requests) {
      const boundary = boundaryOf(request.headers['content-type']);
      expect(request.body.toString('utf8')).toBe(
        expectedBody(boundary, [['purpose', 'batch']], 'shard-1.jsonl', content),
      );
      expect(request.headers['content-length']).toBe(String(request.bytes));
    }
  });

  test('a File is sent under its own name and type, read a slice at a time, its size as length', async () => {
    const content = 'é'.repeat(700_000);
    const { url, requests } = await start((_req, res, seen) => json(res, 200, fileObject(seen.bytes)));
    const c = client(url);
    await c.files.create({
      file: new File([content], 'from-file.jsonl', { type: 'application/jsonl' }),
      purpose: 'batch',
    });
    await c.close();
    const boundary = boundaryOf(requests[0]!.headers['content-type']);
    const expected = expectedBody(boundary, [['purpose', 'batch']], 'from-file.jsonl', content).replace(
      'Content-Type: application/octet-stream',
      'Content-Type: application/jsonl',
    );
    expect(requests[0]!.body.toString('utf8')).toBe(expected);
    expect(requests[0]!.headers['content-length']).toBe(String(requests[0]!.bytes));
  });

  test('an async iterable is streamed chunked, once: a 500 is not retried, since its chunks are gone', async () => {
    async function* chunks() {
      yield 'a\n';
      yield Buffer.from('b\n');
    }
    const { url, requests } = await start((_req, res) => json(res, 500, { error: { message: 'boom' } }));
    const c = client(url, { maxRetries: 3 });
    const error = await c.files
      .create({ file: toFile(chunks(), 'gen.jsonl'), purpose: 'batch' })
      .catch((e: unknown) => e);
    await c.close();
    expect(error).toBeInstanceOf(InternalServerError);
    expect(requests).toHaveLength(1);
    expect(requests[0]!.headers['transfer-encoding']).toBe('chunked');
    expect(requests[0]!.headers['content-length']).toBeUndefined();
    expect(requests[0]!.body.toString('utf8')).toContain('\r\n\r\na\nb\n\r\n--');
  });

  test('a source that fails while it is read is an InvalidArgumentError, not a connection error, and is not retried', async () => {
    async function* failing() {
      yield 'a\n';
      throw new Error('disk gone');
    }
    const { url, requests } = await start((_req, res) => json(res, 200, fileObject(1)));
    const c = client(url, { maxRetries: 3 });
    const error = await c.files
      .create({ file: toFile(failing(), 'x.jsonl'), purpose: 'batch' })
      .catch((e: unknown) => e);
    await c.close();
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toContain('the content to upload could not be read (disk gone)');
    expect(requests.length).toBeLessThanOrEqual(1);
  });

  test('a ReadStream of a missing file is refused before any request', async () => {
    const { url, requests } = await start((_req, res) => json(res, 200, fileObject(1)));
    const c = client(url);
    const stream = createReadStream(join(dir, 'missing.jsonl'));
    stream.on('error', () => {});
    const error = await c.files.create({ file: stream, purpose: 'batch' }).catch((e: unknown) => e);
    await c.close();
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toContain('missing.jsonl');
    expect(requests).toHaveLength(0);
  });

  test('bytes are sent again after a 500, whole', async () => {
    const { url, requests } = await start((_req, res, seen, i) =>
      i === 0 ? json(res, 500, {}) : json(res, 200, fileObject(seen.bytes)),
    );
    const c = client(url, { maxRetries: 2 });
    await c.files.create({ file: toFile(new Uint8Array([1, 2, 3]), 'b.jsonl'), purpose: 'batch' });
    await c.close();
    expect(requests).toHaveLength(2);
    expect(requests[1]!.body).toEqual(requests[0]!.body);
  });

  test('a 256 MiB upload from a generator goes through bounded memory', async () => {
    const MiB = 1024 * 1024;
    const total = 256;
    let peak = 0;
    const base = liveArrayBuffers();
    async function* chunks() {
      for (let i = 0; i < total; i++) {
        // A fresh buffer each time: a client that kept the chunks would keep all 256 MiB.
        yield Buffer.alloc(MiB, i % 251);
        if (i % 16 === 15) peak = Math.max(peak, liveArrayBuffers() - base);
      }
    }
    const { url, requests } = await start((_req, res, seen) => json(res, 200, fileObject(seen.bytes)), {
      keepBodies: false,
    });
    const c = client(url);
    await c.files.create({ file: toFile(chunks(), 'big.jsonl'), purpose: 'batch' });
    await c.close();
    expect(requests[0]!.bytes).toBeGreaterThan(total * MiB);
    console.log('PEAKUP', peak / MiB);
    expect(peak).toBeLessThan(64 * MiB);
  });

  test.each([
    ['an unknown purpose', { file: toFile('x', 'a.jsonl'), purpose: 'batches' }, '`purpose` must be "batch"'],
    [
      'no file',
      { purpose: 'batch' },
      '`file` must be an fs.ReadStream, a File, or toFile(content, name) (got undefined)',
    ],
    ['a path string', { file: './in.jsonl', purpose: 'batch' }, '(got "./in.jsonl")'],
    ['a Blob without a name', { file: new Blob(['x']), purpose: 'batch' }, 'a Blob without a name'],
    [
      'an expiry under an hour',
      { file: toFile('x', 'a.jsonl'), purpose: 'batch', expires_after: { anchor: 'created_at', seconds: 10 } },
      '`expires_after.seconds` must be an integer from 3600 to 2592000 (got 10)',
    ],
    ['an unknown field', { file: toFile('x', 'a.jsonl'), purpose: 'batch', filename: 'x' }, '`filename`'],
  ])('%s is refused before any request, naming the field', async (_, params, message) => {
    const { url, requests } = await start((_req, res) => json(res, 200, {}));
    const c = client(url);
    const error = await c.files.create(params as never).catch((e: unknown) => e);
    await c.close();
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toContain(message);
    expect(requests).toHaveLength(0);
  });
});

describe('files.retrieve, files.delete', () => {
  test('GET and DELETE /files/{id}, the id escaped, no body and no content-type', async () => {
    const { url, requests } = await start((req, res) =>
      req.method === 'DELETE'
        ? json(res, 200, { id: 'file/1', object: 'file', deleted: true })
        : json(res, 200, fileObject(3)),
    );
    const c = client(url);
    expect((await c.files.retrieve('file/1')).bytes).toBe(3);
    expect(await c.files.delete('file/1')).toEqual({ id: 'file/1', object: 'file', deleted: true });
    await c.close();
    expect(requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /v1/files/file%2F1',
      'DELETE /v1/files/file%2F1',
    ]);
    for (const request of requests) {
      expect(request.bytes).toBe(0);
      expect(request.headers['content-type']).toBeUndefined();
    }
  });

  test.each([[''], [undefined], [42]])('an id of %j is refused before any request', async (id) => {
    const { url, requests } = await start((_req, res) => json(res, 200, {}));
    const c = client(url);
    await expect(c.files.retrieve(id as string)).rejects.toThrow(
      /Invalid files\.retrieve arguments: `fileId` must be a non-empty string/,
    );
    await c.close();
    expect(requests).toHaveLength(0);
  });

  test('a 401 that echoes the key leaves it out of the error, its JSON and inspect', async () => {
    const { url } = await start((_req, res) =>
      json(res, 401, { error: { message: `Incorrect API key provided: ${KEY}`, code: 'invalid_api_key' } }),
    );
    const c = client(url);
    const error = await c.files.retrieve('file-1').catch((e: unknown) => e);
    await c.close();
    expect(error).toBeInstanceOf(AuthenticationError);
    for (const text of [(error as Error).message, JSON.stringify(error), inspect(error, { depth: 5 })]) {
      expect(text).not.toContain(KEY);
      expect(text).not.toContain(KEY.slice(3));
    }
  });
});

test('the log of a files request (debug, retries, failure) names the path, never the key or URL credentials', async () => {
  const { url } = await start((_req, res) => json(res, 500, { error: { message: `bad key ${KEY}` } }));
  const lines: string[] = [];
  const record = (...args: unknown[]) => void lines.push(JSON.stringify(args));
  const c = new EmbeddingsClient({
    baseURL: url.replace('http://', `http://user:${KEY}@`),
    apiKey: KEY,
    maxRetries: 1,
    logLevel: 'debug',
    logger: { debug: record, info: record, warn: record, error: record },
  });
  await expect(c.files.retrieve('file-1')).rejects.toBeInstanceOf(InternalServerError);
  await c.close();
  expect(lines.length).toBeGreaterThanOrEqual(4);
  expect(lines.join('\n')).toContain('/v1/files/file-1');
  expect(lines.join('\n')).toContain('retrying GET');
  for (const line of lines) expect(line).not.toContain(KEY);
});

describe('files.content', () => {
  test('streams the bytes as they arrive, decoded from gzip', async () => {
    const content = Buffer.from('{"a":1}\n'.repeat(10_000));
    const gz = gzipSync(content);
    const { url, requests } = await start((_req, res) => {
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': String(gz.length) });
      res.end(gz);
    });
    const c = client(url);
    const chunks: Buffer[] = [];
    for await (const chunk of await c.files.content('file-1')) chunks.push(chunk as Buffer);
    await c.close();
    expect(Buffer.concat(chunks).equals(content)).toBe(true);
    expect(requests[0]!.url).toBe('/v1/files/file-1/content');
  });

  test('an error status rejects the call itself, with its class', async () => {
    const { url } = await start((_req, res) => json(res, 404, { error: { message: 'No such File object: x' } }));
    const c = client(url);
    await expect(c.files.content('x')).rejects.toBeInstanceOf(NotFoundError);
    await c.close();
  });

  test.each([
    ['with a content-length', true],
    ['chunked', false],
  ])('a download cut short (%s) fails the stream with APIConnectionError, never a short file', async (_, length) => {
    const { url } = await start((_req, res) => {
      res.writeHead(200, length ? { 'content-length': '100000' } : {});
      res.write(Buffer.alloc(5000, 0x61));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const c = client(url);
    const stream = await c.files.content('file-1');
    let received = 0;
    const error = await (async () => {
      for await (const chunk of stream) received += (chunk as Buffer).length;
    })().catch((e: unknown) => e);
    await c.close();
    expect(error).toBeInstanceOf(APIConnectionError);
    expect((error as Error).message).toMatch(
      /GET http:\/\/127\.0\.0\.1:\d+\/v1\/files\/file-1\/content: the download was cut short/,
    );
    expect(received).toBe(5000);
  });

  test('a body silent for longer than `timeout` fails the stream with APITimeoutError', async () => {
    const { url } = await start((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('abc');
    });
    const c = client(url, { timeout: 300 });
    const stream = await c.files.content('file-1');
    const error = await (async () => {
      for await (const chunk of stream) void chunk;
    })().catch((e: unknown) => e);
    await c.close();
    expect(error).toBeInstanceOf(APITimeoutError);
  });

  test("an abort while reading fails the stream with APIUserAbortError, the signal's reason as cause", async () => {
    const { url } = await start((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('abc');
    });
    const c = client(url);
    const controller = new AbortController();
    const stream = await c.files.content('file-1', { signal: controller.signal });
    const reading = (async () => {
      for await (const chunk of stream) {
        void chunk;
        controller.abort('stop');
      }
    })().catch((e: unknown) => e);
    const error = await reading;
    await c.close();
    expect(error).toBeInstanceOf(APIUserAbortError);
    expect((error as Error).cause).toBe('stop');
  });

  test('a 1 GiB download is read in bounded memory', async () => {
    const MiB = 1024 * 1024;
    const total = 1024;
    const { url } = await start((_req, res) => {
      res.writeHead(200, { 'content-length': String(total * MiB) });
      let sent = 0;
      const more = () => {
        while (sent < total) {
          sent++;
          if (!res.write(Buffer.alloc(MiB, sent % 251))) return void res.once('drain', more);
        }
        res.end();
      };
      more();
    });
    const c = client(url);
    const base = liveArrayBuffers();
    let peak = 0;
    let received = 0;
    let reads = 0;
    for await (const chunk of await c.files.content('file-1')) {
      received += (chunk as Buffer).length;
      if (++reads % 1024 === 0) peak = Math.max(peak, liveArrayBuffers() - base);
    }
    await c.close();
    expect(received).toBe(total * MiB);
    console.log('PEAKDOWN', peak / MiB);
    expect(peak).toBeLessThan(128 * MiB);
  }, 120_000);
});
