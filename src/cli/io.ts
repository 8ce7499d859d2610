import type { Readable, Writable } from 'node:stream';

/**
 * Where a command reads and writes. `main.ts` passes the process's own streams; tests pass
 * in-memory ones, so every command runs the same code in both.
 */
export interface CliIo {
  stdin: Readable;
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean; columns?: number };
  /** Aborted on SIGINT/SIGTERM: commands stop, flush what they have and return. */
  signal?: AbortSignal;
}

/** Exit codes, one meaning each, so scripts can branch on them. */
export const EXIT = Object.freeze({
  ok: 0,
  /** Some inputs failed (they are in `<out>.failures.jsonl`) or the run stopped on an error. */
  failed: 1,
  /** Bad flags, unreadable files, or an output that cannot be continued. Nothing was sent. */
  usage: 2,
  /** Stopped by SIGINT/SIGTERM; rerun with --resume to finish. */
  interrupted: 130,
} as const);

/**
 * A mistake in how the command was called (a flag, a path, a file's contents): reported as
 * one line on stderr with exit code 2.
 */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** One line, whatever the error: multi-line messages would break log parsers. */
export function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s*\n\s*/g, ' ').trim();
}
