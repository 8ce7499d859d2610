/**
 * The NumPy `.npy` format, version 1.0, for a C-order little-endian float32 matrix
 * (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
 */

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

/**
 * Every header this package writes is exactly this long, padding included. A fixed size lets
 * rows be appended as they arrive and the shape be rewritten in place without moving them;
 * 128 bytes fit any row count up to 2^53. The format asks for a multiple of 64.
 */
export const NPY_HEADER_BYTES = 128;

/** The 128-byte header of a `rows × dimensions` float32 matrix. */
export function npyHeader(rows: number, dimensions: number): Buffer {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${dimensions}), }`;
  const length = NPY_HEADER_BYTES - MAGIC.length - 4;
  if (dict.length + 1 > length) throw new RangeError(`npy shape (${rows}, ${dimensions}) does not fit the header`);
  const header = Buffer.alloc(NPY_HEADER_BYTES, 0x20);
  MAGIC.copy(header, 0);
  header[6] = 1; // major version
  header[7] = 0; // minor version
  header.writeUInt16LE(length, 8);
  header.write(dict, 10, 'latin1');
  header[NPY_HEADER_BYTES - 1] = 0x0a; // the header ends in a newline
  return header;
}

/** What a `.npy` header says. */
export interface NpyInfo {
  /** Bytes before the first row. */
  dataOffset: number;
  rows: number;
  dimensions: number;
}

/**
 * Reads the header of a float32 matrix (versions 1.0 to 3.0). Throws, naming what is wrong,
 * for anything else: another dtype, Fortran order, or not two dimensions.
 */
export function parseNpyHeader(bytes: Buffer): NpyInfo {
  if (bytes.length < 10 || !bytes.subarray(0, 6).equals(MAGIC)) throw new Error('not a .npy file (bad magic)');
  const major = bytes[6];
  const wide = major === 2 || major === 3;
  if (major !== 1 && !wide) throw new Error(`unsupported .npy version ${major}`);
  const prefix = wide ? 12 : 10;
  if (bytes.length < prefix) throw new Error('truncated .npy header');
  const length = wide ? bytes.readUInt32LE(8) : bytes.readUInt16LE(8);
  if (bytes.length < prefix + length) throw new Error('truncated .npy header');
  const dict = bytes.subarray(prefix, prefix + length).toString('latin1');
  const descr = /'descr':\s*'([^']*)'/.exec(dict)?.[1];
  if (descr !== '<f4') throw new Error(`.npy dtype must be '<f4' (got '${descr}')`);
  if (!/'fortran_order':\s*False/.test(dict)) throw new Error('.npy matrix must be in C order');
  const shape = /'shape':\s*\(\s*(\d+)\s*,\s*(\d+)\s*,?\s*\)/.exec(dict);
  if (!shape) throw new Error(`.npy shape must be (rows, dimensions) (header: ${dict.trim()})`);
  return { dataOffset: prefix + length, rows: Number(shape[1]), dimensions: Number(shape[2]) };
}
