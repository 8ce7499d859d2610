/**
 * A `redis-server` of the test's own: on a free loopback port, no persistence, stopped by the
 * test (and killed with the test process if the test dies). `.ci/run` installs Redis when it is
 * missing; on a machine without it, `redisUnavailable` says why and the tests that need it skip
 * with that reason (see `describeWithRedis`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { describe } from 'vitest';

const REDIS_BIN = process.env['REDIS_SERVER'] ?? 'redis-server';

/** Why Redis tests cannot run here, or undefined when `redis-server` answers `--version`. */
export const redisUnavailable: string | undefined = (() => {
  const probe = spawnSync(REDIS_BIN, ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    return `\`${REDIS_BIN}\` was not found (install Debian's redis-server, or set REDIS_SERVER to its path)`;
  }
  return undefined;
})();

/** `describe` that skips, with the reason in its name, when Redis is not installed. */
export function describeWithRedis(name: string, body: () => void): void {
  if (redisUnavailable === undefined) describe(name, body);
  else describe.skip(`${name} (skipped: ${redisUnavailable})`, body);
}

export interface RedisProcess {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** Stops it (SIGTERM, then SIGKILL after 2 s); resolves once it has exited. */
  stop(): Promise<void>;
  /** Kills it at once (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  /** Starts it again on the same port after `stop()` or `kill()`, with empty memory. */
  restart(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

function launch(port: number): Promise<ChildProcess> {
  const child = spawn(
    REDIS_BIN,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      '--protected-mode',
      'yes',
      '--loglevel',
      'warning',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 10_000;
    const poll = (): void => {
      if (child.exitCode !== null) {
        reject(new Error(`redis-server exited with ${String(child.exitCode)}: ${output}`));
        return;
      }
      answersPing(port).then(
        (ready) => {
          if (ready) resolve(child);
          else if (Date.now() > deadline) {
            child.kill('SIGKILL');
            reject(new Error(`redis-server did not answer on port ${port}: ${output}`));
          } else setTimeout(poll, 20);
        },
        (error: unknown) => reject(error instanceof Error ? error : new Error(String(error))),
      );
    };
    poll();
  });
}

/** True once the server answers PING with +PONG. */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    socket.setTimeout(500);
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) {
        socket.destroy();
        resolve(reply.startsWith('+PONG'));
      }
    });
    socket.on('error', () => resolve(false));
    socket.on('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Starts a `redis-server` on a free loopback port. Stop it in `afterAll`/`afterEach`. */
export async function startRedis(): Promise<RedisProcess> {
  if (redisUnavailable !== undefined) throw new Error(redisUnavailable);
  const port = await freePort();
  let child: ChildProcess | undefined = await launch(port);
  const reap = (): void => void child?.kill('SIGKILL');
  process.once('exit', reap);
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    const running = child;
    child = undefined;
    if (running === undefined) return;
    const done = exited(running);
    running.kill(signal);
    const force = setTimeout(() => running.kill('SIGKILL'), 2_000);
    await done;
    clearTimeout(force);
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      await end('SIGTERM');
      process.removeListener('exit', reap);
    },
    kill: () => end('SIGKILL'),
    restart: async () => {
      await end('SIGTERM');
      child = await launch(port);
    },
  };
}
