// A redis-server of a benchmark's own: on a free loopback port, no persistence, killed with the
// benchmark's process. `redisMissing()` says why the Redis benchmarks cannot run here.
import { spawn, spawnSync } from 'node:child_process';
import { connect, createServer } from 'node:net';

export const REDIS_BIN = process.env.REDIS_SERVER ?? 'redis-server';

/** Why no redis-server can be started here, or undefined when one can. */
export function redisMissing() {
  const probe = spawnSync(REDIS_BIN, ['--version']);
  if (probe.error === undefined && probe.status === 0) return undefined;
  return `\`${REDIS_BIN}\` was not found (install Debian's redis-server, or set REDIS_SERVER to its path)`;
}

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function answersPing(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(500);
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      socket.destroy();
      resolve(chunk.toString().startsWith('+PONG'));
    });
    socket.on('error', () => resolve(false));
    socket.on('timeout', () => (socket.destroy(), resolve(false)));
  });
}

/**
 * Starts a redis-server; `kill()` ends it at once (SIGKILL), `launch()` starts it again on the
 * same port with empty memory, `stop()` ends it (SIGTERM).
 */
export async function startRedis() {
  const port = await freePort();
  let child;
  const launch = async () => {
    child = spawn(
      REDIS_BIN,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'],
      { stdio: 'ignore' },
    );
    // Bounded: a redis-server that exits (a port taken, a bad flag) must fail the bench, not hang it.
    const deadline = Date.now() + 10_000;
    while (!(await answersPing(port))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`redis-server on port ${port} did not answer (exit code ${child.exitCode})`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const end = (signal) =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', resolve);
      child.kill(signal);
    });
  await launch();
  process.once('exit', () => child.kill('SIGKILL'));
  return { port, url: `redis://127.0.0.1:${port}`, kill: () => end('SIGKILL'), launch, stop: () => end('SIGTERM') };
}
