import { createReadStream, writeSync } from 'node:fs';
import { stat } from 'node:fs/promises';

/** `fs.writeSync` may write less than asked (a full disk, a signal); loop until all is out. */
export function writeAll(fd: number, bytes: Buffer, position?: number): void {
  let done = 0;
  while (done < bytes.length) {
    const at = position === undefined ? null : position + done;
    done += writeSync(fd, bytes, done, bytes.length - done, at);
  }
}

/** Whether `path` exists (any kind of entry). */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/**
 * Streams `path` line by line (split on `\n`, a `\r` before it removed), calling `onLine`
 * for every complete line, and returns the byte length of the complete lines. A last line
 * without its `\n` is a write cut short by a crash: it is not passed on, and the caller
 * truncates the file to the returned length.
 */
export async function scanLines(path: string, onLine: (line: Buffer, number: number) => void): Promise<number> {
  let carry: Buffer = Buffer.alloc(0);
  let complete = 0;
  let number = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    const data = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
    let start = 0;
    for (let end = data.indexOf(0x0a); end !== -1; end = data.indexOf(0x0a, start)) {
      const stop = end > start && data[end - 1] === 0x0d ? end - 1 : end;
      onLine(data.subarray(start, stop), ++number);
      complete += end + 1 - start;
      start = end + 1;
    }
    carry = data.subarray(start);
  }
  return complete;
}
