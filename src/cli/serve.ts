import { SERVER_DEFAULTS, createServer, type RateLimitHeaderStyle, type ServerStyleName } from '../server/index.js';
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
  burstSeconds: number;
  /** Unset: the style's. */
  headerStyle?: RateLimitHeaderStyle;
  style: ServerStyleName;
  /** Unset: the style's cap. */
  maxInputsPerRequest?: number;
  failRate: number;
  seed: number;
  maxFileBytes: number;
  maxStoredBytes: number;
  batchProcessingMs: number;
  batchShuffle: boolean;
  batchFailRate: number;
  batchRejectRate: number;
  batchMissingRate: number;
  batchExpireRate: number;
  /** Unset: no cap. */
  batchQueueCap?: number;
}

/**
 * The warning `serve` prints for a `--host` other machines can reach; none for loopback
 * (127.0.0.0/8, ::1, localhost).
 */
export function exposureWarning(host: string): string | undefined {
  const loopback = host === 'localhost' || host === '::1' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/i.test(host);
  return loopback
    ? undefined
    : `embedrail: warning: listening on ${host}, reachable from other machines, with no authentication`;
}

/**
 * createServer's refusal in the words of the command line: each flag alone is checked by its
 * parser, but a rule between two (`--burst-seconds` too short to hold one request at `--rpm`)
 * is createServer's, which names its options, `burstSeconds` for `--burst-seconds`.
 */
export function asFlags(message: string): string {
  return message
    .replace(/^Invalid createServer options: /, '')
    .replace(/`([a-z][A-Za-z]*)`/g, (_, name: string) => `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
}

/** How often `serve` checks that the process that started it is still there. @unit ms */
export const PARENT_CHECK_MS = 500;

/**
 * Resolves once process `pid` has gone (checked every {@link PARENT_CHECK_MS}), never for pid
 * 0 or 1 (started by init, a container or a service manager, whose end is the machine's).
 * `npx embedrail serve &` runs the server as npx's grandchild, through `sh -c`; `kill` of the
 * PID the shell reports ends npx and the `sh`, but nothing passes the signal on to the server,
 * which would keep the port. Noticing that its parent is gone stops it instead.
 */
export function parentGone(pid: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (pid <= 1) return;
    const timer = setInterval(() => {
      try {
        process.kill(pid, 0);
      } catch (error) {
        // EPERM: it exists but belongs to someone else, so it has not gone.
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') return;
        clearInterval(timer);
        resolve();
      }
    }, PARENT_CHECK_MS);
    // The listening server keeps the process alive, not this check.
    timer.unref();
    signal?.addEventListener('abort', () => clearInterval(timer), { once: true });
  });
}

/**
 * `embedrail serve`: the local OpenAI-compatible server until SIGINT or SIGTERM (`io.signal`)
 * or until the process that started it ends, then a clean close: open connections ended, the
 * port released, exit code 0.
 */
export async function serve(flags: ServeFlags, io: CliIo): Promise<number> {
  let server: ReturnType<typeof createServer>;
  try {
    server = createServer({
      dimensions: flags.dimensions,
      latency: flags.latency,
      rpm: flags.rpm,
      tpm: flags.tpm,
      burstSeconds: flags.burstSeconds,
      headerStyle: flags.headerStyle,
      style: flags.style,
      maxInputsPerRequest: flags.maxInputsPerRequest,
      failRate: flags.failRate,
      seed: flags.seed,
      maxFileBytes: flags.maxFileBytes,
      maxStoredBytes: flags.maxStoredBytes,
      batchProcessingMs: flags.batchProcessingMs,
      batchShuffle: flags.batchShuffle,
      batchFailRate: flags.batchFailRate,
      batchRejectRate: flags.batchRejectRate,
      batchMissingRate: flags.batchMissingRate,
      batchExpireRate: flags.batchExpireRate,
      batchQueueCap: flags.batchQueueCap,
    });
  } catch (error) {
    throw new UsageError(asFlags(oneLine(error)));
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
  const as = flags.style === SERVER_DEFAULTS.style ? '' : ` as ${flags.style}`;
  io.stdout.write(`embedrail: serving ${SERVER_DEFAULTS.model}${as} at ${url} (Ctrl+C to stop)\n`);
  io.stdout.write(`embedrail: export EMBEDRAIL_BASE_URL=${url}\n`);
  const watch = new AbortController();
  const orphaned = await new Promise<boolean>((resolve) => {
    if (!io.signal || io.signal.aborted) return resolve(false);
    io.signal.addEventListener('abort', () => resolve(false), { once: true });
    void parentGone(process.ppid, watch.signal).then(() => resolve(true));
  });
  watch.abort();
  await server.close();
  if (orphaned) {
    // The parent may have been the one reading our output: a closed pipe is no failure here.
    io.stdout.on('error', () => {});
    io.stdout.write('embedrail: the process that started the server has ended; server stopped\n');
  } else {
    io.stdout.write('embedrail: server stopped\n');
  }
  return EXIT.ok;
}
