// `embedrail search` over a generated .npy of a few hundred MB, printing the CLI process's peak
// RSS beside the file's size. search scans the file in chunks, so the peak should stay flat
// whatever the size; loading the matrix whole would cost at least the file's size.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startChildServer } from './child-server.mjs';

const MB = 1024 * 1024;
const CLI = new URL('../dist/cli.js', import.meta.url).pathname;
// Prints the process's peak RSS (KiB) on stderr as it exits, whatever the exit path.
const PROBE = `data:text/javascript,process.on('exit',()=>process.stderr.write('peak-rss-kib '+process.resourceUsage().maxRSS+'\\n'))`;

/** @param {{ rows?: number, dimensions?: number }} options about 400 MB by default */
export async function searchMemoryBench({ rows = 100_000, dimensions = 1024 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'embedrail-bench-search-'));
  const server = await startChildServer({ dimensions });
  try {
    const path = join(dir, 'big.npy');
    const generated = performance.now();
    writeNpy(path, rows, dimensions);
    writeFileSync(`${path}.ids.txt`, Array.from({ length: rows }, (_, i) => `doc-${i}\n`).join(''));
    const size = statSync(path).size;
    const seconds = ((performance.now() - generated) / 1000).toFixed(1);

    const started = performance.now();
    const run = spawnSync(
      process.execPath,
      ['--import', PROBE, CLI, 'search', path, 'a query about bread', '-k', '10', '--base-url', server.url],
      {
        encoding: 'utf8',
      },
    );
    const elapsed = (performance.now() - started) / 1000;
    const peak = Number(/peak-rss-kib (\d+)/.exec(run.stderr)?.[1]) * 1024;
    if (run.status !== 0 || !Number.isFinite(peak)) throw new Error(`search exited with ${run.status}: ${run.stderr}`);
    const hits = run.stdout.trimEnd().split('\n').length;

    console.log(
      `\n4. embedrail search over a generated .npy (${rows.toLocaleString('en')} × ${dimensions} float32, written in ${seconds} s)`,
    );
    console.log(`   file size:           ${(size / MB).toFixed(0)} MB`);
    console.log(
      `   search:              ${hits} hits in ${elapsed.toFixed(1)} s (${(size / MB / elapsed).toFixed(0)} MB/s, process start included)`,
    );
    console.log(
      `   peak RSS (maxRSS):   ${(peak / MB).toFixed(0)} MB = ${(peak / size).toFixed(2)} × the file size (loading it whole: ≥ 1.00 ×)`,
    );
    return { size, peak, elapsed };
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A .npy 1.0 header for a float32 matrix (the package does not export its own writer). */
function npyHeader(rows, dimensions) {
  const header = Buffer.alloc(128, 0x20);
  header.write('\x93NUMPY\x01\x00', 0, 'latin1');
  header.writeUInt16LE(128 - 10, 8);
  header.write(`{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${dimensions}), }`, 10, 'latin1');
  header[127] = 0x0a;
  return header;
}

/** Rows of small varied values, written 8 MB at a time so generating stays cheap. */
function writeNpy(path, rows, dimensions) {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, npyHeader(rows, dimensions));
    const rowsPerBlock = Math.max(1, Math.floor((8 * MB) / (dimensions * 4)));
    const block = new Float32Array(rowsPerBlock * dimensions);
    for (let i = 0; i < block.length; i++) block[i] = Math.sin(i * 0.618) * 0.1;
    const bytes = Buffer.from(block.buffer);
    for (let written = 0; written < rows; written += rowsPerBlock) {
      const count = Math.min(rowsPerBlock, rows - written);
      writeSync(fd, bytes, 0, count * dimensions * 4);
    }
  } finally {
    closeSync(fd);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await searchMemoryBench({ rows: Number(process.argv[2] ?? 100_000) });
}
