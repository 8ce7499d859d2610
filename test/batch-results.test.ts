import { describe, expect, test } from 'vitest';
import { ResultQueue } from '../src/batch/results.js';

const drain = <T>(queue: ResultQueue<T>): T[] => {
  const out: T[] = [];
  for (let item = queue.take(); item !== undefined; item = queue.take()) out.push(item);
  return out;
};

describe('ResultQueue', () => {
  test('ordered: a result waits behind a gap, comes out once the gap fills, and a dropped position yields nothing', () => {
    const queue = new ResultQueue<string>(true);
    queue.put(2, 'c');
    queue.put(3, null);
    queue.put(4, 'e');
    expect(queue.hasReady).toBe(false);
    expect(drain(queue)).toEqual([]);
    queue.put(0, 'a');
    expect(drain(queue)).toEqual(['a']);
    queue.put(1, 'b');
    expect(drain(queue)).toEqual(['b', 'c', 'e']);
  });

  test('ordered: a gap filled by a drop releases what waited behind it', () => {
    const queue = new ResultQueue<string>(true);
    queue.put(1, 'b');
    queue.put(2, 'c');
    queue.put(0, null);
    expect(drain(queue)).toEqual(['b', 'c']);
  });

  test('a drop is released at once, even while held behind a gap, so the reader may read on', () => {
    const queue = new ResultQueue<string>(true);
    queue.put(1, null);
    queue.put(2, 'c');
    expect(queue.released).toBe(1);
    queue.put(0, 'a');
    expect(queue.released).toBe(1);
    expect(queue.take()).toBe('a');
    expect(queue.released).toBe(2);
    expect(queue.take()).toBe('c');
    expect(queue.released).toBe(3);
  });

  test('unordered: results come in arrival order and drops yield nothing', () => {
    const queue = new ResultQueue<string>(false);
    queue.put(5, 'f');
    queue.put(0, null);
    queue.put(1, 'b');
    expect(drain(queue)).toEqual(['f', 'b']);
    expect(queue.released).toBe(3);
  });

  test('a long queue taken while it fills keeps every result once and in order across compaction', () => {
    const queue = new ResultQueue<number>(false);
    const out: number[] = [];
    for (let i = 0; i < 10_000; i++) {
      queue.put(i, i);
      if (i % 3 === 0) out.push(queue.take()!);
    }
    out.push(...drain(queue));
    expect(out).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
  });
});
