import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, test } from 'vitest';
import { buildProgram } from '../src/cli/program.js';
import { capture, run, tempDir } from './support/cli-helpers.js';

function commandsAndOptions(): { command: string; flags: string[] }[] {
  const program = buildProgram({ stdin: Readable.from([]), stdout: capture().stream, stderr: capture().stream });
  return program.commands.map((command) => ({
    command: command.name(),
    flags: command.options.map((option) => option.long!).filter((flag) => flag !== '--help'),
  }));
}

describe('help', () => {
  test('embedrail --help lists every command and exits 0', async () => {
    const { code, stdout } = await run(['--help']);
    expect(code).toBe(0);
    for (const name of ['embed', 'search', 'serve']) expect(stdout).toContain(name);
  });

  test.each(commandsAndOptions())('$command --help lists every flag with its default', async ({ command, flags }) => {
    const { code, stdout } = await run([command, '--help']);
    expect(code).toBe(0);
    expect(flags.length).toBeGreaterThan(3);
    for (const flag of flags) {
      // Commander wraps long descriptions; join an option's lines back together.
      const entry = stdout.split(/\n(?= {2}-)/).find((block) => new RegExp(`(^|[ ,])${flag}\\b`).test(block));
      expect(entry, `${command} ${flag}`).toBeDefined();
      expect(entry!.replace(/\s+/g, ' '), `${command} ${flag}`).toMatch(
        /\(((choices: [^)]*, )?default: [^)]*|required)\)/,
      );
    }
  });

  test('--version prints the package version', async () => {
    const { code, stdout } = await run(['--version']);
    expect(code).toBe(0);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('usage errors exit 2 with one line on stderr', () => {
  const dir = tempDir();
  const fifo = `${dir.dir}/pipe.jsonl`;
  execFileSync('mkfifo', [fifo]);
  afterAll(() => dir.remove());
  const table: [string, string[], RegExp][] = [
    ['an unknown flag', ['embed', 'in.txt', '--out', 'o.jsonl', '--bogus'], /unknown option '--bogus'/],
    ['an unknown command', ['embedd'], /unknown command 'embedd'/],
    ['a missing --out', ['embed', 'in.txt'], /--out <file>' not specified/],
    [
      'a concurrency of 0',
      ['embed', 'in.txt', '--out', 'o.jsonl', '--concurrency', '0'],
      /--concurrency <n>' argument '0' is invalid.*integer ≥ 1/,
    ],
    [
      'a non-numeric --dimensions',
      ['embed', 'in.txt', '--out', 'o.jsonl', '--dimensions', 'abc'],
      /--dimensions <n>' argument 'abc' is invalid/,
    ],
    [
      'an unknown --format',
      ['embed', '-', '--out', 'o.jsonl', '--format', 'xml'],
      /argument 'xml' is invalid.*txt, jsonl, csv/,
    ],
    [
      'a fail rate over 1',
      ['serve', '--fail-rate', '1.5'],
      /--fail-rate <share>' argument '1.5' is invalid.*from 0 to 1/,
    ],
    [
      'an --rpm of 0',
      ['embed', 'in.txt', '--out', 'o.jsonl', '--rpm', '0'],
      /--rpm <n>' argument '0' is invalid. must be a number > 0/,
    ],
    [
      'a latency past what a timer holds',
      ['serve', '--latency', '3e9'],
      /--latency <ms>' argument '3e9' is invalid. must be a number from 0 to 2147483647/,
    ],
    [
      'a --timeout past what a timer holds',
      ['embed', 'in.txt', '--out', 'o.jsonl', '--timeout', '3000000000'],
      /--timeout <ms>' argument '3000000000' is invalid. must be an integer from 1 to 2147483647/,
    ],
    [
      'a --burst-seconds of 0',
      ['serve', '--burst-seconds', '0'],
      /--burst-seconds <s>' argument '0' is invalid. must be a number > 0 and ≤ 60/,
    ],
    [
      'a --burst-seconds past the minute',
      ['serve', '--burst-seconds', '61'],
      /--burst-seconds <s>' argument '61' is invalid. must be a number > 0 and ≤ 60/,
    ],
    [
      'an unknown --header-style',
      ['serve', '--header-style', 'aws'],
      /--header-style <style>' argument 'aws' is invalid. Allowed choices are openai, azure, none/,
    ],
    [
      'a --burst-seconds too short to hold one request at --rpm, named as the flags',
      ['serve', '--port', '0', '--rpm', '30', '--burst-seconds', '1'],
      /^embedrail: --burst-seconds must be ≥ 2 with --rpm 30, for a bucket to hold one request \(got 1\)\n$/,
    ],
    ['a port out of range', ['serve', '--port', '70000'], /--port <n>' argument '70000' is invalid/],
    ['-k of 0', ['search', 'v.jsonl', 'q', '-k', '0'], /argument '0' is invalid/],
    [
      'an input that does not exist',
      ['embed', `${dir.dir}/missing.txt`, '--out', `${dir.dir}/o.jsonl`],
      /cannot read input '.*missing.txt': no such file/,
    ],
    [
      'an input that is a directory',
      ['embed', `${dir.dir}/`, '--out', `${dir.dir}/o.jsonl`, '--format', 'txt'],
      /not a regular file\n$/,
    ],
    [
      'an input that is a pipe, which cannot be read twice',
      ['embed', fifo, '--out', `${dir.dir}/o.jsonl`],
      /'.*pipe\.jsonl': not a regular file; pipe it to stdin and pass - instead\n$/,
    ],
    [
      'an input with an unknown extension',
      ['embed', `${dir.dir}/in.xml`, '--out', `${dir.dir}/o.jsonl`],
      /cannot tell the format of input/,
    ],
    [
      'an output in a folder that does not exist',
      ['embed', '-', '--out', `${dir.dir}/no/such/o.jsonl`, '--base-url', 'http://127.0.0.1:9/v1'],
      /cannot write --out '.*o.jsonl': ENOENT/,
    ],
    [
      'an output that is not .jsonl or .npy',
      ['embed', '-', '--out', `${dir.dir}/o.parquet`, '--base-url', 'http://127.0.0.1:9/v1'],
      /--out '.*o.parquet' must end in .jsonl or .npy/,
    ],
    [
      'a --base-url that is not a URL, named as the flag',
      ['embed', '-', '--out', `${dir.dir}/o.jsonl`, '--base-url', 'localhost:8787'],
      /^embedrail: --base-url must use http or https \(got "localhost:8787"\)\n$/,
    ],
    [
      'vectors that do not exist',
      ['search', `${dir.dir}/none.jsonl`, 'hello'],
      /cannot read vectors '.*none.jsonl': no such file/,
    ],
  ];
  test.each(table)('%s', async (_name, argv, message) => {
    const { code, stderr, stdout } = await run(argv);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(message);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
  });
});
