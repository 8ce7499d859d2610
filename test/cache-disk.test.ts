/** createDiskCache (src/batch/cache-disk.ts) on a temp folder, with two writer processes, and the batch engine through it at the wire. */
import { createHook } from 'node:async_hooks';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cacheKey } from '../src/batch/cache.js';
import { resolveBatchConfig } from '../src/batch/config.js';
import { createDiskCache, DISK_CACHE_DEFAULTS, EmbeddingsError, InvalidArgumentError } from '../src/index.js';
import { encodeFloat32Bytes } from '../src/batch/cache-bytes.js';
import { expectBelongs, useBatchApi } from './support/batch-api.js';
import {
  bitsOf,
  EDGE_VECTOR,
  expectNormalizeServedFromOneCache,
  expectSecondRunSendsNothing,
} from './support/cache-wire.js';
import { bundleForChild } from './support/bundle.js';
import { tempDir } from './support/cli-helpers.js';
import { numberedTexts, vectorFor } from './support/openai-like.js';

const model = 'text-embedding-3-small';
const temp = tempDir();
afterAll(() => temp.remove());
let folders = 0;
const folder = (): string => temp.path(`cache-${++folders}`);

/** Every file under `directory`, relative to it. */
function filesUnder(directory: string): string[] {
  return readdirSync(directory, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(directory.length + 1));
}

describe('createDiskCache with the batch engine', () => {
  const wire = useBatchApi();
  const keyOf = (text: string): string => cacheKey(resolveBatchConfig(wire.client, { model }).cacheScope, text);

  test('a second process opening the folder sends no request and gets the vectors bit for bit', async () => {
    const directory = folder();
    await expectSecondRunSendsNothing(wire, createDiskCache({ directory }), createDiskCache({ directory }));
  });

  test('one cache serves normalize: true and normalize: false', async () => {
    await expectNormalizeServedFromOneCache(wire, createDiskCache({ directory: folder() }));
  });

  test('writes one file of raw little-endian float32 bytes per vector, under the first two characters of its key', async () => {
    wire.serve();
    const directory = folder();
    const input = numberedTexts(3);
    await wire.client.embeddings.createMany({ model, input }, { cache: createDiskCache({ directory }) });
    const expected = input.map((text) => join(keyOf(text).slice(0, 2), keyOf(text)));
    expect(filesUnder(directory).sort()).toEqual(expected.sort());
    for (const text of input) {
      expect(readFileSync(join(directory, keyOf(text).slice(0, 2), keyOf(text)))).toEqual(bitsOf([vectorFor(text)])[0]);
    }
  });

  test.each([
    ['7 bytes', Buffer.alloc(7, 1)],
    ['an empty file', Buffer.alloc(0)],
    ['a NaN', encodeFloat32Bytes([1, Number.NaN])],
    ['more than maxVectorBytes', Buffer.alloc(DISK_CACHE_DEFAULTS.maxVectorBytes + 4)],
  ])('a file of %s is a miss, and the job embeds that text again and replaces it', async (_what, bytes) => {
    wire.serve();
    const directory = folder();
    const cache = createDiskCache({ directory });
    const input = numberedTexts(4);
    await wire.client.embeddings.createMany({ model, input }, { cache });
    const file = join(directory, keyOf(input[1]!).slice(0, 2), keyOf(input[1]!));
    writeFileSync(file, bytes);
    wire.server.seen.length = 0;
    const res = await wire.client.embeddings.createMany({ model, input }, { cache });
    expect(wire.server.seen.flatMap((r) => r.texts)).toEqual([input[1]]);
    expectBelongs(res.data, input);
    expect(readFileSync(file)).toEqual(bitsOf([vectorFor(input[1]!)])[0]);
  });
});

describe('createDiskCache', () => {
  test('keeps special float32 values exactly, and names a key that is not a sha256 hex digest by its hash', async () => {
    const directory = folder();
    const cache = createDiskCache({ directory });
    await cache.set([['../not a file name/', EDGE_VECTOR]]);
    const [read, missing] = await cache.get(['../not a file name/', 'other']);
    expect(bitsOf([read!])).toEqual(bitsOf([EDGE_VECTOR]));
    expect(missing).toBeUndefined();
    expect(filesUnder(directory)).toEqual([expect.stringMatching(/^[0-9a-f]{2}\/[0-9a-f]{64}$/)]);
  });

  test('a get of many keys answers each in its place, hits and misses alike, with no call queued per key before the first read', async () => {
    const cache = createDiskCache({ directory: folder() });
    const keys = Array.from({ length: 5000 }, (_, i) => `key ${i}`);
    // Every third key is stored, each with a vector that names it.
    await cache.set(keys.flatMap((key, i) => (i % 3 === 0 ? [[key, Float32Array.of(i, -i)] as const] : [])));
    // Promises made while get() runs up to its first wait: a few per file read at once, not one per key.
    let made = 0;
    const hook = createHook({
      init(_id, type) {
        if (type === 'PROMISE') made++;
      },
    }).enable();
    const found = cache.get(keys);
    hook.disable();
    // Some are made (the hook sees them), and far fewer than the 5,000 keys.
    expect(made).toBeGreaterThan(0);
    expect(made).toBeLessThan(20 * DISK_CACHE_DEFAULTS.filesAtOnce);
    const vectors = await found;
    expect(vectors).toHaveLength(keys.length);
    vectors.forEach((vector, i) => {
      if (i % 3 === 0) expect(vector && [...vector], keys[i]).toEqual([i, -i]);
      else expect(vector, keys[i]).toBeUndefined();
    });
  });

  test('creates the folder and its parents', () => {
    const directory = join(folder(), 'a', 'b');
    createDiskCache({ directory });
    expect(existsSync(directory)).toBe(true);
  });

  test('a file in the way of a write rejects with an EmbeddingsError naming the path', async () => {
    const directory = folder();
    const cache = createDiskCache({ directory });
    const key = 'ab'.repeat(32);
    writeFileSync(join(directory, 'ab'), 'in the way');
    const write = cache.set([[key, Float32Array.of(1)]]);
    await expect(write).rejects.toThrow(EmbeddingsError);
    await expect(write).rejects.toThrow(`disk cache: cannot create '${join(directory, 'ab')}': EEXIST`);
    expect(await cache.get([key])).toEqual([undefined]);
  });

  test('leaves no temporary file behind', async () => {
    const directory = folder();
    const cache = createDiskCache({ directory });
    await cache.set(Array.from({ length: 100 }, (_, i) => [`key ${i}`, Float32Array.of(i)] as [string, Float32Array]));
    expect(filesUnder(directory).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    expect(filesUnder(directory)).toHaveLength(100);
  });

  test.each([
    ['an empty directory', { directory: '' }, "`directory` must be a non-empty string (got '')"],
    ['no directory', {}, '`directory` must be a non-empty string (got undefined)'],
  ])('refuses %s naming the option', (_what, options, message) => {
    expect(() => createDiskCache(options as { directory: string })).toThrow(InvalidArgumentError);
    expect(() => createDiskCache(options as { directory: string })).toThrow(message);
  });

  test('refuses a directory that cannot be created, naming it', () => {
    const file = temp.path('a-file');
    writeFileSync(file, '');
    expect(() => createDiskCache({ directory: join(file, 'cache') })).toThrow(
      new RegExp(`^\`directory\` '${join(file, 'cache')}' cannot be created: ENOTDIR`),
    );
  });
});

describe('createDiskCache with two processes writing the same keys at once', () => {
  /** Floats per vector: 128 KB files. */
  const LENGTH = 32_768;
  const KEYS = 40;
  /** Reads of every key made while both writers write, counted once a vector of each was read. */
  const PASSES = 30;
  /** A writer nobody stops gives up after this many rounds and exits 3: the load stays bounded. */
  const MAX_ROUNDS = 1_000;
  let writerScript: string;

  beforeAll(async () => {
    const bundle = await bundleForChild('src/batch/cache-disk.ts', 'disk', 'cache-test');
    const outDir = dirname(bundle);
    writerScript = join(outDir, 'writer.mjs');
    // Each writer rewrites every key with its own value, round after round, until its stdin ends.
    writeFileSync(
      writerScript,
      [
        `import { createDiskCache } from './disk.js';`,
        `const [directory, value] = process.argv.slice(2);`,
        `const cache = createDiskCache({ directory });`,
        `const vector = new Float32Array(${LENGTH}).fill(Number(value));`,
        `let stopped = false;`,
        `process.stdin.on('end', () => (stopped = true)).resume();`,
        `for (let round = 0; !stopped && round < ${MAX_ROUNDS}; round++) {`,
        `  await cache.set(Array.from({ length: ${KEYS} }, (_, i) => ['k'.repeat(i + 1), vector]));`,
        `}`,
        `process.exit(stopped ? 0 : 3);`,
      ].join('\n'),
    );
    return () => rmSync(outDir, { recursive: true, force: true });
  }, 60_000);

  test('while both rewrite every key, a reader sees it missing until its first write, then always whole: never torn, mixed or gone again', async () => {
    const directory = folder();
    mkdirSync(directory);
    const writers = [1, 2].map((value) => {
      const child = spawn(process.execPath, [writerScript, directory, String(value)], {
        stdio: ['pipe', 'inherit', 'inherit'],
      });
      return { child, exit: new Promise<number | null>((resolve) => child.on('close', resolve)) };
    });
    let writing = true;
    void Promise.race(writers.map(({ exit }) => exit)).then(() => (writing = false));
    const cache = createDiskCache({ directory });
    const keys = Array.from({ length: KEYS }, (_, i) => 'k'.repeat(i + 1));
    /** The writers (by value) a whole vector was read of. */
    const wholeOf = new Set<number>();
    /** Keys a vector was read for: with a rename into place, such a key never reads as missing again. */
    const present = new Set<number>();
    const faults = new Set<string>();
    let passes = 0;
    // Writers stop only when told: every read below is made while both are still writing.
    try {
      while (writing && passes < PASSES) {
        (await cache.get(keys)).forEach((vector, i) => {
          if (vector === undefined) {
            if (present.has(i)) faults.add(`key ${i} missing after a vector was read`);
            return;
          }
          present.add(i);
          const first = vector[0]!;
          if (vector.length === LENGTH && (first === 1 || first === 2) && vector.every((x) => x === first)) {
            wholeOf.add(first);
          } else {
            faults.add(
              `key ${i} torn or mixed: ${vector.length} floats of ${[...new Set(vector)].slice(0, 4).join(', ')}`,
            );
          }
        });
        if (wholeOf.size === 2) passes++;
      }
    } finally {
      for (const { child } of writers) child.stdin.end();
    }
    // Exit code 0: each writer was still writing when told to stop, after the last read.
    expect(await Promise.all(writers.map(({ exit }) => exit))).toEqual([0, 0]);
    expect([...wholeOf].sort()).toEqual([1, 2]);
    expect(passes).toBe(PASSES);
    expect([...faults]).toEqual([]);
    const final = await cache.get(keys);
    expect(final.every((vector) => vector?.length === LENGTH && (vector[0] === 1 || vector[0] === 2))).toBe(true);
    expect(filesUnder(directory).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  }, 60_000);
});
