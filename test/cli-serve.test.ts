import { spawn } from 'node:child_process';
import { beforeAll, describe, expect, test } from 'vitest';
import { exposureWarning } from '../src/cli/serve.js';
import { buildCli, serving } from './support/cli-helpers.js';

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
      loopback
        ? undefined
        : `embedrail: warning: listening on ${host}, reachable from other machines, with no authentication`,
    );
  });

  test('on another loopback address it serves without the exposure warning and stops on abort with exit 0', async () => {
    const printed = await serving(['--host', '127.0.0.2'], async (url) => {
      expect(url).toMatch(/^http:\/\/127\.0\.0\.2:\d+\/v1$/);
      const res = await fetch(`${url}/models`);
      expect(res.status).toBe(200);
    });
    expect(printed.stderr).toBe('');
    expect(printed.stdout).toContain('server stopped');
  });
});

describe('serve --burst-seconds and --header-style', () => {
  async function post(url: string) {
    const res = await fetch(`${url}/embeddings`, {
      method: 'POST',
      body: JSON.stringify({ model: 'm', input: 'x', dimensions: 4 }),
    });
    await res.arrayBuffer();
    const headers = Object.fromEntries(
      [...res.headers].filter(([name]) => name.startsWith('x-ratelimit-') || name.startsWith('retry-after')),
    );
    return { status: res.status, headers };
  }

  test('--burst-seconds 1 makes 600 rpm a bucket of 10 while the headers still say 600 a minute', async () => {
    await serving(['--rpm', '600', '--burst-seconds', '1'], async (url) => {
      const first = await post(url);
      expect(first.status).toBe(200);
      expect(first.headers).toMatchObject({
        'x-ratelimit-limit-requests': '600',
        'x-ratelimit-remaining-requests': '9',
      });
    });
  });

  // One request a minute: the second, a moment after the first, is refused whatever the machine's pace.
  test.each([
    [
      'openai',
      [
        'x-ratelimit-limit-requests',
        'x-ratelimit-remaining-requests',
        'x-ratelimit-reset-requests',
        'retry-after',
        'retry-after-ms',
      ],
    ],
    ['azure', ['x-ratelimit-remaining-requests', 'retry-after-ms']],
    ['none', ['retry-after']],
  ])("--header-style %s: a 429 carries that style's headers and no other", async (style, names) => {
    await serving(['--rpm', '1', '--header-style', style], async (url) => {
      expect((await post(url)).status).toBe(200);
      const refused = await post(url);
      expect(refused.status).toBe(429);
      expect(Object.keys(refused.headers).sort()).toEqual([...names].sort());
      if (refused.headers['retry-after'] !== undefined) expect(refused.headers['retry-after']).toBe('60');
      if (refused.headers['retry-after-ms'] !== undefined) {
        expect(Number(refused.headers['retry-after-ms'])).toBeGreaterThan(50_000);
      }
    });
  });
});

describe('serve stops when the process that started it ends', () => {
  /**
   * A parent that starts `embedrail serve` and passes on its output, as npx (through `sh -c`)
   * does, but passes no signal on: killing the parent leaves the server to notice by itself.
   */
  const PARENT = `
    const { spawn } = require('node:child_process');
    const child = spawn(process.execPath, [process.argv[1], 'serve', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.on('data', (chunk) => process.stdout.write(chunk));
    process.stdout.write('child ' + child.pid + '\\n');
  `;

  let cli: string;
  beforeAll(async () => {
    cli = await buildCli();
  }, 120_000);

  test.each(['SIGTERM', 'SIGKILL'] as const)(
    'parent ended by %s: the port stops answering and the server exits',
    async (signal) => {
      const parent = spawn(process.execPath, ['-e', PARENT, cli], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      parent.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      for (let i = 0; i < 600 && !/\/v1\n/.test(out); i++) await new Promise((resolve) => setTimeout(resolve, 50));
      const url = /http:\/\/127\.0\.0\.1:\d+\/v1/.exec(out)?.[0];
      const childPid = Number(/child (\d+)/.exec(out)?.[1]);
      expect(url).toBeDefined();
      expect((await fetch(`${url}/models`)).status).toBe(200);

      const exited = new Promise((resolve) => parent.once('exit', resolve));
      parent.kill(signal);
      await exited;

      // Bounded wait: the server checks for its parent every PARENT_CHECK_MS.
      let answering = true;
      let alive = true;
      try {
        for (let i = 0; i < 200 && answering; i++) {
          answering = await fetch(`${url}/models`, { signal: AbortSignal.timeout(2_000) }).then(
            () => true,
            () => false,
          );
          if (answering) await new Promise((resolve) => setTimeout(resolve, 100));
        }
        for (let i = 0; i < 200 && alive; i++) {
          try {
            process.kill(childPid, 0);
            await new Promise((resolve) => setTimeout(resolve, 50));
          } catch {
            alive = false;
          }
        }
      } finally {
        if (alive) process.kill(childPid, 'SIGKILL');
      }
      expect(answering).toBe(false);
      expect(alive).toBe(false);
    },
    60_000,
  );
});
