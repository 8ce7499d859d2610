/**
 * Drives a client rate limiter against the local server's limit emulation on virtual time:
 * jobs of concurrent workers acquire a turn, the server admits or refuses the request when it
 * arrives, the answer comes back after a latency, and refused requests are retried until they
 * pass. No socket and no real time: a run of minutes takes milliseconds and is deterministic.
 */
import type { RateLimitClock } from '../../src/rate-limit/clock.js';
import type { RateLimitBelief, RateLimiter, RateLimitSnapshot } from '../../src/rate-limit/types.js';
import { OpenAIError } from '../../src/server/http.js';
import { RateLimiter as ServerLimits, type ServerRateLimits } from '../../src/server/rate-limit.js';

/** A clock whose time moves only from one timer to the next, once every promise has settled. */
export class VirtualClock implements RateLimitClock {
  private time = 0;
  private nextId = 0;
  private timers: { id: number; at: number; callback: () => void }[] = [];

  now = (): number => this.time;

  setTimeout = (callback: () => void, ms: number): unknown => {
    const timer = { id: this.nextId++, at: this.time + Math.max(0, ms), callback };
    // Sorted by time, then by creation: equal times fire in the order they were set.
    let at = this.timers.length;
    while (at > 0 && this.timers[at - 1]!.at > timer.at) at--;
    this.timers.splice(at, 0, timer);
    return timer.id;
  };

  clearTimeout = (handle: unknown): void => {
    this.timers = this.timers.filter((t) => t.id !== handle);
  };

  /** Moves time on by `ms`, firing the timers due on the way, each once every promise has settled. */
  async advance(ms: number): Promise<void> {
    const until = this.time + ms;
    for (;;) {
      await settle();
      const timer = this.timers[0];
      if (timer === undefined || timer.at > until) break;
      this.timers.shift();
      this.time = Math.max(this.time, timer.at);
      timer.callback();
    }
    this.time = until;
    await settle();
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimeout(resolve, ms));
  }

  /** Fires timers in order until `done` settles; throws if it waits with no timer left. */
  async runUntil<T>(done: Promise<T>, maxTimers = 1_000_000): Promise<T> {
    let settled = false;
    done.then(
      () => (settled = true),
      () => (settled = true),
    );
    for (let fired = 0; ; fired++) {
      await settle();
      if (settled) return done;
      const timer = this.timers.shift();
      if (timer === undefined) throw new Error(`stalled at ${this.time} ms: nothing left to wait for`);
      if (fired >= maxTimers) throw new Error(`over ${maxTimers} timers fired`);
      this.time = Math.max(this.time, timer.at);
      timer.callback();
    }
  }
}

/** setImmediate runs once every pending promise callback has. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export interface SimulatedJob {
  /** Token count of each request, in the order the job sends them. */
  requests: number[];
  /** Requests the job keeps in flight at most, as createMany's maxConcurrency. */
  concurrency: number;
}

export interface SimulationOptions {
  server: ServerRateLimits;
  jobs: SimulatedJob[];
  /** Milliseconds from a request's start to its answer: the server admits it `oneWayMs` after it starts. */
  latencyMs: (n: number) => number;
  /** A number, or one per attempt as `latencyMs` (the upload and the server's counting vary). */
  oneWayMs?: number | ((n: number) => number);
  /** Builds the limiter under test on the simulation's clock. */
  limiter: (clock: VirtualClock) => RateLimiter;
}

export interface SimulationResult {
  elapsedMs: number;
  /** What the limits allow at best: (sent − one burst) ÷ the refill rate, of the binding budget. */
  minimumMs: number;
  attempts: number;
  refused: number;
  /** What the limiter believed at the end. */
  snapshot: RateLimitSnapshot | undefined;
}

export async function simulate(options: SimulationOptions): Promise<SimulationResult> {
  const clock = new VirtualClock();
  const server = new ServerLimits(options.server, clock.now, 'm');
  const limiter = options.limiter(clock);
  let attempts = 0;
  let refused = 0;
  let latest = 0;

  const send = async (tokens: number) => {
    const n = attempts++;
    const oneWay = typeof options.oneWayMs === 'function' ? options.oneWayMs(n) : (options.oneWayMs ?? 0);
    await clock.sleep(oneWay);
    let answer: { status: number; headers: Record<string, string> };
    try {
      answer = { status: 200, headers: server.admit(tokens).headers };
    } catch (error) {
      if (!(error instanceof OpenAIError)) throw error;
      answer = { status: error.status, headers: error.headers };
    }
    await clock.sleep(Math.max(0, options.latencyMs(n) - oneWay));
    return answer;
  };

  const runJob = async (job: SimulatedJob, index: number) => {
    let next = 0;
    const worker = async () => {
      while (next < job.requests.length) {
        const at = next++;
        const tokens = job.requests[at]!;
        for (let attempt = 0; ; attempt++) {
          if (attempt > 100) throw new Error(`request ${index}/${at} refused over 100 times`);
          const grant = await limiter.acquire({ tokens });
          const answer = await send(tokens);
          grant.complete(answer);
          if (answer.status === 200) {
            latest = clock.now();
            break;
          }
          refused++;
          if (answer.headers['x-should-retry'] === 'false') throw new Error(`request ${index}/${at} can never pass`);
        }
      }
    };
    await Promise.all(Array.from({ length: job.concurrency }, worker));
  };

  await clock.runUntil(Promise.all(options.jobs.map(runJob)));
  return {
    elapsedMs: latest,
    minimumMs: minimumMs(options),
    attempts,
    refused,
    snapshot: limiter.snapshot?.(),
  };
}

function minimumMs({ server, jobs }: SimulationOptions): number {
  const burst = (server.burstSeconds ?? 60) / 60;
  const all = jobs.flatMap((job) => job.requests);
  const bound = (perMinute: number | undefined, total: number) =>
    perMinute === undefined ? 0 : (Math.max(0, total - perMinute * burst) * 60_000) / perMinute;
  return Math.max(
    bound(server.rpm, all.length),
    bound(
      server.tpm,
      all.reduce((sum, n) => sum + n, 0),
    ),
  );
}

/** A belief about a budget: what `perMinute` says, nothing else known. */
export function beliefOf(perMinute?: number): RateLimitBelief {
  const source = perMinute === undefined ? undefined : 'header';
  return { perMinute, source, burst: perMinute, available: perMinute };
}

/** A limiter's snapshot at rest (nothing in flight or waiting), with the beliefs a test gives it. */
export function restingSnapshot(beliefs: Partial<RateLimitSnapshot> = {}): RateLimitSnapshot {
  return {
    requests: beliefOf(),
    tokens: beliefOf(),
    headerStyle: 'unknown',
    concurrency: undefined,
    inFlight: 0,
    waiting: 0,
    waitingUntil: undefined,
    waitReason: undefined,
    rateLimited: 0,
    ...beliefs,
  };
}
