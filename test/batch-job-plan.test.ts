import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import fc from 'fast-check';
import { InvalidArgumentError } from '../src/errors.js';
import {
  customId,
  indexOfCustomId,
  outputBytesPerInput,
  planShards,
  requestLinesOf,
  type ShardLimits,
} from '../src/batch-job/plan.js';
import { cl100kTokenizer, utf8ByteTokenizer } from '../src/tokenizer.js';

const params = { model: 'text-embedding-3-small' };
const rules = { tokenizer: utf8ByteTokenizer, maxTokensPerInput: 8192, truncate: false };
const roomy: ShardLimits = {
  maxInputsPerBatch: 50_000,
  maxBatchBytes: 200 * 1024 * 1024,
  maxOutputBytes: Infinity,
  outputBytesPerInput: 1,
};
/** A shard's input file, from memory or from the spool directory it was written to. */
const bytesOf = (body: Buffer | { path: string }) => (Buffer.isBuffer(body) ? body : readFileSync(body.path));
const linesOf = (body: Buffer | { path: string }) =>
  bytesOf(body)
    .toString('utf8')
    .trimEnd()
    .split('\n')
    .map(
      (line) => JSON.parse(line) as { custom_id: string; method: string; url: string; body: Record<string, unknown> },
    );

describe('planShards', () => {
  test('writes one request line per input, in order, with a deterministic custom_id', async () => {
    const plan = await planShards(['a', 'b', 'c'], 'job1', { ...params, dimensions: 256 }, rules, roomy);
    expect(plan.totalInputs).toBe(3);
    expect(plan.shards).toHaveLength(1);
    expect(linesOf(plan.shards[0]!.body)).toEqual(
      ['a', 'b', 'c'].map((input, i) => ({
        custom_id: `job1-0-${i}`,
        method: 'POST',
        url: '/v1/embeddings',
        body: { model: 'text-embedding-3-small', input, dimensions: 256, encoding_format: 'base64' },
      })),
    );
  });

  test('a rerun plans the same shards, ids and digests', async () => {
    const texts = Array.from({ length: 25 }, (_, i) => `text ${i}`);
    const limits = { ...roomy, maxInputsPerBatch: 10 };
    const first = await planShards(texts, 'j', params, rules, limits);
    const again = await planShards(texts, 'j', params, rules, limits);
    expect(again.shards.map((s) => s.sha256)).toEqual(first.shards.map((s) => s.sha256));
    expect(first.shards.map((s) => [s.firstIndex, s.count])).toEqual([
      [0, 10],
      [10, 10],
      [20, 5],
    ]);
  });

  test('closes a shard at maxBatchBytes, never splitting a line, and ids name the shard the line went to', async () => {
    const texts = Array.from({ length: 12 }, (_, i) => `${'x'.repeat(50)}${i}`);
    const lineBytes = linesOf((await planShards(texts.slice(0, 1), 'j', params, rules, roomy)).shards[0]!.body);
    const size = Buffer.byteLength(`${JSON.stringify(lineBytes[0])}\n`);
    const plan = await planShards(texts, 'j', params, rules, { ...roomy, maxBatchBytes: size * 5 });
    for (const shard of plan.shards) {
      expect(bytesOf(shard.body).length).toBeLessThanOrEqual(size * 5);
      linesOf(shard.body).forEach((line, k) =>
        expect(line.custom_id).toBe(customId('j', shard.shard, shard.firstIndex + k)),
      );
    }
    expect(plan.shards.reduce((sum, s) => sum + s.count, 0)).toBe(12);
  });

  test('closes a shard where its output would pass the output budget', async () => {
    const per = outputBytesPerInput({ model: 'text-embedding-3-large' });
    expect(per).toBe(3072 * 4 * (4 / 3) + 400);
    const plan = await planShards(['a', 'b', 'c', 'd', 'e'], 'j', params, rules, {
      ...roomy,
      maxOutputBytes: per * 2,
      outputBytesPerInput: per,
    });
    expect(plan.shards.map((s) => s.count)).toEqual([2, 2, 1]);
  });

  test('reads iterables and async iterables of strings and { id, text }, keeping the ids', async () => {
    async function* source() {
      yield 'a';
      yield { id: 'doc-2', text: 'b' };
    }
    const plan = await planShards(source(), 'j', params, rules, roomy);
    expect(plan.ids).toEqual([undefined, 'doc-2']);
    const fromSet = await planShards(new Set(['x', 'y']), 'j', params, rules, roomy);
    expect(fromSet.totalInputs).toBe(2);
  });

  test.each([
    [['a', ''], /`input\[1\]` must not be an empty string/],
    [['a', 7], /`input\[1\]` must be a string or an object \{ id, text \} \(got number 7\)/],
    [[{ id: 3, text: 'a' }], /`input\[0\]\.id` must be a string/],
    [[], /`input` must hold at least one text/],
    [42, /`input` must be a string, an array, an iterable or an async iterable/],
  ])('refuses bad input %j before planning anything', async (input, message) => {
    await expect(planShards(input, 'j', params, rules, roomy)).rejects.toThrow(InvalidArgumentError);
    await expect(planShards(input, 'j', params, rules, roomy)).rejects.toThrow(message);
  });

  test('applies createMany’s token limit per input, and truncate cuts with the tokenizer', async () => {
    const long = 'word '.repeat(20);
    const strict = { tokenizer: cl100kTokenizer, maxTokensPerInput: 10, truncate: false };
    await expect(planShards(['ok', long], 'j', params, strict, roomy)).rejects.toThrow(
      '`input[1]` has 21 tokens, over `maxTokensPerInput` (10)',
    );
    const cut = await planShards([long], 'j', params, { ...strict, truncate: true }, roomy);
    expect(cl100kTokenizer.count(linesOf(cut.shards[0]!.body)[0]!.body.input as string)).toBe(10);
  });

  test('every input lands in exactly one shard, in order, under every limit', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.string({ minLength: 1, maxLength: 30 }), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 300, max: 2000 }),
        async (texts, maxInputs, maxBytes) => {
          const plan = await planShards(texts, 'j', params, rules, {
            ...roomy,
            maxInputsPerBatch: maxInputs,
            maxBatchBytes: maxBytes,
          });
          const seen = plan.shards.flatMap((shard) => {
            expect(shard.count).toBeLessThanOrEqual(maxInputs);
            expect(bytesOf(shard.body).length).toBeLessThanOrEqual(maxBytes);
            return linesOf(shard.body).map((line) => [indexOfCustomId('j', line.custom_id), line.body.input]);
          });
          expect(seen).toEqual(texts.map((text, i) => [i, text]));
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('planShards with a spool directory', () => {
  test('writes each shard to its own file, byte for byte the plan kept in memory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'embedrail-spool-'));
    try {
      const texts = Array.from({ length: 25 }, (_, i) => `text ${i}`);
      const limits = { ...roomy, maxInputsPerBatch: 10 };
      const inMemory = await planShards(texts, 'j', params, rules, limits);
      const spooled = await planShards(texts, 'j', params, rules, limits, join(dir, 'inputs'));
      expect(spooled.shards.map((s) => s.body)).toEqual(
        [0, 1, 2].map((shard) => ({ path: join(dir, 'inputs', `s${shard}.jsonl`) })),
      );
      expect(spooled.shards.map((s) => bytesOf(s.body))).toEqual(inMemory.shards.map((s) => s.body));
      expect(spooled.shards.map((s) => s.sha256)).toEqual(inMemory.shards.map((s) => s.sha256));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('requestLinesOf', () => {
  test('gives the request lines of the inputs sent again, byte for byte and in order, from memory or a spooled file read in many chunks', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'embedrail-again-'));
    try {
      await fc.assert(
        fc.asyncProperty(
          // Texts up to 40 KB of two-byte characters and line breaks: lines and characters cross the 64 KB chunks.
          fc.array(fc.tuple(fc.string({ unit: 'binary', maxLength: 8 }), fc.nat(20_000), fc.boolean()), {
            minLength: 1,
            maxLength: 40,
          }),
          fc.integer({ min: 1, max: 40 }),
          async (inputs, maxInputs) => {
            const texts = inputs.map(([text, length]) => `${text}\n${'é'.repeat(length)}`);
            const limits = { ...roomy, maxInputsPerBatch: maxInputs };
            const long = { ...rules, maxTokensPerInput: 100_000 };
            const inMemory = await planShards(texts, 'j', params, long, limits);
            const spooled = await planShards(texts, 'j', params, long, limits, dir);
            for (const [s, shard] of inMemory.shards.entries()) {
              const again = inputs.flatMap(([, , send], i) =>
                send && i >= shard.firstIndex && i < shard.firstIndex + shard.count ? [i] : [],
              );
              // Expected: the shard's lines whose custom_id names an input sent again.
              const lines = bytesOf(shard.body).toString('utf8').split('\n').slice(0, -1);
              const wanted = lines.filter((line) => again.includes(indexOfCustomId('j', JSON.parse(line).custom_id)!));
              // Compared as latin1, one character per byte: exact, and quicker than a Buffer's toEqual.
              const expected = Buffer.from(wanted.map((line) => `${line}\n`).join(''), 'utf8').toString('latin1');
              expect((await requestLinesOf(shard, again)).toString('latin1')).toBe(expected);
              expect((await requestLinesOf(spooled.shards[s]!, again)).toString('latin1')).toBe(expected);
            }
          },
        ),
        // Shrinking shards this size outlasts the test's timeout: the first counterexample is reported as found.
        { numRuns: 20, endOnFailure: true },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test.each([
    ['past its last input', [2, 4]],
    ['before its first', [-1]],
    ['out of order', [2, 1]],
  ])('refuses an input %s, naming it and the shard', async (_what, again) => {
    const [shard] = (await planShards(['a', 'b', 'c', 'd'], 'j', params, rules, roomy)).shards;
    const missing = again.at(-1);
    await expect(requestLinesOf(shard!, again)).rejects.toThrow(
      new InvalidArgumentError(
        `Cannot send input ${missing} again from shard 0: it holds inputs 0 to 3, sent again in ascending order`,
      ),
    );
  });
});

describe('indexOfCustomId', () => {
  test.each([
    ['j-3-17', 17],
    ['j-x-1', undefined],
    ['other-0-1', undefined],
    ['j-0-', undefined],
  ])('reads %s as %s', (id, index) => {
    expect(indexOfCustomId('j', id)).toBe(index);
  });
});
