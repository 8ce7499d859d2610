/** The Batch API as runBatchJob() reaches it: the client's `files` and `batches` resources. */
import { createReadStream } from 'node:fs';
import type { EmbeddingsClient } from '../client.js';
import type { VectorType } from '../options.js';
import { BatchResultLine, readBatchLines } from '../resources/lines.js';
import { toFile } from '../resources/uploadable.js';
import type { BatchApiPort } from './types.js';

/**
 * Input files expire on their own 30 days after upload if the job never ends (OpenAI keeps a
 * batch's files otherwise until deleted); a job that ends deletes them at once.
 */
const FILE_EXPIRY_SECONDS = 30 * 24 * 60 * 60;

export function portOf(client: EmbeddingsClient<VectorType>): BatchApiPort {
  return {
    async upload(filename, body, signal) {
      const file = await client.files.create(
        {
          file: Buffer.isBuffer(body) ? toFile(body, filename) : createReadStream(body.path),
          purpose: 'batch',
          expires_after: { anchor: 'created_at', seconds: FILE_EXPIRY_SECONDS },
        },
        { signal },
      );
      return file.id;
    },
    async *lines(fileId, signal) {
      const content = await client.files.content(fileId, { signal }).catch((error: unknown) => {
        // A file already gone has no lines, as deleteFile() below takes a file already gone as deleted.
        if (isGone(error)) return undefined;
        throw error;
      });
      if (content === undefined) return;
      for await (const { value } of readBatchLines(content, BatchResultLine)) yield value;
    },
    listFiles: (signal) => client.files.list({ purpose: 'batch' }, { signal }),
    async deleteFile(fileId) {
      await client.files.delete(fileId).catch((error: unknown) => {
        // A file already gone (deleted by an earlier run, or expired) is what was wanted.
        if (!isGone(error)) throw error;
      });
    },
    create: (inputFileId, metadata, signal) =>
      client.batches.create(
        { input_file_id: inputFileId, endpoint: '/v1/embeddings', completion_window: '24h', metadata },
        { signal },
      ),
    retrieve: (batchId, signal) => client.batches.retrieve(batchId, { signal }),
    cancel: (batchId) => client.batches.cancel(batchId),
    list: (signal) => client.batches.list({ limit: 100 }, { signal }),
  };
}

/** The provider's answer for a file it does not have (deleted, or expired). */
function isGone(error: unknown): boolean {
  return (error as { status?: unknown } | undefined)?.status === 404;
}
