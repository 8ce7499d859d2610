/**
 * `embedrail batch` end to end against the local server's Batch API: in-process for the
 * outputs, exit codes and resume, and as a child process killed with SIGKILL mid-job.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { EmbeddingsClient, fileJournal, resultsDirOf, type BatchJobState } from '../src/index.js';
import { createServer, type LocalServer, type ServerOptions } from '../src/server/index.js';
import { startCli } from './support/cli-child.js';
import { batchArgs, buildCli, createdKeys, readJsonl, readNpy, run, tempDir, until } from './support/cli-helpers.js';

const dir = tempDir();
const servers: LocalServer[] = [];
afterAll(async () => {
  for (const server of servers) await server.close();
  dir.remove();
});

async function serve(options: ServerOptions = {}): Promise<string> {
  const server = createServer({ batchProcessingMs: 40, batchShuffle: true, seed: 3, ...options });
  servers.push(server);
  return (await server.listen(0)).url;
}

let counter = 0;
function corpus(count: number): { input: string; ids: string[]; texts: string[] } {
  const input = dir.path(`input-${++counter}.jsonl`);
  const ids = Array.from({ length: count }, (_, i) => `doc-${i}`);
  const texts = ids.map((id, i) => `${id} is about ${['rivers', 'mountains', 'cities', 'forests'][i % 4]} and more`);
  writeFileSync(input, ids.map((id, i) => `${JSON.stringify({ id, text: texts[i] })}\n`).join(''));
  return { input, ids, texts };
}

describe('embedrail batch', () => {
  test('writes every id once, in input order, with the vectors embed writes; progress on stderr', async () => {
    const url = await serve({ batchFailRate: 0.2, batchMissingRate: 0.1 });
    const { input, ids, texts } = corpus(35);
    const out = dir.path('plain.jsonl');
    const journal = dir.path('plain.job.json');
    const result = await run(batchArgs(input, url, out, journal, '--max-attempts', '10'));
    expect(result.stderr).toMatch(/batches .*completed \d+.* · inputs \d+\/35 done, 0 failed, \d+ retried/);
    // Where the vectors are kept besides the output (the folder the journal names), and how much room they take.
    expect(result.stderr).toMatch(/ keeps the vectors too \(\d+ kB\), so rerunning writes the output again/);
    expect(result.stderr).toContain(`embedrail: ${resultsDirOf(fileJournal(journal))} keeps the vectors too (`);
    expect(result.code).toBe(0);
    const records = readJsonl(out);
    expect(records.map((r) => r.id)).toEqual(ids);
    const client = new EmbeddingsClient({ baseURL: url, apiKey: 'sk-test' });
    const direct = await client.embeddings.create({ model: 'text-embedding-3-small', input: texts.slice(0, 3) });
    await client.close();
    records.slice(0, 3).forEach((r, i) => {
      const expected = direct.data[i]!.embedding;
      r.embedding.forEach((value, j) => expect(value).toBeCloseTo(expected[j]!, 6));
    });
    expect(existsSync(`${out}.failures.jsonl`)).toBe(false);
  });

  test('inputs refused by the server go to <out>.failures.jsonl with exit code 1; every id in exactly one file', async () => {
    const url = await serve({ batchRejectRate: 0.3 });
    const { input, ids } = corpus(30);
    const out = dir.path('rejects.npy');
    const result = await run(batchArgs(input, url, out, dir.path('rejects.job.json')));
    expect(result.code).toBe(1);
    const failed = readJsonl<{ id: string; error: { name: string; status: number } }>(`${out}.failures.jsonl`);
    expect(failed.length).toBeGreaterThan(0);
    for (const f of failed) expect(f.error).toMatchObject({ name: 'BadRequestError', status: 400 });
    const kept = readFileSync(`${out}.ids.txt`, 'utf8').trimEnd().split('\n');
    expect([...kept, ...failed.map((f) => f.id)].sort()).toEqual([...ids].sort());
    expect(readNpy(out).shape).toEqual([kept.length, 384]);
  });

  test('an id the .npy ids file cannot hold (a line break) is a failure before any upload; the others line up', async () => {
    const url = await serve();
    const input = dir.path('breaks.jsonl');
    const records = [
      { id: 'a', text: 'first' },
      { id: 'b\nc', text: 'second' },
      { id: 'd', text: 'third' },
    ];
    writeFileSync(input, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
    const out = dir.path('breaks.npy');
    const result = await run(batchArgs(input, url, out, dir.path('breaks.job.json')));
    expect(result.code).toBe(1);
    expect(readFileSync(`${out}.ids.txt`, 'utf8')).toBe('a\nd\n');
    expect(readNpy(out).shape).toEqual([2, 384]);
    const failed = readJsonl<{ id: string; error: { message: string } }>(`${out}.failures.jsonl`);
    expect(failed.map((f) => f.id)).toEqual(['b\nc']);
    expect(failed[0]!.error.message).toMatch(/line break/);
  });

  test('--detach submits and exits; status reads the journal, --live the server; the same command without it collects', async () => {
    const url = await serve({ batchProcessingMs: 150 });
    const { input, ids } = corpus(25);
    const out = dir.path('detached.jsonl');
    const journal = dir.path('detached.job.json');
    const detached = await run(batchArgs(input, url, out, journal, '--detach'));
    expect(detached.code).toBe(0);
    expect(detached.stderr).toMatch(/job ejob_\w+ submitted/);
    expect(existsSync(out)).toBe(false);
    const status = await run(['batch', 'status', '--journal', journal]);
    expect(status.code).toBe(0);
    const shown = JSON.parse(status.stdout) as { totalInputs: number; batches: Record<string, number>; done: boolean };
    expect(shown.totalInputs).toBe(25);
    expect(shown.done).toBe(false);
    expect(Object.values(shown.batches).reduce((a, b) => a + b, 0)).toBe(3);
    expect(shown.batches.pending).toBeUndefined();
    // --live asks the server, and leaves the journal as it was.
    const before = readFileSync(journal, 'utf8');
    let live = { live: false, batches: {} as Record<string, number>, requests: {} as Record<string, number> };
    for (let asks = 0; asks < 100 && live.batches.completed !== 3; asks++) {
      const asked = await run(['batch', 'status', '--journal', journal, '--live', '--base-url', url]);
      expect(asked.code, asked.stderr).toBe(0);
      live = JSON.parse(asked.stdout) as typeof live;
    }
    expect(live).toMatchObject({ live: true, totalInputs: 25, requests: { total: 25, completed: 25, failed: 0 } });
    expect(readFileSync(journal, 'utf8')).toBe(before);
    const unreachable = await run([
      'batch',
      'status',
      '--journal',
      journal,
      '--live',
      '--base-url',
      'http://127.0.0.1:9/v1',
    ]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/cannot reach the server: .*check --base-url/);
    const collected = await run(batchArgs(input, url, out, journal));
    expect(collected.code).toBe(0);
    expect(readJsonl(out).map((r) => r.id)).toEqual(ids);
    expect(await createdKeys(url, journal)).toHaveLength(3);
  });

  test('usage errors: a journal of another input, a missing --journal', async () => {
    const url = await serve();
    const first = corpus(5);
    const journal = dir.path('other.job.json');
    expect((await run(batchArgs(first.input, url, dir.path('o1.jsonl'), journal))).code).toBe(0);
    const second = corpus(6);
    const again = await run(batchArgs(second.input, url, dir.path('o2.jsonl'), journal));
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/The journal holds job ejob_\w+ of 5 inputs/);
    const missing = await run(['batch', first.input, '--out', dir.path('o3.jsonl')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--journal/);
  });

  test('a base URL without /v1 stops with advice to fix it, naming the journal that keeps what was done', async () => {
    const url = (await serve()).replace(/\/v1$/, '');
    const { input } = corpus(3);
    const journal = dir.path('no-v1.job.json');
    const result = await run(batchArgs(input, url, dir.path('no-v1.jsonl'), journal));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('the server has no such model or endpoint (404)');
    expect(result.stderr).toContain(`${journal} keeps what was done; fix --model or --base-url and rerun`);
  });
});

describe('embedrail batch killed with SIGKILL', () => {
  let cli: string;
  beforeAll(async () => {
    cli = await buildCli();
  }, 60_000);

  test('rerun after kills at several points ends with every id once and no batch created twice', async () => {
    const url = await serve({ batchProcessingMs: 250, batchFailRate: 0.05 });
    const { input, ids } = corpus(400);
    const out = dir.path('killed.jsonl');
    const journal = dir.path('killed.job.json');
    const args = batchArgs(input, url, out, journal, '--max-inputs-per-batch', '60', '--max-attempts', '10');
    const state = (): BatchJobState | undefined => {
      try {
        return JSON.parse(readFileSync(journal, 'utf8')) as BatchJobState;
      } catch {
        return undefined;
      }
    };
    // Kill points: after the first upload, mid-creation, after some batches exist, after collection began.
    const killWhen: ((s: BatchJobState) => boolean)[] = [
      (s) => s.batches.some((b) => b.fileId !== undefined),
      (s) => s.batches.some((b) => b.creating === true || b.batchId !== undefined),
      (s) => s.batches.filter((b) => b.batchId !== undefined).length >= 4,
      (s) => s.batches.some((b) => b.collected !== undefined),
      (s) => s.batches.filter((b) => b.collected !== undefined).length >= 4,
    ];
    let kills = 0;
    for (const when of killWhen) {
      const child = startCli(cli, args);
      let exited = false;
      void child.exit.then(() => (exited = true));
      await until(() => exited || (state() !== undefined && when(state()!)), 3000);
      if (!exited) {
        child.child.kill('SIGKILL');
        kills++;
      }
      const exit = await child.exit;
      if (exit.code === 0) break;
    }
    expect(kills).toBeGreaterThanOrEqual(3);
    const last = await startCli(cli, args).exit;
    expect(last.stderr).not.toMatch(/stopped/);
    expect(last.code).toBe(0);
    expect(readJsonl(out).map((r) => r.id)).toEqual(ids);
    const keys = await createdKeys(url, journal);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.length).toBeGreaterThanOrEqual(7);
  }, 120_000);
});
