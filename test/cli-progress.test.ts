import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { PLAIN_INTERVAL_MS, ProgressDisplay, duration, newStats, summary } from '../src/cli/progress.js';
import { capture } from './support/cli-helpers.js';

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

function running() {
  const stats = newStats(Date.now());
  stats.total = 1000;
  stats.resumed = 100;
  return stats;
}

describe('not a TTY', () => {
  test(`prints a plain line every ${PLAIN_INTERVAL_MS} ms with inputs, tokens, rate, ETA, retries, 429s and failures`, () => {
    const stderr = capture(false);
    const stats = running();
    const display = new ProgressDisplay(stats, stderr.stream);
    display.start();
    stats.embedded = 440;
    stats.failed = 10;
    stats.tokens = 9000;
    stats.retries = 3;
    stats.rateLimited = 2;
    vi.advanceTimersByTime(PLAIN_INTERVAL_MS - 1);
    expect(stderr.text).toBe('');
    vi.advanceTimersByTime(1);
    // 450 inputs in 5 s is 90/s; 450 left at that pace is 5 s.
    expect(stderr.text).toBe(
      'embedrail: 550/1000 inputs (55.0%) | 9000 tokens | 90.0/s | ETA 5.0s | 3 retries | 2 × 429 | 10 failed\n',
    );
    vi.advanceTimersByTime(PLAIN_INTERVAL_MS);
    expect(stderr.text.split('\n')).toHaveLength(3);
    display.stop({ out: 'o.jsonl', failures: 'o.jsonl.failures.jsonl' });
    vi.advanceTimersByTime(10 * PLAIN_INTERVAL_MS);
    const lines = stderr.text.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe(
      'embedrail: 440 embedded, 100 already in o.jsonl, 10 failed (see o.jsonl.failures.jsonl) | 9000 tokens | 0 requests | 3 retries | 2 × 429 | 10.0s',
    );
  });

  test('without a known total (stdin) the line has no total and no ETA', () => {
    const stats = newStats(Date.now());
    const display = new ProgressDisplay(stats, capture(false).stream);
    stats.embedded = 5;
    vi.advanceTimersByTime(1000);
    expect(display.line()).toBe('embedrail: 5 inputs | 0 tokens | 5.0/s | 0 retries | 0 × 429 | 0 failed');
  });
});

/** A run on a terminal `columns` wide: 400 more inputs in 4 s, with a retry and four 429s. */
function drawRun(columns: number, files: { out: string; failures: string } | undefined): string {
  const stderr = capture(true);
  stderr.stream.columns = columns;
  const stats = running();
  const display = new ProgressDisplay(stats, stderr.stream);
  display.start();
  stats.embedded = 400;
  stats.tokens = 1234;
  stats.retries = 1;
  stats.rateLimited = 4;
  vi.advanceTimersByTime(4000);
  display.update();
  display.stop(files);
  return stderr.text;
}

describe('on a TTY', () => {
  test('draws a cli-progress bar with done/total, tokens, rate, ETA, retries and 429s, then the summary', () => {
    const text = drawRun(160, { out: 'o.npy', failures: 'o.npy.failures.jsonl' });
    expect(text).toMatch(
      /█{10}░{10} 500\/1000 inputs \| 1234 tokens \| 100\.0\/s \| ETA 5\.0s \| 1 retry \| 4 × 429 \| 0 failed/,
    );
    // Cursor control sequences show it redraws in place rather than printing lines.
    expect(text).toContain('\x1b[');
    expect(text.trimEnd().split('\n').at(-1)).toMatch(/^embedrail: 400 embedded, 100 already in o\.npy, 0 failed \|/);
  });
});

describe('on a narrow terminal', () => {
  const full = '500/1000 inputs | 1234 tokens | 100.0/s | ETA 5.0s | 1 retry | 4 × 429 | 0 failed';
  test.each([
    [120, `${'█'.repeat(10)}${'░'.repeat(10)} ${full}`],
    [95, `${'█'.repeat(7)}${'░'.repeat(6)} ${full}`],
    [70, '500/1000 inputs | 100.0/s | ETA 5.0s | 1 retry | 4 × 429 | 0 failed'],
    [60, '500/1000 inputs | ETA 5.0s | 1 retry | 4 × 429 | 0 failed'],
    [40, '500/1000 ETA 5.0s 1 retry 4×429 0 failed'],
  ])(
    '%i columns: the bar shrinks or goes, ETA, retries and 429s stay, nothing passes the edge',
    (columns, expected) => {
      // What the terminal shows: each redraw, cursor and erase sequences taken out.
      const drawn = drawRun(columns, undefined)
        // eslint-disable-next-line no-control-regex -- ESC starts the sequences taken out
        .split(/\x1b(?:\[[0-9;?]*[A-Za-z]|[78])|[\r\n]/)
        .filter((line) => line !== '');
      expect(drawn.at(-1)).toBe(expected);
      for (const line of drawn) expect(line.length, line).toBeLessThanOrEqual(columns);
    },
  );
});

describe('a wait on a rate limit', () => {
  /** A run 4 s in with 400 inputs done, whose limiter has just started a wait of `ms`. */
  function waiting(ms: number, waitReason: 'rate-limit' | '429' | 'slow-start' | 'queued' = '429') {
    const stats = running();
    stats.embedded = 400;
    stats.rateLimited = 3;
    vi.advanceTimersByTime(4000);
    stats.rateLimit = { waitingUntil: Date.now() + ms, waitReason };
    return stats;
  }

  test('the plain line says how long it waits and why, and the ETA is at least the wait', () => {
    const display = new ProgressDisplay(waiting(12_000), capture(false).stream);
    // At 100/s the 500 inputs left take 5 s, but nothing is sent for 12 s.
    expect(display.line()).toBe(
      'embedrail: 500/1000 inputs (50.0%) | 0 tokens | 100.0/s | ETA 12.0s | waiting 12.0s on rate limit (429) | 0 retries | 3 × 429 | 0 failed',
    );
    vi.advanceTimersByTime(11_950);
    expect(display.line()).toContain('| waiting 0.1s on rate limit (429) |');
    vi.advanceTimersByTime(50);
    expect(display.line()).not.toContain('waiting');
  });

  test.each([
    ['rate-limit', 'waiting 3.0s on rate limit'],
    ['429', 'waiting 3.0s on rate limit (429)'],
    ['slow-start', undefined],
    ['queued', undefined],
  ] as const)('reason %s is shown as %s', (reason, text) => {
    const line = new ProgressDisplay(waiting(3000, reason), capture(false).stream).line();
    if (text) expect(line).toContain(`| ${text} |`);
    else expect(line).not.toContain('waiting');
  });

  test('without a rate limiter report (a client that gives none) nothing is said of waits', () => {
    const stats = waiting(3000);
    stats.rateLimit = undefined;
    expect(new ProgressDisplay(stats, capture(false).stream).line()).not.toContain('waiting');
  });

  test(`off a terminal a wait of ${PLAIN_INTERVAL_MS} ms or more is printed as it starts, once; a shorter one waits for the next line`, () => {
    const stderr = capture(false);
    const stats = running();
    const display = new ProgressDisplay(stats, stderr.stream);
    display.start();
    stats.rateLimit = { waitingUntil: Date.now() + PLAIN_INTERVAL_MS - 1, waitReason: 'rate-limit' };
    display.update();
    expect(stderr.text).toBe('');
    stats.rateLimit = { waitingUntil: Date.now() + 30_000, waitReason: '429' };
    display.update();
    display.update();
    expect(stderr.text.split('\n')).toEqual([expect.stringContaining('| waiting 30.0s on rate limit (429) |'), '']);
    display.stop(undefined);
  });

  test.each([
    [160, 'ETA 12.0s | waiting 12.0s on rate limit (429) | 1 retry | 4 × 429 | 0 failed'],
    [60, '500/1000 ETA 12.0s wait 12.0s (429) 1 retry 4×429 0 failed'],
  ])('on a terminal %i columns wide the wait stays on the line', (columns, expected) => {
    const stats = running();
    stats.embedded = 400;
    stats.tokens = 1234;
    stats.retries = 1;
    stats.rateLimited = 4;
    vi.advanceTimersByTime(4000);
    stats.rateLimit = { waitingUntil: Date.now() + 12_000, waitReason: '429' };
    const line = new ProgressDisplay(stats, capture(true).stream).ttyLine(columns);
    expect(line.endsWith(expected)).toBe(true);
    expect(line.length).toBeLessThanOrEqual(columns);
  });
});

describe('summary', () => {
  test('names the failures file only when something failed', () => {
    const stats = newStats(0);
    stats.embedded = 3;
    expect(summary(stats, { out: 'a', failures: 'a.failures.jsonl' }, 1500)).toBe(
      'embedrail: 3 embedded, 0 failed | 0 tokens | 0 requests | 0 retries | 0 × 429 | 1.5s',
    );
  });

  test.each([
    [undefined, '?'],
    [12_345, '12.3s'],
    [185_000, '3m05s'],
    [3_720_000, '1h02m'],
  ])('duration(%s) is %s', (ms, text) => {
    expect(duration(ms)).toBe(text);
  });
});
