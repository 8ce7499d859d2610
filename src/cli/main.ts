#!/usr/bin/env node
import { EXIT } from './io.js';
import { runCli } from './program.js';

// The first SIGINT or SIGTERM asks the command to stop cleanly (flush, summary, close the
// server); a second one, for a stop that hangs, exits at once.
const controller = new AbortController();
const stop = (): void => {
  if (controller.signal.aborted) process.exit(EXIT.interrupted);
  controller.abort();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

process.exitCode = await runCli(process.argv.slice(2), {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  signal: controller.signal,
});
