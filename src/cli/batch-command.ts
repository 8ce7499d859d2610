import { Command, Option } from 'commander';
import { BATCH_JOB_DEFAULTS } from '../index.js';
import type { CliIo } from './io.js';
import { UsageError } from './io.js';
import { batch, batchStatus } from './batch.js';
import type { BatchFlags, BatchStatusFlags } from './batch.js';
import { integer, nonEmpty } from './parse.js';
import { INPUT_FORMATS } from './readers.js';

const {
  pollInterval: POLL_INTERVAL_MS,
  maxAttempts: MAX_ATTEMPTS,
  maxInputsPerBatch: MAX_INPUTS_PER_BATCH,
} = BATCH_JOB_DEFAULTS;

/**
 * Registers `embedrail batch <input>` and `embedrail batch status` on `program`; `withClient`
 * and `withFields` add the flags `embed` has for the server and for the input's fields.
 */
export function addBatchCommand(
  program: Command,
  io: CliIo,
  done: (code: number) => void,
  withClient: (command: Command) => Command,
  withFields: (command: Command) => Command,
): void {
  const command = withClient(
    program
      .command('batch')
      .description(
        'Embed every text of a file through the Batch API (half the price, results within 24 hours), resumable from its journal.',
      )
      .argument('<input>', 'a .txt (one text per line), .jsonl or .csv file, or - for stdin')
      .option(
        '-o, --out <file>',
        'output: .jsonl ({"id","embedding"} per line) or .npy (float32 matrix, ids in <file>.ids.txt) (required)',
      )
      .requiredOption(
        '--journal <file>',
        "the job's state; rerun the same command with it to resume (required)",
        nonEmpty,
      ),
  )
    .option('--poll-interval <ms>', 'time between status checks of the batches', integer(1), POLL_INTERVAL_MS)
    .option(
      '--max-inputs-per-batch <n>',
      `inputs per batch (at most ${MAX_INPUTS_PER_BATCH})`,
      integer(1, MAX_INPUTS_PER_BATCH),
      MAX_INPUTS_PER_BATCH,
    )
    .option('--max-attempts <n>', 'batches an input may be sent in before it is a failure', integer(1), MAX_ATTEMPTS)
    .option('--truncate', 'cut inputs over 8192 tokens to that length instead of failing them', false)
    .option('--detach', 'submit the batches and exit; rerun without it (or batch status) to follow', false)
    .addOption(
      new Option(
        '--format <format>',
        'input format (default: from the extension; stdin: jsonl if it starts with {, else txt)',
      ).choices(INPUT_FORMATS),
    );
  // Not commander's required options: it would demand them of `batch status` too.
  withFields(command).action(async (input: string, flags: Partial<BatchFlags>) => {
    for (const [flag, value] of [
      ['-o, --out <file>', flags.out],
      ['--journal <file>', flags.journal],
    ] as const) {
      if (value === undefined) throw new UsageError(`required option '${flag}' not specified`);
    }
    done(await batch(input, flags as BatchFlags, io));
  });

  // `--journal` is the batch command's own option: commander reads it before it reaches `status`.
  command
    .command('status')
    .description("Print the job's progress as the journal named by --journal records it (one JSON line).")
    .option('--live', 'ask the server where each batch not yet collected is now (needs its --base-url and key)', false)
    .action(async (flags: { live: boolean }) => {
      const { journal, ...client } = command.opts<Omit<BatchStatusFlags, 'live'> & { journal?: string }>();
      if (journal === undefined) throw new UsageError("required option '--journal <file>' not specified");
      done(await batchStatus({ ...client, journal, live: flags.live }, io));
    });
}
