import { encodeFloat32Base64 } from '../../src/decode.js';
import { apiErrorFor } from '../../src/errors.js';
import type { BatchResultLine } from '../../src/resources/lines.js';
import type { BatchApiPort, BatchObject } from '../../src/batch-job/types.js';

/** What the fake Batch API does with one request line on one attempt. */
export type LineFate = 'ok' | 'missing' | 'expired' | { status: number };

/** A vector of 4 dimensions that names its text, so a test can tell which text it came from. */
export function vectorOf(text: string): number[] {
  let hash = 0;
  for (const char of text) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return [1 + (hash % 97), 2, 3, 4];
}

/**
 * The Batch API in memory, for the runner's logic: a batch ends on its second retrieve; each
 * line's fate on each of its attempts is the test's to choose; output lines come shuffled.
 */
export class FakeBatchPort implements BatchApiPort {
  readonly files = new Map<string, string>();
  readonly filenames = new Map<string, string>();
  /** Every uploaded body, in upload order (files are deleted once collected; these stay). */
  readonly uploaded: string[] = [];
  readonly batches = new Map<string, BatchObject & { polls: number; input: string }>();
  creates = 0;
  downloads: string[] = [];
  deleted: string[] = [];
  /** Queue refusals left: each create while above 0 ends `failed` with token_limit_exceeded. */
  queueFull = 0;
  /** Batches left to fail on the server's own error (`server_error`), their lines never run. */
  serverFaults = 0;
  #attempts = new Map<string, number>();
  #next = 0;

  constructor(readonly fate: (customId: string, attempt: number) => LineFate = () => 'ok') {}

  async upload(filename: string, body: Buffer): Promise<string> {
    const id = `file-${++this.#next}`;
    this.files.set(id, body.toString('utf8'));
    this.filenames.set(id, filename);
    this.uploaded.push(body.toString('utf8'));
    return id;
  }

  async *listFiles(): AsyncIterable<{ id: string; filename: string }> {
    for (const id of [...this.files.keys()].reverse()) yield { id, filename: this.filenames.get(id)! };
  }

  async *lines(fileId: string): AsyncIterable<BatchResultLine> {
    this.downloads.push(fileId);
    const text = this.files.get(fileId);
    // A file gone has no lines, as the real port reads a 404.
    if (text === undefined) return;
    for (const line of text.split('\n')) if (line !== '') yield JSON.parse(line) as BatchResultLine;
  }

  async deleteFile(fileId: string): Promise<void> {
    this.deleted.push(fileId);
    this.files.delete(fileId);
  }

  async create(inputFileId: string, metadata: Record<string, string>): Promise<BatchObject> {
    this.creates++;
    const id = `batch-${++this.#next}`;
    const batch = { id, status: 'validating', metadata, polls: 0, input: inputFileId };
    this.batches.set(id, batch);
    return { id, status: 'validating', metadata };
  }

  async retrieve(batchId: string): Promise<BatchObject> {
    const batch = this.batches.get(batchId)!;
    if (++batch.polls >= 2 && batch.status !== 'completed' && batch.status !== 'cancelled') this.#finish(batch);
    const { polls: _p, input, ...seen } = batch;
    return { ...seen, input_file_id: input };
  }

  async cancel(batchId: string): Promise<BatchObject> {
    const batch = this.batches.get(batchId)!;
    if (['completed', 'expired', 'failed', 'cancelled'].includes(batch.status)) {
      throw apiErrorFor({
        method: 'POST',
        path: `/batches/${batchId}/cancel`,
        status: 409,
        headers: {},
        body: { error: { message: `Cannot cancel a batch with status '${batch.status}'.` } },
      });
    }
    batch.status = 'cancelled';
    return { id: batchId, status: 'cancelling' };
  }

  async *list(): AsyncIterable<BatchObject> {
    for (const { polls: _p, input, ...batch } of [...this.batches.values()].reverse()) {
      yield { ...batch, input_file_id: input };
    }
  }

  #finish(batch: BatchObject & { input: string }): void {
    if (this.queueFull > 0) {
      this.queueFull--;
      batch.status = 'failed';
      batch.errors = { data: [{ code: 'token_limit_exceeded', message: 'Enqueued token limit reached' }] };
      return;
    }
    if (this.serverFaults > 0) {
      this.serverFaults--;
      batch.status = 'failed';
      batch.errors = { data: [{ code: 'server_error', message: 'The batch failed on an error of the server.' }] };
      return;
    }
    const out: string[] = [];
    const errors: string[] = [];
    let expired = false;
    for (const text of this.files.get(batch.input)!.split('\n')) {
      if (text === '') continue;
      const line = JSON.parse(text) as { custom_id: string; body: { input: string } };
      const attempt = (this.#attempts.get(line.custom_id) ?? 0) + 1;
      this.#attempts.set(line.custom_id, attempt);
      const fate = this.fate(line.custom_id, attempt);
      if (fate === 'missing') continue;
      if (fate === 'expired') {
        expired = true;
        errors.push(
          JSON.stringify({
            id: 'r',
            custom_id: line.custom_id,
            response: null,
            error: { code: 'batch_expired', message: 'expired' },
          }),
        );
      } else if (fate === 'ok') {
        const body = {
          object: 'list',
          data: [{ object: 'embedding', index: 0, embedding: encodeFloat32Base64(vectorOf(line.body.input)) }],
          model: 'm',
          usage: { prompt_tokens: 1, total_tokens: 1 },
        };
        out.push(
          JSON.stringify({ id: 'r', custom_id: line.custom_id, response: { status_code: 200, body }, error: null }),
        );
      } else {
        const body = { error: { message: `status ${fate.status}`, type: 'x', code: null } };
        errors.push(
          JSON.stringify({
            id: 'r',
            custom_id: line.custom_id,
            response: { status_code: fate.status, body },
            error: null,
          }),
        );
      }
    }
    // Shuffled, as the Batch API's output is in no particular order.
    out.reverse();
    batch.status = expired ? 'expired' : 'completed';
    batch.output_file_id = `file-${++this.#next}`;
    this.files.set(batch.output_file_id, out.join('\n'));
    if (errors.length > 0) {
      batch.error_file_id = `file-${++this.#next}`;
      this.files.set(batch.error_file_id, errors.join('\n'));
    }
  }
}
