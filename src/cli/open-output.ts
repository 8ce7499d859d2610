import { writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import type { InputType } from '../index.js';
import { UsageError } from './io.js';
import { openJsonlOutput } from './output-jsonl.js';
import { openNpyOutput } from './output-npy.js';
import { contradiction, loadMeta, metaPath, type OpenOptions, type OutputMeta, type OutputWriter } from './output.js';

/** An opened output, and the `dimensions` its requests must ask for. */
export interface Output extends OutputWriter {
  /** `--dimensions`; when resuming without it, what the output was made with. */
  readonly requestDimensions: number | undefined;
  /** `--input-type`; when resuming without it, what the output was made with. */
  readonly requestInputType: InputType | undefined;
}

/**
 * Opens `.jsonl` or `.npy` output, chosen by the extension of `path`. Resuming first checks
 * the recorded model and dimensions, so a mismatch is refused before a file is touched.
 */
export async function openOutput(path: string, options: OpenOptions): Promise<Output> {
  const extension = extname(path).toLowerCase();
  const open =
    extension === '.npy'
      ? openNpyOutput
      : extension === '.jsonl' || extension === '.ndjson'
        ? openJsonlOutput
        : undefined;
  if (!open) throw new UsageError(`--out '${path}' must end in .jsonl or .npy`);
  try {
    const recorded = options.resume ? readMeta(path, options) : undefined;
    const writer = await open(path, options);
    // Without a record (an output from before records were kept), the vectors' own length.
    const requestDimensions = options.dimensions ?? (recorded ? (recorded.dimensions ?? undefined) : writer.dimensions);
    const requestInputType = options.inputType ?? recorded?.inputType ?? undefined;
    const meta: OutputMeta = {
      model: options.model,
      dimensions: requestDimensions ?? null,
      inputType: requestInputType ?? null,
    };
    writeFileSync(metaPath(path), `${JSON.stringify(meta)}\n`);
    return Object.assign(writer, { files: [...writer.files, metaPath(path)], requestDimensions, requestInputType });
  } catch (error) {
    // A missing folder or a read-only file is a problem with the command line, not the run.
    const code = (error as NodeJS.ErrnoException).code;
    if (typeof code === 'string') throw new UsageError(`cannot write --out '${path}': ${code}`);
    throw error;
  }
}

/** The record of an output being resumed, refusing a model or dimensions other than it names. */
function readMeta(path: string, options: OpenOptions): OutputMeta | undefined {
  const meta = loadMeta(path);
  if (meta === null)
    throw new UsageError(`cannot resume '${path}': '${metaPath(path)}' is not a {"model","dimensions"} record`);
  if (meta === undefined) return undefined;
  const found = contradiction(meta, options.model, options.dimensions);
  if (found) {
    const advice = found.flag === '--model' ? `; pass --model '${meta.model}', or --overwrite to start again` : '';
    throw new UsageError(`cannot resume '${path}': it ${found.text}${advice}`);
  }
  // Without the flag the record's input type goes on, as --dimensions does; a record of none
  // (null) refuses one, since its vectors were embedded without any.
  const given = options.inputType;
  if (given !== undefined && meta.inputType !== undefined && given !== meta.inputType) {
    const made = meta.inputType === null ? 'no --input-type' : `--input-type ${meta.inputType}`;
    throw new UsageError(
      `cannot resume '${path}': it was made with ${made} but --input-type is ${given}; ` +
        `a query and a document of one text are two vectors: rerun as it was made, or --overwrite to start again`,
    );
  }
  return meta;
}
