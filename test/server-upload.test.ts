/**
 * Oversized uploads at the wire: the real client (undici) against the real local server. The
 * server answers 413 only once it has read the rest of the body, so the client always gets the
 * answer rather than a reset connection, and never retries the upload; an upload that goes on
 * past the drain bound is cut off instead of holding the server. The client runs in another
 * process than the server, as a user's does: in one process the race rarely shows.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { APIConnectionError, APIError, EmbeddingsClient } from '../src/index.js';
import { createServer, SERVER_DEFAULTS, type LocalServer } from '../src/server/index.js';
import { DRAIN_FACTOR } from '../src/server/http.js';
import { buildCli } from './support/cli-helpers.js';

describe('a body over maxBodyBytes, sent by the client to `embedrail serve` in its own process', () => {
  let child: ChildProcess;
  let url: string;

  beforeAll(async () => {
    child = spawn(process.execPath, [await buildCli(), 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    url = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const found = /http:\/\/127\.0\.0\.1:\d+\/v1/.exec(out);
        if (found) resolve(found[0]);
      });
      child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
    });
  });
  afterAll(() => {
    child?.kill();
  });

  test.each([
    ['a little over the limit', 20, SERVER_DEFAULTS.maxBodyBytes + 512 * 1024],
    ['nearly the drain bound', 4, DRAIN_FACTOR * SERVER_DEFAULTS.maxBodyBytes - 1024 * 1024],
  ])(
    '%s: %i uploads give as many 413 answers, each sent once, never a connection error',
    async (_case, tries, size) => {
      let sent = 0;
      const agent = new Agent().compose((dispatch) => (options, handler) => {
        sent++;
        return dispatch(options, handler);
      });
      const client = new EmbeddingsClient({ baseURL: url, maxRetries: 2, dispatcher: agent });
      const input = 'x'.repeat(size);
      const outcomes: unknown[] = [];
      for (let i = 0; i < tries; i++) {
        const error = await client.embeddings.create({ model: 'm', input }).catch((e: unknown) => e);
        outcomes.push(error instanceof APIError ? `${error.status} ${error.code}` : error);
        expect(error).not.toBeInstanceOf(APIConnectionError);
      }
      expect(outcomes).toEqual(Array(tries).fill('413 request_too_large'));
      // 413 is not retried: one request per upload went on the wire.
      expect(sent).toBe(tries);
      await agent.close();
    },
    120_000,
  );
});

describe('an upload past the drain bound', () => {
  const LIMIT = 256 * 1024;
  let server: LocalServer;
  let url: string;
  beforeAll(async () => {
    server = createServer({ maxBodyBytes: LIMIT });
    ({ url } = await server.listen(0));
  });
  afterAll(() => server.close());

  test('an endless upload is cut off once the drain bound is passed, and the server serves on', async () => {
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
    socket.write(
      'POST /v1/embeddings HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n',
    );
    const chunk = Buffer.alloc(64 * 1024, 97);
    const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
    let sent = 0;
    let open = true;
    void closed.then(() => (open = false));
    // Bounded: a server that never cuts it off fails here after 40 × the limit.
    while (open && !socket.destroyed && sent < 40 * LIMIT) {
      if (!socket.write(frame)) {
        await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), closed]);
      }
      sent += frame.length;
    }
    socket.destroy();
    await closed;
    expect(sent).toBeLessThan(40 * LIMIT);
    if (answer !== '') expect(answer).toMatch(/^HTTP\/1\.1 413 /);

    const client = new EmbeddingsClient({ baseURL: url, maxRetries: 0 });
    const res = await client.embeddings.create({ model: 'm', input: 'still serving' });
    expect(res.data).toHaveLength(1);
    await client.close();
  }, 60_000);
});
