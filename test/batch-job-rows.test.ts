import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { blockTarget, fileTarget, HEADER_BYTES, Ranks, RowWriter, type RowTarget } from '../src/batch-job/rows.js';
import { blockSource, fileSource, RowCursor } from '../src/batch-job/rows-read.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'embedrail-rows-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A vector of `dims` values that names input `index`. */
const vectorOf = (index: number, dims = 3) => Float32Array.from({ length: dims }, (_, j) => index * 10 + j);

/** A block target that keeps the block it is handed on commit, as `kept.block`. */
function keptBlock(): { target: RowTarget; block: Uint8Array | undefined } {
  const kept: { target: RowTarget; block: Uint8Array | undefined } = {
    target: blockTarget(async (bytes) => {
      kept.block = bytes;
    }),
    block: undefined,
  };
  return kept;
}

/** A target that records each write's position and length before passing it on. */
function recording(target: RowTarget, writes: [number, number][]): RowTarget {
  return {
    ...target,
    write(position, bytes) {
      writes.push([position, bytes.length]);
      return target.write(position, bytes);
    },
  };
}

describe('Ranks', () => {
  test('numbers a batch’s inputs in index order across its ranges', () => {
    const ranks = new Ranks([
      [3, 5],
      [9, 10],
      [20, 23],
    ]);
    expect(ranks.size).toBe(6);
    expect([3, 4, 9, 20, 21, 22].map((i) => ranks.rankOf(i))).toEqual([0, 1, 2, 3, 4, 5]);
    expect([0, 2, 5, 8, 10, 19, 23].map((i) => ranks.rankOf(i))).toEqual(Array(7).fill(undefined));
  });
});

describe('RowWriter and RowCursor', () => {
  test('rows arriving shuffled are written by rank in windows, and read back in order', async () => {
    const inputs: [number, number][] = [
      [100, 110],
      [120, 130],
    ];
    const ranks = new Ranks(inputs);
    const path = join(dir, 'r', 's0.f32');
    const writes: [number, number][] = [];
    // A window of 4 rows of 3 float32: 20 rows go out in 5 flushes, each run of ranks in one write.
    const writer = new RowWriter(ranks, recording(await fileTarget(join(dir, 'r'), path), writes), 48);
    const order = [125, 101, 100, 129, 103, 102, 120, 121, 104, 128, 127, 126, 105, 106, 107, 108, 122, 123, 124];
    for (const index of order) await writer.put(index, vectorOf(index));
    await writer.commit();
    // 109 got no vector: its row stays zeros, and the file has every row.
    expect((await stat(path)).size).toBe(HEADER_BYTES + 20 * 3 * 4);
    expect(writes.at(-1)).toEqual([0, HEADER_BYTES]);
    expect(writes.filter(([position]) => position > 0).every(([, length]) => length <= 48)).toBe(true);
    // The first flush (125, 101, 100, 129) is three runs: 100-101, 125, 129.
    expect(writes.slice(0, 3)).toEqual([
      [HEADER_BYTES, 24],
      [HEADER_BYTES + 15 * 12, 12],
      [HEADER_BYTES + 19 * 12, 12],
    ]);
    const source = (await fileSource(path, 's0', ranks))!;
    expect([source.rows, source.dims]).toEqual([20, 3]);
    const cursor = new RowCursor(source, 24);
    for (const index of order.toSorted((a, b) => a - b)) {
      expect(await cursor.row(ranks.rankOf(index)!)).toEqual(vectorOf(index));
    }
    expect(await cursor.row(ranks.rankOf(109)!)).toEqual(new Float32Array(3));
    await source.close();
  });

  test('a block target holds the same bytes a file target writes', async () => {
    const ranks = new Ranks([[0, 5]]);
    const kept = keptBlock();
    const toBlock = new RowWriter(ranks, kept.target, 24);
    const toFile = new RowWriter(ranks, await fileTarget(dir, join(dir, 'b.f32')), 24);
    for (const index of [4, 0, 2, 1]) {
      await toBlock.put(index, vectorOf(index, 2));
      await toFile.put(index, vectorOf(index, 2));
    }
    await toBlock.commit();
    await toFile.commit();
    expect(Buffer.from(kept.block!)).toEqual(await readFile(join(dir, 'b.f32')));
    const cursor = new RowCursor(blockSource(kept.block!, 'b', ranks));
    expect(await cursor.row(4)).toEqual(vectorOf(4, 2));
  });

  test('rows put to a block target go straight to their place: the only write is the header', async () => {
    const ranks = new Ranks([
      [0, 3],
      [7, 9],
    ]);
    const writes: [number, number][] = [];
    const kept = keptBlock();
    // A window of one row: a windowed writer would write each row on its own.
    const writer = new RowWriter(ranks, recording(kept.target, writes), 8);
    for (const index of [8, 1, 0, 7]) await writer.put(index, vectorOf(index, 2));
    await writer.commit();
    expect(writes).toEqual([[0, HEADER_BYTES]]);
    const cursor = new RowCursor(blockSource(kept.block!, 'b', ranks));
    for (const index of [0, 1, 7, 8]) expect(await cursor.row(ranks.rankOf(index)!)).toEqual(vectorOf(index, 2));
    expect(await cursor.row(ranks.rankOf(2)!)).toEqual(new Float32Array(2));
  });

  test('a batch without a vector stores a header of 0 dimensions', async () => {
    const kept = keptBlock();
    const writer = new RowWriter(new Ranks([[0, 3]]), kept.target);
    await writer.commit();
    expect(blockSource(kept.block!, 's0', new Ranks([[0, 3]]))).toMatchObject({ rows: 3, dims: 0 });
  });

  test('a row of another batch or another size is refused', async () => {
    const writer = new RowWriter(
      new Ranks([[0, 3]]),
      blockTarget(async () => {}),
    );
    await expect(writer.put(7, vectorOf(7))).rejects.toThrow('input 7 is not one of the batch');
    await writer.put(0, vectorOf(0));
    await expect(writer.put(1, vectorOf(1, 4))).rejects.toThrow('a vector of 4 dimensions in a batch of 3');
  });

  test('a row put after commit() or abandon() is refused, and the block handed on stays as it was', async () => {
    const ranks = new Ranks([[0, 2]]);
    const kept = keptBlock();
    const committed = new RowWriter(ranks, kept.target);
    await committed.put(0, vectorOf(0, 2));
    await committed.commit();
    const handedOn = Buffer.from(kept.block!);
    await expect(committed.put(1, vectorOf(1, 2))).rejects.toThrow(
      'a row put after the batch was committed or abandoned',
    );
    expect(Buffer.from(kept.block!)).toEqual(handedOn);
    const abandoned = new RowWriter(ranks, await fileTarget(dir, join(dir, 'a.f32')), 8);
    await abandoned.put(0, vectorOf(0, 2));
    await abandoned.abandon();
    await expect(abandoned.put(1, vectorOf(1, 2))).rejects.toThrow(
      'a row put after the batch was committed or abandoned',
    );
  });

  test('a file collected again after a crash is written again from the start', async () => {
    const ranks = new Ranks([[0, 4]]);
    const path = join(dir, 's0.f32');
    const crashed = new RowWriter(ranks, await fileTarget(dir, path), 12);
    for (const index of [3, 2]) await crashed.put(index, vectorOf(index, 9));
    await crashed.abandon();
    const again = new RowWriter(ranks, await fileTarget(dir, path), 12);
    for (const index of [1, 0, 3, 2]) await again.put(index, vectorOf(index));
    await again.commit();
    const cursor = new RowCursor((await fileSource(path, 's0', ranks))!);
    for (const index of [0, 1, 2, 3]) expect(await cursor.row(index)).toEqual(vectorOf(index));
    await cursor.source.close();
  });
});

describe('every row where it belongs', () => {
  test('any batch, any arrival order, any window: each input reads back its own vector, the others zeros', async () => {
    await fc.assert(
      fc.asyncProperty(
        // A batch of up to 60 inputs in runs with gaps (a retry's inputs), some with a vector, in any order.
        fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1, max: 12 })), {
          minLength: 1,
          maxLength: 5,
        }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 200 }),
        fc.infiniteStream(fc.boolean()),
        fc.func(fc.integer()),
        async (runs, dims, windowBytes, kept, shuffleKey) => {
          const inputs: [number, number][] = [];
          let next = 0;
          for (const [gap, length] of runs) {
            inputs.push([next + gap, next + gap + length]);
            next += gap + length;
          }
          const ranks = new Ranks(inputs);
          const all = inputs.flatMap(([start, end]) => Array.from({ length: end - start }, (_, i) => start + i));
          const withVector = all.filter(() => kept.next().value);
          const arrival = withVector.toSorted((a, b) => shuffleKey(a) - shuffleKey(b) || a - b);
          const path = join(dir, `p-${Math.random().toString(36).slice(2)}.f32`);
          const writer = new RowWriter(ranks, await fileTarget(dir, path), windowBytes);
          const inMemory = keptBlock();
          const toBlock = new RowWriter(ranks, inMemory.target, windowBytes);
          for (const index of arrival) {
            await writer.put(index, vectorOf(index, dims));
            await toBlock.put(index, vectorOf(index, dims));
          }
          await writer.commit();
          await toBlock.commit();
          // A block, written row by row in place, holds the bytes the file's windows wrote.
          expect(Buffer.from(inMemory.block!)).toEqual(await readFile(path));
          const cursor = new RowCursor((await fileSource(path, 'p', ranks))!, windowBytes);
          const stored = new Set(withVector);
          for (const index of all) {
            const expected = stored.has(index) ? vectorOf(index, dims) : new Float32Array(cursor.source.dims);
            expect(await cursor.row(ranks.rankOf(index)!)).toEqual(expected);
          }
          await cursor.close();
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('stored vectors', () => {
  test('no file is no results; a file of the wrong size or without the header is an error naming the batch', async () => {
    const ranks = new Ranks([[0, 2]]);
    expect(await fileSource(join(dir, 'none.f32'), 's0', ranks)).toBeUndefined();
    const kept = keptBlock();
    const writer = new RowWriter(ranks, kept.target);
    await writer.put(0, vectorOf(0));
    await writer.commit();
    await writeFile(join(dir, 'short.f32'), kept.block!.subarray(0, kept.block!.length - 1));
    await expect(fileSource(join(dir, 'short.f32'), 's0', ranks)).rejects.toThrow(
      'the stored vectors of batch s0 take 39 bytes, not 2 rows of 3 dimensions',
    );
  });

  test('vectors stored in the earlier layout (count, indices, vectors) are read by rank', async () => {
    const legacy = Buffer.alloc(8 + 2 * 4 + 2 * 2 * 4);
    legacy.writeUInt32LE(2, 0);
    legacy.writeUInt32LE(2, 4);
    legacy.writeUInt32LE(7, 8);
    legacy.writeUInt32LE(5, 12);
    Buffer.from(Float32Array.of(7, 7.5, 5, 5.5).buffer).copy(legacy, 16);
    await writeFile(join(dir, 'old.f32'), legacy);
    const ranks = new Ranks([[5, 8]]);
    const cursor = new RowCursor((await fileSource(join(dir, 'old.f32'), 's0', ranks))!);
    expect(await cursor.row(0)).toEqual(Float32Array.of(5, 5.5));
    expect(await cursor.row(1)).toEqual(Float32Array.of(0, 0));
    expect(await cursor.row(2)).toEqual(Float32Array.of(7, 7.5));
  });
});
