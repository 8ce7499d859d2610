/**
 * Submits a batch of the job: uploads its input file and creates the batch, each step written to
 * the journal before it is taken, so that a process killed between a step and its record finds
 * at the provider, by file name or by metadata, what it had made instead of making it twice.
 */
import { eachIndex, type JournalBatch } from './journal.js';
import { requestLinesOf } from './plan.js';
import type { BatchJobRunner } from './runner.js';
import type { BatchApiPort, BatchObject } from './types.js';

/** Metadata keys that name the job and the batch, so a lost journal entry can be found in `batches.list`. */
const JOB_KEY = 'embedrail_job';
const BATCH_KEY = 'embedrail_batch';

/** The batches of job `jobId` in `batches.list`, by the submission their metadata names. */
export async function listedBatchesOf(
  api: BatchApiPort,
  jobId: string,
  signal: AbortSignal,
): Promise<Map<string, BatchObject>> {
  const found = new Map<string, BatchObject>();
  for await (const batch of api.list(signal)) {
    const key = batch.metadata?.[BATCH_KEY];
    if (batch.metadata?.[JOB_KEY] === jobId && key !== undefined) found.set(key, batch);
  }
  return found;
}

/**
 * Uploads the file of `batch` (unless it was) and creates the batch, taking from `listed` (a
 * lost journal's batches) what was made already; false while a full queue's wait is not over.
 */
export async function submit(
  runner: BatchJobRunner,
  batch: JournalBatch,
  listed: ReadonlyMap<string, BatchObject>,
): Promise<boolean> {
  if (batch.notBefore !== undefined && batch.notBefore > Date.now()) return false;
  const { api, state } = runner;
  const { signal } = runner.config;
  const metadata = metadataOf(runner, batch);
  const found = listed.get(metadata[BATCH_KEY]);
  if (batch.fileId === undefined && found?.input_file_id) batch.fileId = found.input_file_id;
  if (batch.fileId === undefined) {
    const filename = `${state.jobId}-${batch.key}.jsonl`;
    // A process killed after the upload and before the journal was written left the file at
    // the provider: take it (its bytes are this batch's, planned from the same checked input).
    batch.fileId = batch.uploading ? await findUploaded(runner, filename) : undefined;
    if (batch.fileId === undefined) {
      batch.uploading = true;
      await runner.save();
      batch.fileId = await api.upload(filename, await bodyOf(runner, batch), signal);
    }
    delete batch.uploading;
    await runner.save();
  }
  // A process killed after create() and before the journal was written left a batch the
  // journal does not name: find it by its metadata instead of creating a second one.
  let created = found ?? (batch.creating ? await findCreated(runner, batch) : undefined);
  if (created === undefined) {
    batch.creating = true;
    await runner.save();
    created = await api.create(batch.fileId, metadata, signal);
  }
  batch.batchId = created.id;
  batch.status = created.status;
  batch.submissions++;
  delete batch.creating;
  delete batch.notBefore;
  await runner.save();
  return true;
}

/** What the next submission of `batch` is created with: the job and the submission, to find it by. */
function metadataOf(runner: BatchJobRunner, batch: JournalBatch): Record<typeof JOB_KEY | typeof BATCH_KEY, string> {
  return { [JOB_KEY]: runner.state.jobId, [BATCH_KEY]: `${batch.key}#${batch.submissions + 1}` };
}

/** A file named `filename` already uploaded, if any; a second copy (one more crash) is deleted. */
async function findUploaded(runner: BatchJobRunner, filename: string): Promise<string | undefined> {
  const copies: string[] = [];
  for await (const file of runner.api.listFiles(runner.config.signal)) {
    if (file.filename === filename) copies.push(file.id);
  }
  for (const id of copies.slice(1)) await runner.api.deleteFile(id);
  return copies[0];
}

/** The batch that the next submission of `batch` created, if a process killed before its record did. */
export async function findCreated(runner: BatchJobRunner, batch: JournalBatch): Promise<BatchObject | undefined> {
  const listed = await listedBatchesOf(runner.api, runner.state.jobId, runner.config.signal);
  return listed.get(metadataOf(runner, batch)[BATCH_KEY]);
}

/** The input file of `batch`: its shard's, or the lines of its shard it sends again. */
async function bodyOf(runner: BatchJobRunner, batch: JournalBatch): Promise<Buffer | { path: string }> {
  const shard = runner.plan.shards[batch.shard]!;
  return batch.attempt === 1 ? shard.body : requestLinesOf(shard, eachIndex(batch.inputs));
}
