import { Readable } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { runCli } from '../src/cli/program.js';
import { exposureWarning } from '../src/cli/serve.js';
import { capture } from './cli-helpers.js';

describe('serve', () => {
  test.each([
    ['127.0.0.1', true],
    ['127.0.0.2', true],
    ['127.255.0.9', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['localhost', true],
    ['0.0.0.0', false],
    ['::', false],
    ['192.168.1.10', false],
    ['127.example.com', false],
  ])('warns that --host %s exposes the server unless it is loopback (loopback: %s)', (host, loopback) => {
    expect(exposureWarning(host)).toBe(
      loopback ? undefined : `embedrail: warning: listening on ${host}, reachable from other machines, with no authentication`,
    );
  });

  test('on another loopback address it serves without the exposure warning and stops on abort with exit 0', async () => {
    const stdout = capture();
    const stderr = capture();
    const controller = new AbortController();
    const running = runCli(['serve', '--port', '0', '--host', '127.0.0.2'], {
      stdin: Readable.from([]),
      stdout: stdout.stream,
      stderr: stderr.stream,
      signal: controller.signal,
    });
    for (let i = 0; i < 200 && !stdout.text.includes('/v1'); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    const url = /http:\/\/127\.0\.0\.2:\d+\/v1/.exec(stdout.text)?.[0];
    expect(url).toBeDefined();
    const res = await fetch(`${url}/models`);
    expect(res.status).toBe(200);
    controller.abort();
    expect(await running).toBe(0);
    expect(stderr.text).toBe('');
    expect(stdout.text).toContain('server stopped');
  });
});
