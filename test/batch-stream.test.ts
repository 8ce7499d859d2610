import { HttpResponse } from 'msw';
import { describe, expect, test } from 'vitest';
import {
  APIUserAbortError,
  AuthenticationError,
  BadRequestError,
  BatchEmbeddingError,
  InvalidArgumentError,
  createMemoryCache,
  type BatchProgress,
  type StreamInput,
  type StreamItem,
} from '../src/index.js';
import { useBatchApi } from './support/batch-api.js';
import { expectedVector, holdFirstUntil } from './support/openai-like.js';

const model = 'text-embedding-3-small';
const wire = useBatchApi();
const { serve } = wire;

const texts = (n: number) => Array.from({ length: n }, (_, i) => `line ${i}`);

async function collect<E>(items: AsyncIterable<StreamItem<E>>): Promise<StreamItem<E>[]> {
  const out: StreamItem<E>[] = [];
  for await (const item of items) out.push(item);
  return out;
}

function expectBelongs(item: StreamItem<number[] | Float32Array>, text: string) {
  const expected = expectedVector(text);
  expect(item.embedding).toBeDefined();
  expect(expected.every((x, k) => Math.abs(x - item.embedding![k]!) <= 1e-6)).toBe(true);
}

/** An endless source that counts how many items were pulled and whether it was closed. */
function endless(prefix = 'item') {
  const state = { pulled: 0, closed: false };
  const iterable: Iterable<string> = {
    [Symbol.iterator]() {
      return {
        next: () => ({ done: false, value: `${prefix} ${state.pulled++}` }),
        return: () => {
          state.closed = true;
          return { done: true, value: undefined };
        },
      };
    },
  };
  return { iterable, state };
}

describe('stream yields every input', () => {
  test('each input comes back once with its index and id and the vector of its own text', async () => {
    serve();
    const input = texts(1000).map((text, i) => ({ id: `id-${i}`, text }));
    const items = await collect(wire.client.embeddings.stream({ model, input }, { maxInputsPerRequest: 64 }));
    expect(items.map((item) => item.index).sort((a, b) => a - b)).toEqual(input.map((_, i) => i));
    for (const item of items) {
      expect(item.id).toBe(`id-${item.index}`);
      expectBelongs(item, input[item.index]!.text);
    }
  });

  test('reads an async iterable of plain strings', async () => {
    serve();
    async function* source() {
      for (const text of texts(50)) {
        await Promise.resolve();
        yield text;
      }
    }
    const items = await collect(wire.client.embeddings.stream({ model, input: source() }, { maxInputsPerRequest: 8 }));
    expect(items).toHaveLength(50);
    for (const item of items) {
      expect(item.id).toBeUndefined();
      expectBelongs(item, `line ${item.index}`);
    }
  });

  test('ordered: true yields in input order even when an early request finishes last', async () => {
    serve({ hold: holdFirstUntil(5) });
    const items = await collect(
      wire.knownLimitsClient.embeddings.stream({ model, input: texts(50) }, { maxInputsPerRequest: 10, ordered: true }),
    );
    expect(items.map((item) => item.index)).toEqual(texts(50).map((_, i) => i));
    // The first request really was answered after the others.
    expect(wire.server.seen.slice(1).every((r) => r.answeredAt! <= wire.server.seen[0]!.answeredAt!)).toBe(true);
  });

  test('without ordered, results come as requests complete: a slow first request comes out last', async () => {
    serve({ hold: holdFirstUntil(5) });
    const items = await collect(
      wire.knownLimitsClient.embeddings.stream({ model, input: texts(50) }, { maxInputsPerRequest: 10 }),
    );
    expect(items.slice(-10).map((item) => item.index)).toEqual(texts(10).map((_, i) => i));
  });

  test('duplicates within the read-ahead window are sent once and fanned out', async () => {
    serve();
    const input = Array.from({ length: 200 }, (_, i) => `dup ${i % 5}`);
    const items = await collect(wire.client.embeddings.stream({ model, input }, { maxConcurrency: 1 }));
    expect(items).toHaveLength(200);
    expect(wire.server.seen.flatMap((r) => r.texts).sort()).toEqual(['dup 0', 'dup 1', 'dup 2', 'dup 3', 'dup 4']);
    for (const item of items) expectBelongs(item, input[item.index]!);
  });
  test('a duplicate read after its first copy was answered is sent again, not merged into the finished one', async () => {
    serve();
    let firstAnswered!: () => void;
    const answered = new Promise<void>((resolve) => (firstAnswered = resolve));
    async function* source() {
      yield* ['same', 'other'];
      await answered;
      yield 'same';
    }
    const items: StreamItem<number[] | Float32Array>[] = [];
    for await (const item of wire.client.embeddings.stream({ model, input: source() }, { maxInputsPerRequest: 2 })) {
      items.push(item);
      firstAnswered();
    }
    expect(items.map((item) => item.index).sort()).toEqual([0, 1, 2]);
    expectBelongs(
      items.find((item) => item.index === 2)!,
      'same',
    );
    expect(wire.server.seen.map((r) => r.texts)).toEqual([['same', 'other'], ['same']]);
  });
});

describe('stream reads lazily', () => {
  test('never reads more than (maxConcurrency + 1) requests ahead of what the consumer took', async () => {
    serve();
    const { iterable, state } = endless();
    const maxConcurrency = 2;
    const maxInputsPerRequest = 10;
    const bound = (maxConcurrency + 1) * maxInputsPerRequest;
    let taken = 0;
    let maxAhead = 0;
    for await (const item of wire.client.embeddings.stream(
      { model, input: iterable },
      { maxConcurrency, maxInputsPerRequest },
    )) {
      taken++;
      maxAhead = Math.max(maxAhead, state.pulled - taken);
      expectBelongs(item, `item ${item.index}`);
      if (taken === 500) break;
    }
    expect(maxAhead).toBeLessThanOrEqual(bound);
    expect(state.closed).toBe(true);
  });

  test('a consumer that stops pulling stops the reading', async () => {
    serve();
    const { iterable, state } = endless();
    const items = wire.client.embeddings.stream(
      { model, input: iterable },
      { maxConcurrency: 2, maxInputsPerRequest: 10 },
    );
    const iterator = items[Symbol.asyncIterator]();
    await iterator.next();
    // Give every request that could start the time to finish: reading still stays within the bound.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(state.pulled).toBeLessThanOrEqual((2 + 1) * 10 + 1);
    expect(state.closed).toBe(false);
    await iterator.return?.();
    expect(state.closed).toBe(true);
  });

  test('breaking out of the loop cancels what is in flight and sends nothing more', async () => {
    let holdAll = false;
    serve({ hold: () => (holdAll ? new Promise((resolve) => setTimeout(resolve, 300)) : undefined) });
    const { iterable } = endless();
    let count = 0;
    for await (const _ of wire.client.embeddings.stream({ model, input: iterable }, { maxInputsPerRequest: 10 })) {
      holdAll = true;
      if (++count === 5) break;
    }
    const requests = wire.api.requests.length;
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(wire.api.requests).toHaveLength(requests);
  });

  test('totalInputs is known for an array and unknown for a generator', async () => {
    serve();
    const fromArray: BatchProgress[] = [];
    await collect(wire.client.embeddings.stream({ model, input: texts(20) }, { onProgress: (p) => fromArray.push(p) }));
    expect(fromArray.at(-1)).toMatchObject({ totalInputs: 20, completedInputs: 20 });
    const fromGenerator: BatchProgress[] = [];
    await collect(
      wire.client.embeddings.stream({ model, input: texts(20).values() }, { onProgress: (p) => fromGenerator.push(p) }),
    );
    expect(fromGenerator.at(-1)).toMatchObject({ totalInputs: undefined, completedInputs: 20, etaMs: undefined });
  });
});

describe('stream failures', () => {
  test("under 'collect' failures come as items with an error, bad inputs included, and the rest succeed", async () => {
    serve({ failText: (text) => text === 'line 7' });
    const input: StreamInput[] = [...texts(20), '', { id: 'x', text: 'ok' }, { id: 'y' } as never];
    const items = await collect(
      wire.client.embeddings.stream({ model, input }, { onFailure: 'collect', maxInputsPerRequest: 8 }),
    );
    expect(items).toHaveLength(23);
    const failed = items.filter((item) => item.error).sort((a, b) => a.index - b.index);
    expect(failed.map((item) => item.index)).toEqual([7, 20, 22]);
    expect(failed[0]!.error).toBeInstanceOf(BadRequestError);
    expect(failed[1]!.error).toBeInstanceOf(InvalidArgumentError);
    expect(failed[1]!.error!.message).toBe('`input[20]` must not be an empty string (got "")');
    expect(failed[2]!.error!.message).toMatch(/`input\[22\]` must be a string or an object \{ id, text \}/);
    expect(items.find((item) => item.index === 21)).toMatchObject({ id: 'x' });
  });

  test("under 'throw' the stream stops reading at the first failure, settles what it read, then throws", async () => {
    serve({ failText: (text) => text === 'item 3' });
    const { iterable, state } = endless();
    const yielded: number[] = [];
    const error = await (async () => {
      for await (const item of wire.client.embeddings.stream(
        { model, input: iterable },
        { maxInputsPerRequest: 10, maxConcurrency: 2 },
      )) {
        yielded.push(item.index);
      }
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BatchEmbeddingError);
    const failures = (error as BatchEmbeddingError).failures;
    expect(failures.map((f) => f.index)).toEqual([3]);
    // Every input read ended as a yielded vector or a failure, and reading stopped.
    const settled = new Set([...yielded, ...failures.map((f) => f.index)]);
    expect(settled.size).toBe(yielded.length + failures.length);
    expect(Math.max(...settled) + 1).toBe(settled.size);
    expect(state.pulled).toBeLessThanOrEqual(settled.size + 1);
    // The source it stopped reading was closed.
    expect(state.closed).toBe(true);
  });

  test('a 401 ends the stream with the error after no more than the requests in flight', async () => {
    serve({ intercept: () => HttpResponse.json({ error: { message: 'bad key' } }, { status: 401 }) });
    const { iterable } = endless();
    await expect(
      collect(
        wire.client.embeddings.stream(
          { model, input: iterable },
          { onFailure: 'collect', maxInputsPerRequest: 10, maxConcurrency: 2 },
        ),
      ),
    ).rejects.toThrow(AuthenticationError);
    expect(wire.api.requests.length).toBeLessThanOrEqual(2);
  });

  test('an error thrown by the source ends the stream with that error after in-flight work settles', async () => {
    serve();
    function* source() {
      yield* texts(15);
      throw new Error('source broke');
    }
    const yielded: number[] = [];
    const error = await (async () => {
      for await (const item of wire.client.embeddings.stream({ model, input: source() }, { maxInputsPerRequest: 10 }))
        yielded.push(item.index);
    })().catch((e: unknown) => e);
    expect((error as Error).message).toBe('source broke');
    expect(yielded.sort((a, b) => a - b)).toEqual(texts(15).map((_, i) => i));
  });

  test('a tokenizer that throws fails only the input it was counting', async () => {
    serve();
    const tokenizer = {
      count: (text: string) => {
        if (text === 'line 2') throw new Error('cannot count');
        return text.length;
      },
      truncate: (text: string) => text,
    };
    const items = await collect(
      wire.client.embeddings.stream({ model, input: texts(5) }, { tokenizer, onFailure: 'collect' }),
    );
    const failed = items.filter((item) => item.error);
    expect(failed.map((item) => [item.index, item.error!.message])).toEqual([[2, '`input[2]`: Error: cannot count']]);
    expect(items).toHaveLength(5);
  });

  test.each([[null], ['a string'], [42]])('rejects input %j naming the field before any request', async (input) => {
    serve();
    await expect(collect(wire.client.embeddings.stream({ model, input: input as never }))).rejects.toThrow(
      /`input` must be an iterable or async iterable of texts/,
    );
    expect(wire.api.requests).toHaveLength(0);
  });
});

describe('stream abort and cache', () => {
  test('abort stops new requests at once, cancels those in flight and says how many inputs finished', async () => {
    const { signal, release } = wire.serveAbortingDuringSecondRequest();
    const { iterable } = endless();
    const error = await collect(
      wire.client.embeddings.stream({ model, input: iterable }, { maxInputsPerRequest: 10, maxConcurrency: 1, signal }),
    ).catch((e: unknown) => e);
    release();
    expect(error).toBeInstanceOf(APIUserAbortError);
    expect((error as Error).message).toBe('stream was aborted after 10 inputs finished');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(wire.api.requests).toHaveLength(2);
  });

  test('with a cache, a second stream over the same texts sends nothing', async () => {
    serve();
    const cache = createMemoryCache();
    const first = await collect(wire.client.embeddings.stream({ model, input: texts(300) }, { cache }));
    const sent = wire.api.requests.length;
    const second = await collect(wire.client.embeddings.stream({ model, input: texts(300) }, { cache, ordered: true }));
    expect(wire.api.requests).toHaveLength(sent);
    expect(second.map((item) => item.index)).toEqual(texts(300).map((_, i) => i));
    const byIndex = new Map(first.map((item) => [item.index, item.embedding]));
    for (const item of second) expect(item.embedding).toEqual(byIndex.get(item.index));
  });
});
