/** The bundled CLI (see buildCli in ./cli-helpers.ts) run as a child process, as a shell runs it. */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface ChildRun {
  child: ChildProcess;
  exit: Promise<Exit>;
  stdout: () => string;
}

/** Starts `node [nodeFlags] <cli> <args>` with `stdin` written and closed. */
export function startCli(
  cli: string,
  args: string[],
  options: { stdin?: string; nodeFlags?: string[] } = {},
): ChildRun {
  const child = spawn(process.execPath, [...(options.nodeFlags ?? []), cli, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(options.stdin);
  const exit = new Promise<Exit>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, exit, stdout: () => stdout };
}
