import { closeSync, openSync, rmSync } from 'node:fs';
import { writeAll } from './files.js';

/** Where the failures of output `out` go. */
export function failuresPath(out: string): string {
  return `${out}.failures.jsonl`;
}

/** What a failure line says about its error: enough to act on, never the API key. */
export interface FailureRecord {
  id: string;
  error: { name: string; message: string; status?: number; code?: string; type?: string; requestId?: string };
}

/**
 * `<out>.failures.jsonl`: one `{"id","error"}` line per input that failed, written the moment
 * it fails. Each run starts it afresh: failed ids are not in the output, so a rerun with
 * `--resume` tries them again, and after any finished run every id is in exactly one of the
 * two files. The file exists only when something failed.
 */
export class FailuresFile {
  private fd: number | undefined;

  constructor(readonly path: string) {
    rmSync(path, { force: true });
  }

  add(id: string, error: unknown): void {
    this.fd ??= openSync(this.path, 'w');
    writeAll(this.fd, Buffer.from(`${JSON.stringify(failureRecord(id, error))}\n`, 'utf8'));
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

export function failureRecord(id: string, error: unknown): FailureRecord {
  if (!(error instanceof Error)) return { id, error: { name: 'Error', message: String(error) } };
  const fields = error as Error & { status?: unknown; code?: unknown; type?: unknown; requestId?: unknown };
  const record: FailureRecord = { id, error: { name: error.name, message: error.message } };
  if (typeof fields.status === 'number') record.error.status = fields.status;
  if (typeof fields.code === 'string') record.error.code = fields.code;
  if (typeof fields.type === 'string') record.error.type = fields.type;
  if (typeof fields.requestId === 'string') record.error.requestId = fields.requestId;
  return record;
}
