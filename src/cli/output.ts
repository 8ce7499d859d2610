import { readFileSync } from 'node:fs';
import { INPUT_TYPES } from '../index.js';
import type { InputType } from '../index.js';
import { UsageError } from './io.js';

/**
 * Where `embed` puts its vectors. Writes are buffered for at most one turn of the event loop
 * (so the vectors of one response go out in one write) and appended, never rewritten, so a
 * killed run loses at most the last unfinished line or row, which opening it to resume
 * truncates.
 */
export interface OutputWriter {
  /** Every file this output consists of, for messages. */
  readonly files: string[];
  /** Ids already in the output when it was opened (resume); they are not embedded again. */
  readonly done: ReadonlySet<string>;
  /** The vector length the output holds; undefined until a new output gets its first vector. */
  readonly dimensions: number | undefined;
  /** Queues one vector; throws when its length differs from the others. */
  write(id: string, embedding: ArrayLike<number>): void;
  /** Whether `id` can be stored (the `.npy` ids file holds one id per line). */
  accepts(id: string): string | undefined;
  /** Writes everything queued. */
  flush(): void;
  /** Flushes, finishes the file (the `.npy` shape) and closes it. */
  close(): void;
}

/** How to treat an output that already exists. */
export interface OpenOptions {
  /** Continue it: keep its records, skip their ids. */
  resume: boolean;
  /** Replace it. Without `resume` or `overwrite` an existing output is an error. */
  overwrite: boolean;
  /** `--dimensions`, checked against an existing file. */
  dimensions: number | undefined;
  /** `--model`, recorded beside the output and checked when resuming. */
  model: string;
  /** `--input-type`, recorded and checked like `model`; undefined: none sent. */
  inputType?: InputType | undefined;
}

/**
 * What made an output, in `<out>.meta.json` beside it: resuming with another model would mix
 * two models' vectors in one file, and resuming without `--dimensions` would ask for the
 * model's own length and find the mismatch only after spending tokens.
 */
export interface OutputMeta {
  model: string;
  /** `--dimensions` as given; null when the model's own length was asked for. */
  dimensions: number | null;
  /**
   * `--input-type`; null when none was sent. Absent from records written before it was kept,
   * which are not checked: a query and a document of one text are two vectors, and a resumed
   * run with the other would mix them in one file.
   */
  inputType?: InputType | null;
}

/** The file beside output `path` that records the model and dimensions it was made with. */
export function metaPath(path: string): string {
  return `${path}.meta.json`;
}

/**
 * The record beside output `path`: undefined when there is none (an output from before records
 * were kept), null when the file is there but is not a `{"model","dimensions"}` record.
 */
export function loadMeta(path: string): OutputMeta | null | undefined {
  let meta: Partial<OutputMeta> | null;
  try {
    meta = JSON.parse(readFileSync(metaPath(path), 'utf8')) as Partial<OutputMeta> | null;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (error instanceof SyntaxError) return null;
    throw error;
  }
  const dimensions = meta?.dimensions;
  const inputType = meta?.inputType;
  const valid =
    typeof meta?.model === 'string' &&
    (dimensions === null || (Number.isInteger(dimensions) && dimensions! > 0)) &&
    (inputType === undefined || inputType === null || (INPUT_TYPES as readonly unknown[]).includes(inputType));
  return valid ? (meta as OutputMeta) : null;
}

/** The recorded model and dimensions of output `path`, or undefined without a readable record. */
export function recordedMeta(path: string): OutputMeta | undefined {
  try {
    return loadMeta(path) ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * What in `model` and `dimensions` contradicts the record `meta`, worded to follow the output's
 * name ("holds vectors of --model 'a' but --model is 'b'"), or undefined when nothing does.
 * `model` undefined is not checked. Resuming and searching refuse the same contradictions.
 */
export function contradiction(
  meta: OutputMeta,
  model: string | undefined,
  dimensions: number | undefined,
): { flag: '--model' | '--dimensions'; text: string } | undefined {
  if (model !== undefined && model !== meta.model) {
    return { flag: '--model', text: `holds vectors of --model '${meta.model}' but --model is '${model}'` };
  }
  if (dimensions !== undefined && meta.dimensions !== null && dimensions !== meta.dimensions) {
    return {
      flag: '--dimensions',
      text: `was made with --dimensions ${meta.dimensions} but --dimensions is ${dimensions}`,
    };
  }
  return undefined;
}

/** Shared by both writers: the one-turn write buffer and the length check. */
export class QueuedWrites {
  private scheduled = false;
  private failure: unknown;

  constructor(private readonly flushNow: () => void) {}

  /** Call after queueing: flushes on the next turn, or at once when `bytes` grew large. */
  queued(bytes: number): void {
    if (this.failure !== undefined) throw this.failure;
    // A megabyte bounds memory when results arrive faster than turns of the event loop.
    if (bytes >= 1 << 20) {
      this.flushNow();
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      try {
        this.flushNow();
      } catch (error) {
        // Kept for the next write() or close(), which report it where it can be handled.
        this.failure = error;
      }
    });
  }

  check(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /** Writes everything queued now, first reporting a failed background flush. */
  flush(): void {
    this.check();
    this.flushNow();
  }
}

/** The vector length of a resumed output: what the file holds, which `--dimensions` must match. */
export function resumedDimensions(
  path: string,
  requested: number | undefined,
  found: number | undefined,
): number | undefined {
  if (found === undefined) return requested;
  if (requested !== undefined && requested !== found) {
    throw new UsageError(
      `cannot resume '${path}': it holds ${found}-dimension vectors but --dimensions is ${requested}`,
    );
  }
  return found;
}

export function checkLength(path: string, id: string, length: number, dimensions: number | undefined): void {
  if (dimensions !== undefined && length !== dimensions) {
    throw new Error(
      `the vector for id '${id}' has ${length} dimensions but '${path}' holds ${dimensions}-dimension vectors`,
    );
  }
}

export function refuseExisting(path: string): never {
  throw new UsageError(`'${path}' already exists; pass --resume to continue it or --overwrite to replace it`);
}
