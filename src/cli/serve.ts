import { SERVER_DEFAULTS, createServer } from '../server/index.js';
import type { CliIo } from './io.js';
import { EXIT, UsageError, oneLine } from './io.js';

/** The flags of `embedrail serve`, parsed. */
export interface ServeFlags {
  port: number;
  host: string;
  dimensions: number;
  latency: number;
  rpm?: number;
  tpm?: number;
  failRate: number;
  seed: number;
}

/**
 * The warning `serve` prints for a `--host` other machines can reach; none for loopback
 * (127.0.0.0/8, ::1, localhost).
 */
export function exposureWarning(host: string): string | undefined {
  const loopback = host === 'localhost' || host === '::1' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/i.test(host);
  return loopback ? undefined : `embedrail: warning: listening on ${host}, reachable from other machines, with no authentication`;
}

/**
 * `embedrail serve`: the local OpenAI-compatible server until SIGINT or SIGTERM (`io.signal`),
 * then a clean close: open connections ended, the port released, exit code 0.
 */
export async function serve(flags: ServeFlags, io: CliIo): Promise<number> {
  let server: ReturnType<typeof createServer>;
  try {
    server = createServer({
      dimensions: flags.dimensions,
      latency: flags.latency,
      rpm: flags.rpm,
      tpm: flags.tpm,
      failRate: flags.failRate,
      seed: flags.seed,
    });
  } catch (error) {
    throw new UsageError(oneLine(error));
  }
  let url: string;
  try {
    ({ url } = await server.listen(flags.port, flags.host));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot listen on ${flags.host}:${flags.port}: ${code ?? oneLine(error)}`);
  }
  const warning = exposureWarning(flags.host);
  if (warning) io.stderr.write(`${warning}\n`);
  io.stdout.write(`embedrail: serving ${SERVER_DEFAULTS.model} at ${url} (Ctrl+C to stop)\n`);
  io.stdout.write(`embedrail: export EMBEDRAIL_BASE_URL=${url}\n`);
  await new Promise<void>((resolve) => {
    if (!io.signal || io.signal.aborted) return resolve();
    io.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await server.close();
  io.stdout.write('embedrail: server stopped\n');
  return EXIT.ok;
}
