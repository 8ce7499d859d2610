/**
 * The Batch API, played in memory: batches walk validating → in_progress → finalizing →
 * completed (or failed, expired, cancelling → cancelled) on timers, each line embedded by the
 * server's own embeddings logic, with the faults a test asks for.
 */
import type { Answer } from './handler.js';
import { cursorPage, OpenAIError } from './http.js';
import { mulberry32 } from './faults.js';
import { newId, nowSeconds, type FileStore } from './files.js';
import { processLines, validateLines, type BatchLimits, type LineFaults } from './batch-lines.js';

export type { BatchLimits } from './batch-lines.js';

/** How the server plays batches: its clock, its limits and its faults. */
export interface BatchSettings extends LineFaults {
  /** Time from a batch's creation to its end. @unit ms */
  processingMs: number;
  /** Share of batches, 0 to 1, that expire with half their lines done. */
  expireRate: number;
  /** Tokens that may be queued in unfinished batches; a batch beyond it fails `token_limit_exceeded`. */
  queueTokens: number | undefined;
  limits: BatchLimits;
  model: string;
  dimensions: number;
  seed: number;
}

type Status =
  'validating' | 'failed' | 'in_progress' | 'finalizing' | 'completed' | 'expired' | 'cancelling' | 'cancelled';

interface BatchObject {
  id: string;
  object: 'batch';
  endpoint: string;
  errors: {
    object: 'list';
    data: { code: string; message: string; param: string | null; line: number | null }[];
  } | null;
  input_file_id: string;
  completion_window: string;
  status: Status;
  output_file_id: string | null;
  error_file_id: string | null;
  created_at: number;
  in_progress_at: number | null;
  expires_at: number;
  finalizing_at: number | null;
  completed_at: number | null;
  failed_at: number | null;
  expired_at: number | null;
  cancelling_at: number | null;
  cancelled_at: number | null;
  request_counts: { total: number; completed: number; failed: number };
  metadata: Record<string, string> | null;
}

interface BatchState {
  object: BatchObject;
  /** Tokens this batch holds in the queue while unfinished. */
  tokens: number;
  /** Set by cancel: processing stops at the next slice. */
  cancelled: boolean;
}

/** How often a batch whose output files wait for room looks again. @unit ms */
const STORAGE_WAIT_MS = 20;
/** A day, OpenAI's only completion window. @unit s */
const WINDOW_S = 24 * 3600;
const FINISHED: readonly Status[] = ['failed', 'completed', 'expired', 'cancelled'];

/** The batches of one server. */
export class BatchStore {
  readonly #batches = new Map<string, BatchState>();
  /** Newest last; listed newest first. */
  readonly #order: string[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #random: () => number;
  #closed = false;

  constructor(
    readonly settings: BatchSettings,
    readonly files: FileStore,
  ) {
    this.#random = mulberry32(settings.seed ^ 0x5bd1e995);
  }

  /** Stops every timer; batches left unfinished stay as they are. */
  close(): void {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  create(body: unknown): Answer {
    const params = parseCreate(body);
    const input = this.files.get(params.input_file_id);
    if (input.object.purpose !== 'batch') {
      throw new OpenAIError(400, `The input file ${input.object.id} must be uploaded with purpose 'batch'.`, {
        param: 'input_file_id',
      });
    }
    const created = nowSeconds();
    const object: BatchObject = {
      id: newId('batch_'),
      object: 'batch',
      endpoint: params.endpoint,
      errors: null,
      input_file_id: params.input_file_id,
      completion_window: '24h',
      status: 'validating',
      output_file_id: null,
      error_file_id: null,
      created_at: created,
      in_progress_at: null,
      expires_at: created + WINDOW_S,
      finalizing_at: null,
      completed_at: null,
      failed_at: null,
      expired_at: null,
      cancelling_at: null,
      cancelled_at: null,
      request_counts: { total: 0, completed: 0, failed: 0 },
      metadata: params.metadata ?? null,
    };
    const state: BatchState = { object, tokens: 0, cancelled: false };
    this.#batches.set(object.id, state);
    this.#order.push(object.id);
    this.#run(state, input.pieces, input.object.bytes).catch(() => {
      // A fault of the server's own must end the batch, not the process.
      state.tokens = 0;
      state.object.errors = {
        object: 'list',
        data: [
          { code: 'server_error', message: 'The batch failed on an error of the server.', param: null, line: null },
        ],
      };
      this.#set(state, 'failed');
    });
    return json(object);
  }

  retrieve(id: string): Answer {
    return json(this.#get(id).object);
  }

  cancel(id: string): Answer {
    const state = this.#get(id);
    const { status } = state.object;
    if (FINISHED.includes(status) || status === 'cancelling') {
      throw new OpenAIError(409, `Cannot cancel a batch with status '${status}'.`);
    }
    state.cancelled = true;
    this.#set(state, 'cancelling');
    return json(state.object);
  }

  /** `GET /v1/batches`: newest first, `limit` (1 to 100, 20 by default) and `after`. */
  list(query: URLSearchParams): Answer {
    const newestFirst = this.#order.toReversed().map((id) => this.#batches.get(id)!.object);
    return json(cursorPage(newestFirst, query, { defaultLimit: 20, maxLimit: 100, what: 'batch' }));
  }

  #get(id: string): BatchState {
    const state = this.#batches.get(id);
    if (state === undefined) throw new OpenAIError(404, `No batch found with id '${id}'.`, { param: 'batch_id' });
    return state;
  }

  #set(state: BatchState, status: Status): void {
    state.object.status = status;
    (state.object as unknown as Record<string, number | null>)[`${status}_at`] = nowSeconds();
  }

  /** Waits `ms` on an unref'd timer; false once the server has closed. */
  #wait(ms: number): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        resolve(!this.#closed);
      }, ms);
      timer.unref();
      this.#timers.add(timer);
    });
  }

  /** Tokens queued in batches not yet finished, this one left out. */
  #queued(except: BatchState): number {
    let sum = 0;
    for (const state of this.#batches.values()) {
      if (state !== except && !FINISHED.includes(state.object.status)) sum += state.tokens;
    }
    return sum;
  }

  async #run(state: BatchState, input: Buffer[], bytes: number): Promise<void> {
    const { settings } = this;
    const started = performance.now();
    const until = async (share: number): Promise<boolean> => {
      const left = started + settings.processingMs * share - performance.now();
      return this.#wait(Math.max(0, left));
    };
    const validated = await validateLines(input, bytes, state.object.endpoint, settings.limits, () => this.#wait(0));
    if (validated === undefined || this.#closed) return;
    if (!(await until(0.1))) return;
    if (state.cancelled && !(await this.#wait(settings.processingMs * 0.1))) return;
    if (state.cancelled) return this.#finish(state, undefined, 'cancelled');
    if ('errors' in validated) {
      state.object.errors = { object: 'list', data: validated.errors };
      return this.#set(state, 'failed');
    }
    state.tokens = validated.tokens;
    if (settings.queueTokens !== undefined && this.#queued(state) + state.tokens > settings.queueTokens) {
      state.tokens = 0;
      state.object.errors = {
        object: 'list',
        data: [
          {
            code: 'token_limit_exceeded',
            message: `Enqueued token limit reached for ${settings.model}. Limit: ${settings.queueTokens} enqueued tokens. Please try again once some in_progress batches have been completed.`,
            param: null,
            line: null,
          },
        ],
      };
      return this.#set(state, 'failed');
    }
    state.object.request_counts.total = validated.lines.length;
    this.#set(state, 'in_progress');
    const expires = this.#random() < settings.expireRate;
    const lines = settings.shuffle ? shuffled(validated.lines, this.#random) : validated.lines;
    const result = await processLines(lines, settings, this.#random, {
      stopAt: expires ? Math.ceil(lines.length / 2) : lines.length,
      stopped: () => state.cancelled || this.#closed,
      counts: state.object.request_counts,
      yieldNow: () => this.#wait(0),
    });
    if (this.#closed) return;
    // A cancel stops the lines at once; otherwise the batch waits out its clock.
    if (!state.cancelled && !(await until(0.9))) return;
    if (state.cancelled) return this.#cancelled(state, result);
    if (expires) return this.#finish(state, result, 'expired');
    this.#set(state, 'finalizing');
    if (!(await until(1))) return;
    if (state.cancelled) return this.#cancelled(state, result);
    await this.#finish(state, result, 'completed');
  }

  /** OpenAI's batch stays `cancelling` a while, then keeps what it had done. */
  async #cancelled(state: BatchState, result: { output: Buffer[]; errors: Buffer[] }): Promise<void> {
    if (!(await this.#wait(this.settings.processingMs * 0.1))) return;
    await this.#finish(state, result, 'cancelled');
  }

  /**
   * Stores the output and error files (an empty one is not made) and ends the batch as
   * `status`. Files that do not fit now but would once other files are deleted wait for the
   * room (the batch stays as it is, `finalizing` for one that completes), as a job that
   * deletes each batch's files once read makes room; files that could never fit fail the batch.
   */
  async #finish(
    state: BatchState,
    result: { output: Buffer[]; errors: Buffer[] } | undefined,
    status: Status,
  ): Promise<void> {
    if (result !== undefined) {
      const bytes = [...result.output, ...result.errors].reduce((sum, piece) => sum + piece.length, 0);
      while (bytes > this.files.free && bytes <= this.files.maxStoredBytes - this.#inputBytes(state)) {
        if (!(await this.#wait(STORAGE_WAIT_MS))) return;
      }
      const output =
        result.output.length > 0
          ? this.files.add(`${state.object.id}_output.jsonl`, 'batch_output', result.output)
          : null;
      const errors =
        result.errors.length > 0
          ? this.files.add(`${state.object.id}_error.jsonl`, 'batch_output', result.errors)
          : null;
      if (output === undefined || errors === undefined) {
        // The one that fitted goes too: a failed batch leaves no file behind.
        for (const file of [output, errors]) if (file) this.files.delete(file.object.id);
        state.object.errors = {
          object: 'list',
          data: [
            {
              code: 'storage_limit_exceeded',
              message: 'The server has no room for the output files, even with every other file deleted.',
              param: null,
              line: null,
            },
          ],
        };
        state.tokens = 0;
        return this.#set(state, 'failed');
      }
      state.object.output_file_id = output?.object.id ?? null;
      state.object.error_file_id = errors?.object.id ?? null;
    }
    state.tokens = 0;
    this.#set(state, status);
  }

  /** Bytes of the batch's input file while the server still holds it. */
  #inputBytes(state: BatchState): number {
    try {
      return this.files.get(state.object.input_file_id).object.bytes;
    } catch {
      return 0;
    }
  }
}

function json(value: unknown): Answer {
  return { status: 200, body: JSON.stringify(value), headers: {} };
}

/** A Fisher–Yates shuffle of a copy, by the server's seeded PRNG. */
function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** The body of `POST /v1/batches`, checked as OpenAI checks it. */
function parseCreate(body: unknown): { input_file_id: string; endpoint: string; metadata?: Record<string, string> } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new OpenAIError(400, 'Invalid type for request body: expected an object.');
  }
  const fields = body as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!['input_file_id', 'endpoint', 'completion_window', 'metadata', 'output_expires_after'].includes(key)) {
      throw new OpenAIError(400, `Unrecognized request argument supplied: ${key}`);
    }
  }
  for (const name of ['input_file_id', 'endpoint', 'completion_window']) {
    if (typeof fields[name] !== 'string' || fields[name] === '') {
      throw new OpenAIError(400, `Missing required parameter: '${name}'.`, {
        param: name,
        code: 'missing_required_parameter',
      });
    }
  }
  if (fields.endpoint !== '/v1/embeddings') {
    throw new OpenAIError(
      400,
      `Invalid value for 'endpoint': '${String(fields.endpoint)}'. This server runs batches for '/v1/embeddings' only.`,
      { param: 'endpoint', code: 'invalid_value' },
    );
  }
  if (fields.completion_window !== '24h') {
    throw new OpenAIError(
      400,
      `Invalid value for 'completion_window': '${String(fields.completion_window)}'. Supported values are: '24h'.`,
      { param: 'completion_window', code: 'invalid_value' },
    );
  }
  const metadata = fields.metadata;
  if (metadata !== undefined && metadata !== null) {
    const entries = typeof metadata === 'object' && !Array.isArray(metadata) ? Object.entries(metadata) : undefined;
    const bad =
      entries === undefined ||
      entries.length > 16 ||
      entries.some(([k, v]) => k.length > 64 || typeof v !== 'string' || v.length > 512);
    if (bad) {
      throw new OpenAIError(
        400,
        "Invalid 'metadata': expected at most 16 pairs of strings, keys up to 64 characters and values up to 512.",
        { param: 'metadata', code: 'invalid_value' },
      );
    }
  }
  return fields as { input_file_id: string; endpoint: string; metadata?: Record<string, string> };
}
