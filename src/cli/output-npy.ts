import { closeSync, fstatSync, openSync, readSync, truncateSync } from 'node:fs';
import { UsageError } from './io.js';
import { exists, scanLines, writeAll } from './files.js';
import { NPY_HEADER_BYTES, npyHeader, parseNpyHeader } from './npy.js';
import type { OpenOptions, OutputWriter } from './output.js';
import { QueuedWrites, checkLength, refuseExisting, resumedDimensions } from './output.js';

/** Why the ids file of the `.npy` output at `path` cannot hold `id` (a line break), or undefined. */
export function npyIdRefusal(path: string, id: string): string | undefined {
  return /[\r\n]/.test(id) ? `id contains a line break, which the ids file '${idsPath(path)}' cannot hold` : undefined;
}

/** The ids file beside a `.npy` output: row i of the matrix is line i of `<out>.ids.txt`. */
export function idsPath(path: string): string {
  return `${path}.ids.txt`;
}

/**
 * A float32 little-endian matrix with its ids beside it. Rows are appended as results
 * arrive, then the ids, then the shape in the fixed-size header is rewritten in place, so a
 * killed run leaves a loadable file. Resuming trusts the file sizes, not the header: it keeps
 * the rows that have both all their bytes and an id line, and truncates the rest.
 */
export async function openNpyOutput(path: string, options: OpenOptions): Promise<OutputWriter> {
  const ids = idsPath(path);
  const done = new Set<string>();
  let dimensions = options.dimensions;
  let rows = 0;
  let created = false;
  const found = (await exists(path)) || (await exists(ids));
  if (found && !options.resume && !options.overwrite) refuseExisting(path);
  if (found && options.resume) {
    const existing = await readExisting(path, ids);
    dimensions = resumedDimensions(path, dimensions, existing.dimensions);
    rows = existing.ids.length;
    for (const id of existing.ids) done.add(id);
    created = existing.created;
  }
  const fd = openSync(path, created ? 'r+' : 'w+');
  const idsFd = openSync(ids, options.resume ? 'a' : 'w');
  if (created) writeAll(fd, npyHeader(rows, dimensions ?? 0), 0);

  let pendingRows: Buffer[] = [];
  let pendingIds: string[] = [];
  let pendingBytes = 0;
  const flush = (): void => {
    if (pendingRows.length === 0) return;
    if (!created) {
      writeAll(fd, npyHeader(0, dimensions ?? 0), 0);
      created = true;
    }
    const data = Buffer.concat(pendingRows);
    const idLines = Buffer.from(pendingIds.join(''), 'utf8');
    const count = pendingRows.length;
    pendingRows = [];
    pendingIds = [];
    pendingBytes = 0;
    // Rows, then ids, then the shape: whichever write a crash interrupts, resuming can tell.
    writeAll(fd, data, NPY_HEADER_BYTES + rows * 4 * dimensions!);
    writeAll(idsFd, idLines);
    rows += count;
    writeAll(fd, npyHeader(rows, dimensions!), 0);
  };
  const queue = new QueuedWrites(flush);
  return {
    files: [path, ids],
    done,
    get dimensions() {
      return dimensions;
    },
    accepts: (id) => npyIdRefusal(path, id),
    write(id, embedding) {
      queue.check();
      checkLength(path, id, embedding.length, dimensions);
      dimensions = embedding.length;
      const row = Buffer.allocUnsafe(4 * embedding.length);
      // Little-endian explicitly: the header promises '<f4' whatever this machine is.
      for (let i = 0; i < embedding.length; i++) row.writeFloatLE(embedding[i]!, 4 * i);
      pendingRows.push(row);
      pendingIds.push(`${id}\n`);
      pendingBytes += row.length;
      queue.queued(pendingBytes);
    },
    flush: () => queue.flush(),
    close() {
      try {
        queue.flush();
        // An output with no rows is still a valid, empty matrix.
        if (!created) writeAll(fd, npyHeader(0, dimensions ?? 0), 0);
      } finally {
        closeSync(fd);
        closeSync(idsFd);
      }
    },
  };
}

interface Existing {
  created: boolean;
  dimensions: number | undefined;
  ids: string[];
}

async function readExisting(path: string, ids: string): Promise<Existing> {
  let header: ReturnType<typeof parseNpyHeader> | undefined;
  let size = 0;
  if (await exists(path)) {
    const fd = openSync(path, 'r');
    try {
      size = fstatSync(fd).size;
      const head = Buffer.alloc(Math.min(size, NPY_HEADER_BYTES));
      readSync(fd, head, 0, head.length, 0);
      // A file shorter than the header was killed before its first row landed.
      if (size >= NPY_HEADER_BYTES) header = parseHeader(path, head);
    } finally {
      closeSync(fd);
    }
  }
  const lines: string[] = [];
  const idBytes = (await exists(ids)) ? await scanLines(ids, (line) => lines.push(line.toString('utf8'))) : 0;
  const dimensions = header && header.dimensions > 0 ? header.dimensions : undefined;
  const fullRows = dimensions ? Math.floor((size - NPY_HEADER_BYTES) / (4 * dimensions)) : 0;
  const rows = Math.min(fullRows, lines.length);
  // Keep only rows that have an id and ids that have a row; drop the rest.
  if (header) truncateSync(path, NPY_HEADER_BYTES + rows * 4 * (dimensions ?? 0));
  else if (size > 0) truncateSync(path, 0);
  if (await exists(ids)) truncateSync(ids, rows === lines.length ? idBytes : byteLength(lines, rows));
  return { created: header !== undefined, dimensions, ids: lines.slice(0, rows) };
}

function parseHeader(path: string, head: Buffer): ReturnType<typeof parseNpyHeader> {
  try {
    const info = parseNpyHeader(head);
    if (info.dataOffset !== NPY_HEADER_BYTES) throw new Error('header was not written by embedrail');
    return info;
  } catch (error) {
    throw new UsageError(`cannot resume '${path}': ${(error as Error).message}`);
  }
}

function byteLength(lines: string[], count: number): number {
  let bytes = 0;
  for (let i = 0; i < count; i++) bytes += Buffer.byteLength(lines[i]!, 'utf8') + 1;
  return bytes;
}
