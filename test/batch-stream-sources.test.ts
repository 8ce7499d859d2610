import { describe, expect, test } from 'vitest';
import { APIUserAbortError, type StreamItem } from '../src/index.js';
import { useBatchApi } from './support/batch-api.js';

const model = 'text-embedding-3-small';
const wire = useBatchApi();

/** An async source that yields `texts`, then stays silent until `end()` is called. */
function quietAfter(texts: string[]) {
  let end!: () => void;
  const silence = new Promise<void>((resolve) => (end = resolve));
  async function* source() {
    yield* texts;
    await silence;
  }
  return { source: source(), end };
}

describe('stream() over a source that goes quiet', () => {
  test('sends what was read once the source is silent, without waiting for a full request', async () => {
    wire.serve();
    const { source, end } = quietAfter(['first line', 'second line', 'third line']);
    const received: StreamItem<number[] | Float32Array>[] = [];
    const stream = wire.client.embeddings.stream({ model, input: source });
    for await (const item of stream) {
      received.push(item);
      // Every line that was written so far has its vector although the source is still open.
      if (received.length === 3) end();
    }
    expect(received.map((item) => item.index).sort()).toEqual([0, 1, 2]);
    expect(wire.api.requests).toHaveLength(1);
    expect(wire.api.requests[0]!.body.input).toEqual(['first line', 'second line', 'third line']);
  });

  test('an abort while the source is silent and nothing is in flight ends the stream', async () => {
    wire.serve();
    const controller = new AbortController();
    const { source, end } = quietAfter(['one', 'two']);
    const received: number[] = [];
    const error = await (async () => {
      for await (const item of wire.client.embeddings.stream({ model, input: source }, { signal: controller.signal })) {
        received.push(item.index);
        if (received.length === 2) setImmediate(() => controller.abort());
      }
    })().catch((e: unknown) => e);
    end();
    expect(received.sort()).toEqual([0, 1]);
    expect(error).toBeInstanceOf(APIUserAbortError);
    expect((error as Error).message).toBe('stream was aborted after 2 inputs finished');
    expect(wire.api.requests).toHaveLength(1);
  });
});
