import cliProgress from 'cli-progress';
import type { RateLimitSnapshot } from '../index.js';
import type { CliIo } from './io.js';

/** What the progress line shows of the client's rate limiter: whether the job waits, until when and why. */
export type RateLimitWaitView = Pick<RateLimitSnapshot, 'waitingUntil' | 'waitReason'>;

/** Counters of one `embed` run, updated as results arrive and read by the display. */
export interface RunStats {
  /** Inputs in the whole input, when known (not for stdin). */
  total: number | undefined;
  /** Inputs already in the output before this run (resume). */
  resumed: number;
  embedded: number;
  failed: number;
  /** The batch engine's counters for this run. */
  tokens: number;
  requests: number;
  retries: number;
  rateLimited: number;
  /** What the rate limiter last reported, if it reports anything. */
  rateLimit: RateLimitWaitView | undefined;
  /** `Date.now()` when the run started. */
  startedAt: number;
}

export function newStats(now = Date.now()): RunStats {
  return {
    total: undefined,
    resumed: 0,
    embedded: 0,
    failed: 0,
    tokens: 0,
    requests: 0,
    retries: 0,
    rateLimited: 0,
    rateLimit: undefined,
    startedAt: now,
  };
}

/** The progress bar's width in characters, on a terminal wide enough for it. */
const BAR_WIDTH = 20;
/** Below this many characters a bar shows too little to be worth its room. */
const MIN_BAR_WIDTH = 8;

/** How often a plain progress line is printed when stderr is not a terminal. @unit ms */
export const PLAIN_INTERVAL_MS = 5000;

/**
 * Progress on stderr: a cli-progress bar on a terminal; otherwise (a log file, CI) one plain
 * line every {@link PLAIN_INTERVAL_MS}, which logs can keep, where a redrawn bar would be noise.
 */
export class ProgressDisplay {
  private bar: cliProgress.SingleBar | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The end of the last wait a plain line announced, so each is announced once. */
  private announced: number | undefined;

  constructor(
    private readonly stats: RunStats,
    private readonly stderr: CliIo['stderr'],
  ) {}

  start(): void {
    if (this.stderr.isTTY) {
      this.bar = new cliProgress.SingleBar({
        stream: this.stderr,
        // Laid out afresh at every redraw for the terminal's width then, which may change.
        format: (_options, params) => this.ttyLine(params.maxWidth),
        hideCursor: true,
        fps: 5,
      });
      this.bar.start(this.stats.total ?? 0, this.done());
    } else {
      this.timer = setInterval(() => this.stderr.write(`${this.line()}\n`), PLAIN_INTERVAL_MS);
      this.timer.unref();
    }
  }

  /**
   * Call after the counters change; cheap, the bar redraws at most five times a second. Without
   * a bar, a wait on a rate limit longer than the plain line's interval is printed as it starts:
   * a log would otherwise show the job silent for that long, or miss a wait that ends between
   * two lines.
   */
  update(now = Date.now()): void {
    if (this.bar) return this.bar.update(this.done());
    const until = rateLimitWait(this.stats, now)?.until;
    if (this.timer && until !== undefined && until !== this.announced && until - now >= PLAIN_INTERVAL_MS) {
      this.announced = until;
      this.stderr.write(`${this.line(now)}\n`);
    }
  }

  /** Stops the bar or the timer and prints the summary line, when given the file names. */
  stop(files: { out: string; failures: string } | undefined): void {
    if (this.bar) {
      this.bar.update(this.done());
      this.bar.stop();
    }
    clearInterval(this.timer);
    if (files) this.stderr.write(`${summary(this.stats, files)}\n`);
  }

  /** The plain progress line. */
  line(now = Date.now()): string {
    const s = this.stats;
    const done = this.done();
    const parts = [
      s.total === undefined ? `${done} inputs` : `${done}/${s.total} inputs (${percent(done, s.total)})`,
      plural(s.tokens, 'token'),
      `${rate(s, now).toFixed(1)}/s`,
    ];
    if (s.total !== undefined) parts.push(`ETA ${duration(eta(s, now))}`);
    const wait = rateLimitWait(s, now);
    if (wait) parts.push(wait.text);
    parts.push(plural(s.retries, 'retry', 'retries'), `${s.rateLimited} × 429`, `${s.failed} failed`);
    return `embedrail: ${parts.join(' | ')}`;
  }

  private done(): number {
    return this.stats.resumed + this.stats.embedded + this.stats.failed;
  }

  /**
   * The bar's line for a terminal `columns` wide. A line longer than the terminal is cut at
   * its edge, which would take the ETA, retries and 429s with it; so, until it fits: the bar
   * shrinks, then goes, then tokens, then the rate, then labels and separators are shortened.
   * Done/total, ETA, a wait on a rate limit, retries, 429s and failures stay to the end.
   */
  ttyLine(columns: number, now = Date.now()): string {
    const s = this.stats;
    const done = this.done();
    const known = s.total !== undefined;
    const count = known ? `${done}/${s.total}` : `${done}`;
    const wait = rateLimitWait(s, now);
    const wide = [
      `${count} inputs`,
      plural(s.tokens, 'token'),
      `${rate(s, now).toFixed(1)}/s`,
      ...(known ? [`ETA ${duration(eta(s, now))}`] : []),
      ...(wait ? [wait.text] : []),
      plural(s.retries, 'retry', 'retries'),
      `${s.rateLimited} × 429`,
      `${s.failed} failed`,
    ];
    const text = wide.join(' | ');
    if (known) {
      const room = Math.min(BAR_WIDTH, columns - text.length - 1);
      if (room >= MIN_BAR_WIDTH) return `${bar(s.total === 0 ? 1 : done / s.total!, room)} ${text}`;
    }
    if (text.length <= columns) return text;
    const [counted, , speed, ...kept] = wide;
    const narrower = [
      [counted, speed, ...kept].join(' | '),
      [counted, ...kept].join(' | '),
      [count, ...kept].join(' | '),
      [count, ...kept.map((part) => (part === wait?.text ? wait.short : part))].join(' ').replace(' × 429', '×429'),
    ];
    // Past the narrowest, the terminal's edge cuts it: failures go first, the ETA last.
    return narrower.find((line) => line.length <= columns) ?? narrower.at(-1)!.slice(0, columns);
  }
}

function bar(share: number, width: number): string {
  const full = Math.round(Math.min(1, Math.max(0, share)) * width);
  return '\u2588'.repeat(full) + '\u2591'.repeat(width - full);
}

/** Inputs finished per second in this run (resumed ones were not this run's work). */
function rate(s: RunStats, now: number): number {
  const seconds = (now - s.startedAt) / 1000;
  return seconds > 0 ? (s.embedded + s.failed) / seconds : 0;
}

/** The reasons that are waits on the server's limits, as the line words them. */
const WAIT_REASONS: Partial<Record<NonNullable<RateLimitWaitView['waitReason']>, string>> = {
  'rate-limit': 'on rate limit',
  '429': 'on rate limit (429)',
};

/**
 * The wait on a rate limit in progress, if any: `waiting 12.0s on rate limit (429)`, and a
 * shorter form for a narrow terminal. Slow start and queueing behind other requests are not
 * shown: requests are moving then.
 */
function rateLimitWait(s: RunStats, now: number): { until: number; text: string; short: string } | undefined {
  const until = s.rateLimit?.waitingUntil;
  const reason = s.rateLimit?.waitReason;
  const words = reason === undefined ? undefined : WAIT_REASONS[reason];
  if (until === undefined || words === undefined || until <= now) return undefined;
  // Rounded up, so a wait still running never reads 0.0s.
  const left = duration(Math.ceil((until - now) / 100) * 100);
  return { until, text: `waiting ${left} ${words}`, short: `wait ${left}${reason === '429' ? ' (429)' : ''}` };
}

/**
 * Time left at the pace so far; during a wait on a rate limit, at least the wait, so the ETA
 * does not promise the end before the next request may even start.
 */
function eta(s: RunStats, now: number): number | undefined {
  if (s.total === undefined) return undefined;
  const r = rate(s, now);
  if (r === 0) return undefined;
  const wait = rateLimitWait(s, now);
  const left = (Math.max(0, s.total - s.resumed - s.embedded - s.failed) / r) * 1000;
  return wait ? Math.max(wait.until - now, left) : left;
}

function percent(done: number, total: number): string {
  return total === 0 ? '100%' : `${((100 * done) / total).toFixed(1)}%`;
}

/** `ms` as `1h02m`, `3m05s` or `12.3s`; `?` when unknown. */
export function duration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '?';
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const whole = Math.round(seconds);
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const sec = whole % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(sec).padStart(2, '0')}s`;
}

/** The closing line: what happened to every input, and where the failures are. */
export function summary(s: RunStats, files: { out: string; failures: string }, now = Date.now()): string {
  const parts = [`${s.embedded} embedded`];
  if (s.resumed > 0) parts.push(`${s.resumed} already in ${files.out}`);
  parts.push(s.failed > 0 ? `${s.failed} failed (see ${files.failures})` : '0 failed');
  const stats = [
    plural(s.tokens, 'token'),
    plural(s.requests, 'request'),
    plural(s.retries, 'retry', 'retries'),
    `${s.rateLimited} × 429`,
    duration(now - s.startedAt),
  ];
  return `embedrail: ${parts.join(', ')} | ${stats.join(' | ')}`;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
