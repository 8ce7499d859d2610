// Receive cost: client CPU for 8,192 × 1,536 base64 vectors (4 requests of 2,048) from one
// loopback server in a process of its own. Each figure is the median of 3 fresh child processes
// (bench/receive-case.mjs): cold with module loading, cold with the modules already loaded,
// and warm (mean of 8 runs after 2). Printed, never asserted: the machine is shared and noisy.
import { execFileSync } from 'node:child_process';
import { startChildServer } from './child-server.mjs';

const MODES = ['cold-import', 'cold', 'warm'];
/** Fresh processes per figure, the median taken: one cold process alone swings by 200 ms. */
const ROUNDS = 3;
const CASES = [
  ['undici', 'undici alone, receiving the bytes'],
  ['floor-rows', 'undici + a kept Float32Array per vector'],
  ['floor-decode', '… + Node decoding each from a string'],
  ['create-float32', "embedrail create() ×4, 'float32'"],
  ['create-float32-view', "embedrail create() ×4, 'float32-view'"],
  ['createMany-float32', "embedrail createMany, 'float32'"],
  ['createMany-float32-view', "embedrail createMany, 'float32-view'"],
  ['createMany-matrix', 'embedrail createMany, matrix'],
  ['openai', 'openai-node'],
];

/** Why openai-node cannot be measured here, or undefined when it can. */
async function openaiMissing() {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 22) return `needs Node 22 or later (this is ${process.version}); run the bench on Node 24 for it`;
  try {
    await import('openai');
    return undefined;
  } catch {
    return 'not installed (npm install --no-save openai to measure it)';
  }
}

export async function receiveCpuBench() {
  const server = await startChildServer({ dimensions: 1536 });
  const skipOpenai = await openaiMissing();
  const samples = new Map();
  try {
    // Round after round of every case, so that a spell of load on the shared machine falls on
    // all of them rather than on one.
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name] of CASES) {
        if (name === 'openai' && skipOpenai) continue;
        if (!samples.has(name)) samples.set(name, Object.fromEntries(MODES.map((mode) => [mode, []])));
        for (const mode of MODES) {
          const out = execFileSync(
            process.execPath,
            [new URL('./receive-case.mjs', import.meta.url).pathname, name, mode, server.url],
            {
              encoding: 'utf8',
              stdio: ['ignore', 'pipe', 'inherit'],
            },
          );
          samples.get(name)[mode].push(JSON.parse(out.trim().split('\n').pop()).cpuMs);
        }
      }
    }
  } finally {
    await server.close();
  }
  const median = (values) => values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)];
  const figures = new Map(
    [...samples].map(([name, row]) => [name, Object.fromEntries(MODES.map((mode) => [mode, median(row[mode])]))]),
  );

  console.log(
    `\nReceive: client CPU for 8,192 × 1,536 base64 vectors, 4 requests of 2,048, one loopback server (${process.version}, median of ${ROUNDS} processes)`,
  );
  console.log(`   ${''.padEnd(40)} ${MODES.map((m) => m.padStart(12)).join('')}`);
  for (const [name, label] of CASES) {
    const row = figures.get(name);
    if (!row) {
      console.log(`   ${label.padEnd(40)} skipped: ${skipOpenai}`);
      continue;
    }
    console.log(`   ${label.padEnd(40)} ${MODES.map((m) => `${row[m].toFixed(0)} ms`.padStart(12)).join('')}`);
  }
  const ratio = (a, b, mode) => (figures.get(a)[mode] / figures.get(b)[mode]).toFixed(2);
  console.log('   ratios (targets from issue 11):');
  console.log(
    `     createMany / create() ×4, float32:   warm ${ratio('createMany-float32', 'create-float32', 'warm')}×, cold ${ratio('createMany-float32', 'create-float32', 'cold')}× (target ≤ 1.15)`,
  );
  console.log(
    `     createMany float32 / raw undici:     warm ${ratio('createMany-float32', 'undici', 'warm')}× (target ≤ 1.6)`,
  );
  console.log(
    `     floor for float32 / raw undici:      warm ${ratio('floor-rows', 'undici', 'warm')}× rows alone, ${ratio('floor-decode', 'undici', 'warm')}× with the decode (no parsing in either)`,
  );
  console.log(
    `     createMany float32 / that floor:     warm ${ratio('createMany-float32', 'floor-decode', 'warm')}× (the reader, normalising and the batch engine)`,
  );
  console.log(
    `     createMany float32-view / float32:   warm ${ratio('createMany-float32-view', 'createMany-float32', 'warm')}×`,
  );
  console.log(
    `     createMany matrix / float32:         warm ${ratio('createMany-matrix', 'createMany-float32', 'warm')}×`,
  );
  if (figures.has('openai')) {
    console.log(
      `     openai-node / createMany float32:    cold with import ${ratio('openai', 'createMany-float32', 'cold-import')}× (target ≥ 2.2), warm ${ratio('openai', 'createMany-float32', 'warm')}× (target ≥ 3.5)`,
    );
  }
  return figures;
}

if (import.meta.url === `file://${process.argv[1]}`) await receiveCpuBench();
