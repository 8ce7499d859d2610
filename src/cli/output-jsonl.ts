import { closeSync, openSync, truncateSync } from 'node:fs';
import { UsageError } from './io.js';
import { exists, scanLines, writeAll } from './files.js';
import type { OpenOptions, OutputWriter } from './output.js';
import { QueuedWrites, checkLength, refuseExisting, resumedDimensions } from './output.js';

// Lines this package writes start with the id, so resuming reads ids without parsing vectors.
const ID_PREFIX = /^\{"id":("(?:[^"\\]|\\.)*")/;

/**
 * `{"id":"…","embedding":[…]}` per line. Numbers are written with 9 significant digits, the
 * fewest that always give back the same float32, about half the size of a double's digits.
 */
export async function openJsonlOutput(path: string, options: OpenOptions): Promise<OutputWriter> {
  const done = new Set<string>();
  let dimensions = options.dimensions;
  if (await exists(path)) {
    if (options.resume) {
      const kept = await scanLines(path, (line, number) => {
        const record = readRecord(line.toString('utf8'), number === 1);
        if (!record)
          throw new UsageError(`cannot resume '${path}': line ${number} is not an {"id","embedding"} record`);
        done.add(record.id);
        dimensions = resumedDimensions(path, dimensions, record.dimensions);
      });
      // Whatever follows the last newline is a line cut short by a crash.
      truncateSync(path, kept);
    } else if (!options.overwrite) {
      refuseExisting(path);
    }
  }
  const fd = openSync(path, options.resume ? 'a' : 'w');
  let pending: string[] = [];
  let pendingBytes = 0;
  const flush = (): void => {
    if (pending.length === 0) return;
    const bytes = Buffer.from(pending.join(''), 'utf8');
    pending = [];
    pendingBytes = 0;
    writeAll(fd, bytes);
  };
  const queue = new QueuedWrites(flush);
  return {
    files: [path],
    done,
    get dimensions() {
      return dimensions;
    },
    accepts: () => undefined,
    write(id, embedding) {
      queue.check();
      checkLength(path, id, embedding.length, dimensions);
      dimensions = embedding.length;
      const line = `{"id":${JSON.stringify(id)},"embedding":[${formatVector(embedding)}]}\n`;
      pending.push(line);
      pendingBytes += line.length;
      queue.queued(pendingBytes);
    },
    flush: () => queue.flush(),
    close() {
      try {
        queue.flush();
      } finally {
        closeSync(fd);
      }
    },
  };
}

function formatVector(embedding: ArrayLike<number>): string {
  const parts = new Array<string>(embedding.length);
  // toPrecision's own text is valid JSON ("1.00000000e-7" included); re-parsing it to drop
  // trailing zeros would cost five times as much CPU as the formatting itself.
  for (let i = 0; i < embedding.length; i++) parts[i] = embedding[i]!.toPrecision(9);
  return parts.join(',');
}

/** The id of one line, and the vector length when the whole line was parsed. */
function readRecord(line: string, parseWhole: boolean): { id: string; dimensions?: number } | undefined {
  const fast = parseWhole ? null : ID_PREFIX.exec(line);
  if (fast) return { id: JSON.parse(fast[1]!) as string };
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  const record = value as { id?: unknown; embedding?: unknown } | null;
  if (typeof record?.id !== 'string' || !Array.isArray(record.embedding)) return undefined;
  return { id: record.id, dimensions: record.embedding.length };
}
