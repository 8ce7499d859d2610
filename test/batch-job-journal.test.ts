import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { InvalidArgumentError } from '../src/errors.js';
import { resultsDirOf } from '../src/index.js';
import {
  eachIndex,
  fileJournal,
  journalStore,
  rangeSize,
  toRanges,
  type BatchJobState,
} from '../src/batch-job/journal.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'embedrail-journal-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const state: BatchJobState = {
  version: 1,
  jobId: 'j',
  model: 'm',
  totalInputs: 3,
  shards: [{ shard: 0, firstIndex: 0, count: 3, sha256: 'ab' }],
  batches: [{ key: 's0', shard: 0, attempt: 1, inputs: [[0, 3]], submissions: 0 }],
};

describe('fileJournal', () => {
  test('reads nothing before the first write, then what was written last', async () => {
    const journal = fileJournal(join(dir, 'sub', 'job.json'));
    expect(await journal.read()).toBeUndefined();
    await journal.write(state);
    await journal.write({ ...state, cancelled: true });
    expect(await journal.read()).toEqual({ ...state, cancelled: true });
  });

  test('writes through a temp file and a rename, leaving no temp file behind', async () => {
    const path = join(dir, 'job.json');
    await fileJournal(path).write(state);
    expect(await readdir(dir)).toEqual(['job.json']);
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual(state);
  });

  test('keeps vectors beside the journal, by batch key', async () => {
    const journal = fileJournal(join(dir, 'job.json'));
    await journal.write(state);
    expect(await journal.readResults!('s0')).toBeUndefined();
    const bytes = Uint8Array.of(1, 2, 3, 4, 5);
    await journal.writeResults!('s0', bytes);
    expect(await readdir(join(dir, 'job.json.results'))).toEqual(['s0.f32']);
    expect(new Uint8Array((await journal.readResults!('s0'))!)).toEqual(bytes);
    await journal.clearResults!();
    expect(await readdir(dir)).toEqual(['job.json']);
  });

  test("resultsDirOf(), from the package's entry, names the folder the journal writes vectors to; other stores have none", async () => {
    const journal = fileJournal(join(dir, 'job.json'));
    await journal.writeResults!('s0', Uint8Array.of(1, 2, 3, 4));
    expect(resultsDirOf(journal)).toBe(join(dir, 'job.json.results'));
    expect(await readdir(resultsDirOf(journal)!)).toEqual(['s0.f32']);
    expect(resultsDirOf({ ...journal })).toBeUndefined();
  });

  test('a file that is not a journal is an error naming it', async () => {
    const path = join(dir, 'job.json');
    await writeFile(path, '{"hello":1}');
    await expect(fileJournal(path).read()).rejects.toThrow(`The journal ${path} is not a batch job journal`);
    await writeFile(path, '{');
    await expect(fileJournal(path).read()).rejects.toThrow(InvalidArgumentError);
  });
});

describe('journalStore', () => {
  test('takes a path or an object with read() and write()', () => {
    const store = { read: () => undefined, write: () => {} };
    expect(journalStore(store)).toBe(store);
    expect(journalStore(join(dir, 'x.json'))).toHaveProperty('writeResults');
    expect(journalStore(undefined)).toBeUndefined();
  });

  test.each([
    ['', /`journal` must not be empty \(got ""\)/],
    [
      { read: () => undefined },
      /`journal` must be a file path or an object with read\(\) and write\(state\) \(got object\)/,
    ],
  ])('refuses %j naming the option', (journal, message) => {
    expect(() => journalStore(journal as never)).toThrow(message);
  });
});

describe('ranges', () => {
  test('runs of consecutive indices, whatever the order given', () => {
    const ranges = toRanges([5, 1, 2, 3, 9, 10, 5]);
    expect(ranges).toEqual([
      [1, 4],
      [5, 6],
      [9, 11],
    ]);
    expect([...eachIndex(ranges)]).toEqual([1, 2, 3, 5, 9, 10]);
    expect(rangeSize(ranges)).toBe(6);
  });
});
