/**
 * Shared by the test/cli-*.test.ts files: in-memory stdio for runCli, temp dirs, file readers,
 * `embedrail serve` in-process and `embedrail batch`'s arguments.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, expect } from 'vitest';
import { runCli } from '../../src/cli/program.js';
import { EmbeddingsClient, type BatchJobState } from '../../src/index.js';
import { createServer, localHashEmbedding } from '../../src/server/index.js';
import type { LocalServer } from '../../src/server/index.js';
import type { CliIo } from '../../src/cli/io.js';
import { batchCommandArgs } from '../../bench/batch-args.mjs';
import { bundleForChild } from './bundle.js';
import { maxDifference } from './vector-math.js';

export interface Captured {
  stream: Writable & { isTTY?: boolean; columns?: number };
  readonly text: string;
}

export function capture(isTTY = false): Captured {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      text += chunk.toString();
      callback();
    },
  }) as Captured['stream'];
  stream.isTTY = isTTY;
  if (isTTY) stream.columns = 160;
  return {
    stream,
    get text() {
      return text;
    },
  };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process, as `embedrail <argv>` would, with `stdin` as its standard input. */
export async function run(argv: string[], options: { stdin?: string; signal?: AbortSignal } = {}): Promise<RunResult> {
  const stdout = capture();
  const stderr = capture();
  const io: CliIo = {
    stdin: Readable.from(options.stdin === undefined ? [] : [Buffer.from(options.stdin)]),
    stdout: stdout.stream,
    stderr: stderr.stream,
    signal: options.signal,
  };
  const code = await runCli(argv, io);
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** Polls `check` every 10 ms, at most `limit` times; no timing is asserted. */
export async function until(check: () => boolean, limit = 2000): Promise<void> {
  for (let i = 0; i < limit && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
}

/**
 * Runs `embedrail serve --port 0 <flags>` in-process, calls `use` with the API root it prints
 * once it listens, then stops it, expecting exit 0. Returns what it wrote.
 */
export async function serving(
  flags: string[],
  use: (url: string) => Promise<void>,
): Promise<{ stdout: string; stderr: string }> {
  const stdout = capture();
  const stderr = capture();
  const controller = new AbortController();
  const running = runCli(['serve', '--port', '0', ...flags], {
    stdin: Readable.from([]),
    stdout: stdout.stream,
    stderr: stderr.stream,
    signal: controller.signal,
  });
  // The root is the last path ending in /v1 on its line: /v1, or /openai/v1 for an Azure style.
  const root = /http:\/\/\S+\/v1\b/;
  try {
    await until(() => root.test(stdout.text) || stderr.text !== '', 2000);
    const url = root.exec(stdout.text)?.[0];
    expect(url, stderr.text).toBeDefined();
    await use(url!);
  } finally {
    controller.abort();
    expect(await running).toBe(0);
  }
  return { stdout: stdout.text, stderr: stderr.text };
}

export function tempDir(): { dir: string; path: (name: string) => string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'embedrail-cli-'));
  return { dir, path: (name) => join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface JsonlVector {
  id: string;
  embedding: number[];
}

export function readJsonl<T = JsonlVector>(path: string): T[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as T);
}

/** Parses a .npy file by the format's own rules, independently of src/cli/npy.ts. */
export function readNpy(path: string): {
  version: [number, number];
  descr: string;
  shape: number[];
  data: Float32Array;
  dataBytes: number;
} {
  const bytes = readFileSync(path);
  if (bytes.subarray(0, 6).toString('latin1') !== '\x93NUMPY') throw new Error('bad magic');
  const version: [number, number] = [bytes[6]!, bytes[7]!];
  const headerLength = bytes.readUInt16LE(8);
  const header = bytes.subarray(10, 10 + headerLength).toString('latin1');
  if ((10 + headerLength) % 64 !== 0) throw new Error(`header not 64-byte aligned: ${10 + headerLength}`);
  if (!header.endsWith('\n')) throw new Error('header does not end in a newline');
  const descr = /'descr': '([^']+)'/.exec(header)![1]!;
  const shape = /'shape': \(([^)]*)\)/
    .exec(header)![1]!
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const body = bytes.subarray(10 + headerLength);
  const data = new Float32Array(body.length / 4);
  for (let i = 0; i < data.length; i++) data[i] = body.readFloatLE(4 * i);
  return { version, descr, shape, data, dataBytes: body.length };
}

/**
 * `embedrail batch` of `input` into `out`, journalled at `journal`, against `url`: polling every
 * 5 ms, 10 inputs a batch. Flags in `more` come last, so they override those two.
 */
export function batchArgs(input: string, url: string, out: string, journal: string, ...more: string[]): string[] {
  return batchCommandArgs(
    input,
    url,
    out,
    journal,
    '--api-key',
    'sk-test',
    '--poll-interval',
    '5',
    '--max-inputs-per-batch',
    '10',
    ...more,
  );
}

/** The metadata key of every batch the server at `url` created for the job in `journal`, repeats kept. */
export async function createdKeys(url: string, journal: string): Promise<string[]> {
  const { jobId } = JSON.parse(readFileSync(journal, 'utf8')) as BatchJobState;
  const client = new EmbeddingsClient({ baseURL: url, apiKey: 'sk-test' });
  const keys: string[] = [];
  for await (const batch of client.batches.list({ limit: 100 })) {
    if (batch.metadata?.embedrail_job === jobId) keys.push(batch.metadata.embedrail_batch!);
  }
  await client.close();
  return keys;
}

/** The input, output and error files the job in `journal` left at the server at `url`. */
export async function leftFiles(url: string, journal: string): Promise<string[]> {
  const { jobId } = JSON.parse(readFileSync(journal, 'utf8')) as BatchJobState;
  const client = new EmbeddingsClient({ baseURL: url, apiKey: 'sk-test' });
  const names: string[] = [];
  for await (const file of client.files.list()) if (file.filename.includes(jobId)) names.push(file.filename);
  await client.close();
  return names;
}

/** The CLI bundled for tests that need a real process: signals, SIGKILL. */
export function buildCli(): Promise<string> {
  return bundleForChild('src/cli/main.ts', 'cli', 'cli-test');
}

/**
 * A local server (64 dimensions) for the test file, fresh paths per test, and `embed()` that
 * runs the CLI against it and says how many requests and inputs the server saw.
 */
export function embedHarness() {
  const state = { server: undefined as unknown as LocalServer, url: '' };
  const dir = tempDir();
  let counter = 0;
  beforeAll(async () => {
    state.server = createServer({ dimensions: 64 });
    ({ url: state.url } = await state.server.listen(0, '127.0.0.1'));
  });
  afterAll(async () => {
    await state.server.close();
    dir.remove();
  });
  return {
    state,
    dir,
    /** A fresh output path per test, so tests never see each other's files. */
    out: (extension = 'jsonl') => dir.path(`out-${++counter}.${extension}`),
    input(name: string, content: string): string {
      const path = dir.path(name);
      writeFileSync(path, content);
      return path;
    },
    async embed(args: string[], options: { stdin?: string; signal?: AbortSignal; url?: string } = {}) {
      const before = { ...state.server.stats };
      const result = await run(['embed', ...args, '--base-url', options.url ?? state.url], options);
      const after = state.server.stats;
      return { ...result, requests: after.embeddings - before.embeddings, inputs: after.inputs - before.inputs };
    },
  };
}

/** Each record's vector is the local model's vector of the text with that id: nothing mixed up. */
export function expectVectorsOf(records: JsonlVector[], texts: Record<string, string>, dimensions = 64): void {
  expect(records.map((r) => r.id).sort()).toEqual(Object.keys(texts).sort());
  for (const record of records) {
    expect(record.embedding).toHaveLength(dimensions);
    expect(
      maxDifference(record.embedding, localHashEmbedding(texts[record.id]!, dimensions)),
      `id ${record.id}`,
    ).toBeLessThan(1e-6);
  }
}
