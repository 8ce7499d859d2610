// Type tests of client.files, client.batches and the batch line types. Checked by `tsc` in
// vitest's typecheck mode (and by `npm run typecheck`), never run.
import type { Readable } from 'node:stream';
import { describe, expectTypeOf, test } from 'vitest';
import {
  EmbeddingsClient,
  isBatchOutputLine,
  type Batch,
  type BatchDocumentedErrorLine,
  type BatchObservedErrorLine,
  type BatchOutputLine,
  type BatchPage,
  type BatchResultLine,
  type FileObject,
} from '../../src/index.js';

declare const client: EmbeddingsClient;
declare const line: BatchResultLine;

describe('batch lines', () => {
  test('isBatchOutputLine tells an output line from both error shapes, though an observed error line has the same fields', () => {
    if (isBatchOutputLine(line)) {
      expectTypeOf(line).toEqualTypeOf<BatchOutputLine>();
    } else {
      expectTypeOf(line).toEqualTypeOf<BatchDocumentedErrorLine | BatchObservedErrorLine>();
    }
  });
});

describe('resources', () => {
  test('files and batches answer their objects; content is a Node Readable; list iterates items and pages', () => {
    expectTypeOf(client.files.retrieve('f')).resolves.toEqualTypeOf<FileObject>();
    expectTypeOf(client.files.content('f')).resolves.toEqualTypeOf<Readable>();
    expectTypeOf(client.batches.retrieve('b')).resolves.toEqualTypeOf<Batch>();
    expectTypeOf(client.batches.list()).toMatchTypeOf<AsyncIterable<Batch>>();
    expectTypeOf(client.batches.list().pages()).toMatchTypeOf<AsyncIterable<BatchPage>>();
    // @ts-expect-error completion_window is '24h', the only window OpenAI offers
    void client.batches.create({ input_file_id: 'f', endpoint: '/v1/embeddings', completion_window: '1h' });
  });
});
