import { Command, CommanderError, Option } from 'commander';
import { BATCH_DEFAULTS, DEFAULTS, INPUT_TYPES, PRESET_NAMES, PRESETS, VERSION } from '../index.js';
import { HEADER_STYLES, MAX_DIMENSIONS, MAX_INPUTS, SERVER_DEFAULTS, SERVER_STYLES } from '../server/index.js';
import { addBatchCommand } from './batch-command.js';
import { embed } from './embed.js';
import type { EmbedFlags } from './embed.js';
import type { CliIo } from './io.js';
import { EXIT, UsageError, oneLine } from './io.js';
import { integer, nonEmpty, number, positive, positiveUpTo } from './parse.js';
import { INPUT_FORMATS } from './readers.js';
import { search } from './search.js';
import type { SearchFlags } from './search.js';
import { serve } from './serve.js';
import type { ServeFlags } from './serve.js';

/** The model `embed` and `search` use without `--model`. */
export const DEFAULT_MODEL = 'text-embedding-3-small';

const ENV_BASE_URL = `$EMBEDRAIL_BASE_URL, then the --preset's root, then $OPENAI_BASE_URL, then ${DEFAULTS.baseURL}`;
const ENV_API_KEY =
  '$EMBEDRAIL_API_KEY, then $OPENAI_API_KEY, or for a hosted --preset its own ($VOYAGE_API_KEY, ...); ' +
  'prefer these, a key on the command line shows in ps';
/** The library's preset when none is named: what `--preset` defaults to. */
const DEFAULT_PRESET = 'openai';

/**
 * Runs one command line (`argv` without node and the script) and resolves with the exit code:
 * 0 done, 1 some inputs failed or the run stopped on an error, 2 a usage error (bad flag,
 * unreadable file; one line on stderr), 130 interrupted. Never calls process.exit, so tests
 * run it in-process.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has already printed its message (or the help) through configureOutput.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    io.stderr.write(`embedrail: ${oneLine(error)}\n`);
    return error instanceof UsageError ? EXIT.usage : EXIT.failed;
  }
}

/** The commander program, exposed so a test can check that `--help` lists every option. */
export function buildProgram(io: CliIo, done: (code: number) => void = () => {}): Command {
  const program = new Command('embedrail')
    .description('Embed files with any OpenAI-compatible embeddings API, search the vectors, or serve a local API.')
    .version(VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help for a command')
    .showSuggestionAfterError(true)
    .configureHelp({ showGlobalOptions: false })
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      // One line, suggestion included, so scripts and logs get the whole message.
      outputError: (text, write) => write(`embedrail: ${oneLine(text.replace(/^error: /, ''))}\n`),
    })
    .exitOverride();

  // Where the id and the text are in an input file: `embed` reads them, `search --texts` too.
  const fields = (command: Command): Command =>
    command
      .option('--id-field <name>', 'JSONL field holding the id (missing: the line number)', nonEmpty, 'id')
      .option('--text-field <name>', 'JSONL field holding the text', nonEmpty, 'text')
      .option('--id-column <name>', 'CSV column holding the id (absent: the data row number)', nonEmpty, 'id')
      .option('--text-column <name>', 'CSV column holding the text', nonEmpty, 'text');

  const client = (command: Command): Command =>
    command
      .addOption(new Option('-m, --model <name>', 'embedding model').default(DEFAULT_MODEL).argParser(nonEmpty))
      .option(
        '--dimensions <n>',
        "vector length, for models that can shorten theirs (default: the model's own)",
        integer(1),
      )
      .option('--base-url <url>', `API root; requests go to <url>/embeddings (default: ${ENV_BASE_URL})`, nonEmpty)
      .option('--api-key <key>', `API key (default: ${ENV_API_KEY})`, nonEmpty)
      .addOption(
        new Option(
          '--preset <name>',
          'the server by name: its API root (unless --base-url or $EMBEDRAIL_BASE_URL gives one), key variable, caps and field names',
        )
          .choices(PRESET_NAMES)
          .default(DEFAULT_PRESET),
      )
      .option(
        '--cache <redis URL | directory>',
        'vectors kept between runs and shared with other processes: texts found there are not sent. ' +
          'A redis:// or rediss:// URL (needs the ioredis package) or a folder on this machine (default: none)',
        nonEmpty,
      );

  const embedCommand = client(
    program
      .command('embed')
      .description('Embed every text of a file, appending {id, embedding} as each request completes.')
      .argument('<input>', 'a .txt (one text per line), .jsonl or .csv file, or - for stdin')
      .requiredOption(
        '-o, --out <file>',
        'output: .jsonl ({"id","embedding"} per line) or .npy (float32 matrix, ids in <file>.ids.txt) (required)',
      ),
  )
    .option('--concurrency <n>', 'requests in flight at once', integer(1), DEFAULTS.maxConcurrency)
    .option(
      '--rpm <n>',
      'requests per minute to stay under (default: none; the x-ratelimit-* headers are followed anyway)',
      positive,
    )
    .option(
      '--tpm <n>',
      'tokens per minute to stay under (default: none; the x-ratelimit-* headers are followed anyway)',
      positive,
    )
    .option(
      '--batch-size <n>',
      "inputs per request; a request also closes at the token budget (default: the --preset's cap, " +
        `${BATCH_DEFAULTS.maxInputsPerRequest} for openai, ${PRESETS.tei.maxInputsPerRequest} for tei)`,
      integer(1),
    )
    .addOption(
      new Option(
        '--input-type <type>',
        "what the texts are for, sent as the --preset's field (voyage: input_type) or prompt prefix " +
          '(default: none, no field is sent; openai never receives one)',
      ).choices(INPUT_TYPES),
    )
    .option(
      '--truncate',
      `cut inputs over ${BATCH_DEFAULTS.maxTokensPerInput} tokens to that length instead of failing them`,
      false,
    )
    .option(
      '--max-retries <n>',
      'retries per request after 408, 409, 429, 5xx, timeouts and connection errors',
      integer(0),
      DEFAULTS.maxRetries,
    )
    .option('--timeout <ms>', 'time allowed for one HTTP attempt', integer(1, 2_147_483_647), DEFAULTS.timeout)
    .option('--resume', 'continue an existing output: skip the ids it holds, retry the rest', false)
    .option(
      '--overwrite',
      'replace an existing output; with neither this nor --resume an existing output is an error',
      false,
    )
    .addOption(
      new Option(
        '--format <format>',
        'input format (default: from the extension; stdin: jsonl if it starts with {, else txt)',
      ).choices(INPUT_FORMATS),
    );
  fields(embedCommand).action(async (input: string, flags: EmbedFlags) => done(await embed(input, flags, io)));
  addBatchCommand(program, io, done, client, fields);

  const searchCommand = client(
    program
      .command('search')
      .description(
        'Embed a query and print the k most similar ids of a vectors file, as "score<TAB>id" lines, ' +
          'or "score<TAB>id<TAB>text" given the input file. The vectors are scanned in chunks, never loaded whole.',
      )
      .argument('<vectors>', 'a .jsonl or .npy file written by embedrail embed')
      .argument('<query>', 'the text to search for'),
  )
    .option('-k, --top-k <n>', 'how many ids to print', integer(1), 5)
    .addOption(
      new Option(
        '--input-type <type>',
        "what the query text is for, sent as the --preset's field or prompt prefix; " +
          'vectors embedded with --input-type document want the default',
      )
        .choices(INPUT_TYPES)
        .default('query'),
    )
    .option(
      '--texts <input>',
      "the input file given to embed (.txt, .jsonl or .csv), to print each hit's text after its id (default: none, ids only)",
      nonEmpty,
    );
  fields(searchCommand).action(async (vectors: string, query: string, flags: SearchFlags) => {
    const modelGiven = searchCommand.getOptionValueSource('model') !== 'default';
    done(await search(vectors, query, { ...flags, modelGiven }, io));
  });

  program
    .command('serve')
    .description(
      'Serve the local OpenAI-compatible embeddings API (lexical hash embeddings, for development and tests).',
    )
    .option('--port <n>', 'port; 0 picks a free one', integer(0, 65_535), SERVER_DEFAULTS.port)
    .addOption(
      new Option(
        '--style <provider>',
        'answer as that provider does: its caps, the fields it reads, its usage, headers and refusals (azure: /openai/v1 and /openai/deployments/<model>/embeddings, api-key or bearer auth)',
      )
        .choices(SERVER_STYLES)
        .default(SERVER_DEFAULTS.style),
    )
    .option(
      '--max-inputs-per-request <n>',
      "inputs a request may hold, refused in the style's words beyond it (default: the style's cap)",
      integer(1, MAX_INPUTS),
    )
    .option(
      '--host <address>',
      'address to listen on; anything but loopback exposes the server',
      nonEmpty,
      SERVER_DEFAULTS.host,
    )
    .option(
      '--dimensions <n>',
      'vector length when a request sets none',
      integer(1, MAX_DIMENSIONS),
      SERVER_DEFAULTS.dimensions,
    )
    .option('--latency <ms>', 'delay added to every response', number(0, 2_147_483_647), SERVER_DEFAULTS.latency)
    .option(
      '--rpm <n>',
      'requests per minute; beyond it 429 with retry-after and x-ratelimit-* (default: unlimited)',
      number(1),
    )
    .option('--tpm <n>', 'tokens per minute; beyond it 429 like --rpm (default: unlimited)', number(1))
    .option(
      '--burst-seconds <s>',
      'seconds of --rpm and --tpm a bucket holds, as providers enforce a minute in shorter windows ' +
        '(1: 600 rpm is 10 requests a second); at least 60 ÷ --rpm',
      positiveUpTo(SERVER_DEFAULTS.burstSeconds),
      SERVER_DEFAULTS.burstSeconds,
    )
    .addOption(
      new Option(
        '--header-style <style>',
        'rate-limit headers: openai (six x-ratelimit-*, retry-after and retry-after-ms on a 429), ' +
          'azure (x-ratelimit-remaining-* only, retry-after-ms), none (retry-after in whole seconds only) ' +
          "(default: the style's; openai for openai)",
      ).choices(HEADER_STYLES),
    )
    .option(
      '--fail-rate <share>',
      'share of requests, 0 to 1, failed on purpose with 500, 502, 503 or 429',
      number(0, 1),
      SERVER_DEFAULTS.failRate,
    )
    .option('--seed <n>', 'seed of the fault-injection PRNG', integer(Number.MIN_SAFE_INTEGER), SERVER_DEFAULTS.seed)
    .option(
      '--max-file-bytes <n>',
      'largest file /v1/files takes (413 beyond)',
      integer(1),
      SERVER_DEFAULTS.maxFileBytes,
    )
    .option(
      '--max-stored-bytes <n>',
      'bytes of files held at once, uploads and batch outputs together',
      integer(1),
      SERVER_DEFAULTS.maxStoredBytes,
    )
    .option(
      '--batch-processing-ms <ms>',
      "a batch's life from creation to completed (validating, in_progress, finalizing)",
      number(0, 2_147_483_647),
      SERVER_DEFAULTS.batchProcessingMs,
    )
    .option('--batch-shuffle', 'write batch output lines in another order than the input', SERVER_DEFAULTS.batchShuffle)
    .option(
      '--batch-fail-rate <share>',
      'share of batch lines, 0 to 1, answered 429 or 500 in the error file (error: null, the status in response)',
      number(0, 1),
      SERVER_DEFAULTS.batchFailRate,
    )
    .option(
      '--batch-reject-rate <share>',
      'share of batch lines, 0 to 1, answered 400 in the error file',
      number(0, 1),
      SERVER_DEFAULTS.batchRejectRate,
    )
    .option(
      '--batch-missing-rate <share>',
      'share of batch lines, 0 to 1, written to neither the output nor the error file',
      number(0, 1),
      SERVER_DEFAULTS.batchMissingRate,
    )
    .option(
      '--batch-expire-rate <share>',
      'share of batches, 0 to 1, that end expired with half their lines done, the rest batch_expired',
      number(0, 1),
      SERVER_DEFAULTS.batchExpireRate,
    )
    .option(
      '--batch-queue-cap <tokens>',
      'tokens queued in unfinished batches at most; a batch beyond it fails with token_limit_exceeded (default: no cap)',
      integer(1),
    )
    .action(async (flags: ServeFlags) => done(await serve(flags, io)));

  return program;
}
