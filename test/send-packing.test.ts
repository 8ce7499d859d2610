/**
 * Requests are packed by cl100k tokens as they always were, but an input is counted only where
 * its UTF-8 bytes (an upper bound of its tokens) cannot settle a limit. The reference here is
 * the packing every input counted exactly gives: the same requests, none over a limit.
 */
import { describe, expect, onTestFinished, test } from 'vitest';
import { packBatches, prepareText, type Unit } from '../src/batch/planner.js';
import { EmbeddingsClient, InMemoryRateLimiter, type RateLimiter, type TokensCorrection } from '../src/index.js';
import { cl100kTokenizer } from '../src/tokenizer.js';
import { useBatchApi } from './support/batch-api.js';
import { startBpeWatch } from './support/bpe-watch.js';
import { numberedTexts } from './support/openai-like.js';
import { VirtualClock } from './support/rate-sim.js';

/** A tiny LCG: the same corpus on every run. */
function random(seed: number): () => number {
  let state = seed;
  return () => (state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0) / 2 ** 32;
}

const WORDS = 'the of and a to in is you that it he was for on are as with his they at be this have from'.split(' ');
const CJK =
  '的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跑'.split(
    '',
  );
const CODE_LINES = [
  'export function add(a: number, b: number): number {',
  '  return a + b;',
  '}',
  'const result = await fetch(`${baseURL}/embeddings`, { method: "POST", body });',
  'for (let i = 0; i < items.length; i++) total += items[i].size;',
  'if (error instanceof APIError && error.status === 429) retry();',
  '    self.assertEqual(parse_config({"key": 42}), Config(key=42))',
  'SELECT id, name FROM users WHERE created_at > NOW() - INTERVAL 1 DAY;',
];

type Corpus = (i: number, rand: () => number) => string;

const english: Corpus = (i, rand) => {
  const words = Array.from({ length: 5 + Math.floor(rand() * 400) }, () => WORDS[Math.floor(rand() * WORDS.length)]);
  return `${i}. ${words.join(' ')}.`;
};
const cjk: Corpus = (i, rand) =>
  `${i}` + Array.from({ length: 5 + Math.floor(rand() * 500) }, () => CJK[Math.floor(rand() * CJK.length)]).join('');
const code: Corpus = (i, rand) =>
  `// ${i}\n` +
  Array.from({ length: 1 + Math.floor(rand() * 60) }, () => CODE_LINES[Math.floor(rand() * CODE_LINES.length)]).join(
    '\n',
  );

function corpus(make: Corpus, count: number, seed: number): string[] {
  const rand = random(seed);
  return Array.from({ length: count }, (_, i) => make(i, rand));
}

/** Today's packing, every input counted first: the sizes (in inputs) of the requests it forms. */
function exactPacking(texts: string[], maxInputs: number, maxTokens: number): number[] {
  const sizes: number[] = [];
  let inputs = 0;
  let tokens = 0;
  for (const text of texts) {
    const count = cl100kTokenizer.count(text);
    if (inputs > 0 && tokens + count > maxTokens) {
      sizes.push(inputs);
      inputs = 0;
      tokens = 0;
    }
    inputs++;
    tokens += count;
    if (inputs >= maxInputs) {
      sizes.push(inputs);
      inputs = 0;
      tokens = 0;
    }
  }
  if (inputs > 0) sizes.push(inputs);
  return sizes;
}

const rules = { tokenizer: cl100kTokenizer, maxTokensPerInput: 8192, truncate: false };
const units = (texts: string[]): Unit[] =>
  texts.map((text, i) => ({ ...prepareText(text, `input[${i}]`, rules), indices: [i], ids: [undefined] }));

describe('packing counts only what the byte bound cannot settle', () => {
  test.each([
    ['English', 2048, 297_000, english, 4000],
    ['English', 2048, 30_000, english, 4000],
    ['CJK', 2048, 297_000, cjk, 1500],
    ['CJK', 100, 20_000, cjk, 1500],
    ['code', 2048, 297_000, code, 4000],
    ['code', 512, 8192, code, 4000],
  ] as const)(
    '%s, %i inputs and %i tokens per request: the requests of exact counting, none over',
    (_, maxInputs, maxTokens, make, count) => {
      const texts = corpus(make, count, maxTokens);
      const expected = exactPacking(texts, maxInputs, maxTokens);
      const batches = packBatches(
        units(texts),
        { maxInputsPerRequest: maxInputs, maxTokensPerRequest: maxTokens },
        cl100kTokenizer,
      );
      expect(batches.map((batch) => batch.units.length)).toEqual(expected);
      // Every input once, in order.
      expect(batches.flatMap((batch) => batch.units.map((unit) => unit.indices[0]))).toEqual(texts.map((_, i) => i));
      for (const batch of batches) {
        const exact = batch.units.reduce((sum, unit) => sum + cl100kTokenizer.count(unit.text), 0);
        expect(exact).toBeLessThanOrEqual(maxTokens);
        // What a request says it holds bounds what it holds.
        expect(batch.tokens).toBeGreaterThanOrEqual(exact);
      }
    },
  );

  test('short inputs in requests closed by their count are never counted', () => {
    const texts = numberedTexts(5000, 'a short note');
    const watch = startBpeWatch();
    const batches = packBatches(
      units(texts),
      { maxInputsPerRequest: 2048, maxTokensPerRequest: 297_000 },
      cl100kTokenizer,
    );
    expect(watch.stop().charactersCounted).toBe(0);
    expect(batches.map((batch) => batch.units.length)).toEqual([2048, 2048, 904]);
  });

  test('requests over the budget in bytes but not in tokens count only what decides it', () => {
    // About 180 bytes and 50 tokens each: 2048 of them hold 370,000 bytes but 100,000 tokens, so
    // the bound settles a 297,000-token budget once about a quarter of them are counted.
    const texts = corpus((i, rand) => english(i, rand).slice(0, 180), 4096, 3);
    const watch = startBpeWatch();
    const batches = packBatches(
      units(texts),
      { maxInputsPerRequest: 2048, maxTokensPerRequest: 297_000 },
      cl100kTokenizer,
    );
    expect(batches.map((batch) => batch.units.length)).toEqual([2048, 2048]);
    const counted = watch.stop().charactersCounted;
    const all = texts.reduce((sum, text) => sum + text.length, 0);
    expect(counted).toBeGreaterThan(0);
    expect(counted).toBeLessThan(all / 2);
  });

  test('an input over maxTokensPerInput bytes is counted before any request, and one over in tokens still fails', () => {
    const fits = 'word '.repeat(3000); // 15,000 bytes, about 3,000 tokens
    expect(prepareText(fits, 'input[0]', rules)).toMatchObject({ tokens: cl100kTokenizer.count(fits) });
    expect(prepareText('word '.repeat(1000), 'input[0]', rules)).toMatchObject({ tokens: undefined, bound: 5000 });
    expect(() => prepareText('word '.repeat(9000), 'input[4]', rules)).toThrow(
      /^`input\[4\]` has 9\d{3} tokens, over `maxTokensPerInput` \(8192\)/,
    );
  });
});

describe('tokens charged at the wire when counting is skipped', () => {
  const wire = useBatchApi();

  /** Records what a limiter is charged and corrected by, passing both on to `inner`. */
  function recording(inner: RateLimiter) {
    const charged: number[] = [];
    const corrections: TokensCorrection[] = [];
    const limiter: RateLimiter = {
      limits: inner.limits,
      acquire: (options) => {
        charged.push(options.tokens);
        return inner.acquire(options);
      },
      reconcile: (correction) => {
        corrections.push(correction);
        inner.reconcile?.(correction);
      },
    };
    return { limiter, charged, corrections };
  }

  test('createMany sends the requests of exact counting, counts its first, then charges tokens per byte learnt and takes the server’s count', async () => {
    const server = wire.serve();
    const inner = new InMemoryRateLimiter({ tokensPerMinute: 10_000_000, clock: new VirtualClock() });
    const { limiter, charged, corrections } = recording(inner);
    const client = new EmbeddingsClient({ baseURL: wire.api.url, rateLimiter: limiter, maxConcurrency: 1 });
    onTestFinished(() => client.close());
    // Short texts: requests close at 2048 inputs, and the bound settles most of each.
    const texts = corpus(
      (i, rand) =>
        english(i, rand)
          .split(' ')
          .slice(0, 5 + (i % 55))
          .join(' '),
      5000,
      11,
    );
    const res = await client.embeddings.createMany(
      { model: 'text-embedding-3-small', input: texts },
      { maxConcurrency: 1, maxTokensPerRequest: 100_000 },
    );
    expect(res.data).toHaveLength(texts.length);
    const sizes = server.seen.map((request) => request.texts.length);
    expect(sizes).toEqual(exactPacking(texts, 2048, 100_000));
    expect(server.seen.every((request) => request.status === 200 && request.tokens <= 100_000)).toBe(true);

    const used = server.seen.map((request) => request.tokens);
    // Nothing learnt yet: the first request is counted exactly.
    expect(charged[0]).toBe(used[0]);
    // Then what was not counted is charged the server's tokens per byte, 5% over, never more than its bytes.
    let bytes = 0;
    let tokens = 0;
    server.seen.forEach((request, k) => {
      const requestBytes = request.texts.reduce((sum, text) => sum + Buffer.byteLength(text), 0);
      if (k > 0) {
        expect(charged[k]).toBeLessThanOrEqual(requestBytes);
        expect(charged[k]).toBeGreaterThanOrEqual(Math.floor(used[k]! * 0.9));
      }
      bytes += requestBytes;
      tokens += used[k]!;
    });
    expect(bytes).toBeGreaterThan(3 * tokens);
    // Each estimate is replaced by the server's count: the budget holds what was used.
    expect(corrections).toEqual(used.slice(1).map((u, k) => ({ charged: charged[k + 1], used: u })));
    expect(inner.snapshot().tokens.available).toBe(10_000_000 - tokens);
  });

  test('create() charges UTF-8 bytes until an answer teaches tokens per byte, then the estimate, each reconciled to usage', async () => {
    const server = wire.serve();
    const inner = new InMemoryRateLimiter({ tokensPerMinute: 1_000_000, clock: new VirtualClock() });
    const { limiter, charged, corrections } = recording(inner);
    const client = new EmbeddingsClient({ baseURL: wire.api.url, rateLimiter: limiter });
    onTestFinished(() => client.close());
    const first = ['hello world, this is a test', 'again and again'];
    const second = ['another request of some words', 'and one more'];
    await client.embeddings.create({ model: 'text-embedding-3-small', input: first });
    await client.embeddings.create({ model: 'text-embedding-3-small', input: second });
    const used = server.seen.map((request) => request.tokens);
    const bytes = (texts: string[]) => texts.reduce((sum, text) => sum + Buffer.byteLength(text), 0);
    expect(charged).toEqual([bytes(first), Math.ceil((bytes(second) * used[0]! * 1.05) / bytes(first))]);
    expect(corrections).toEqual([
      { charged: charged[0], used: used[0] },
      { charged: charged[1], used: used[1] },
    ]);
    expect(inner.snapshot().tokens.available).toBe(1_000_000 - used[0]! - used[1]!);
  });
});
