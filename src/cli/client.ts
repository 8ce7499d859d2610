import { EmbeddingsClient, InvalidArgumentError } from '../index.js';
import type { ClientOptions } from '../index.js';
import { UsageError, oneLine } from './io.js';

/** The client options the CLI sets from its flags. */
type CliClientOptions = Pick<
  ClientOptions,
  'baseURL' | 'apiKey' | 'preset' | 'maxConcurrency' | 'maxRetries' | 'timeout'
>;

/**
 * The library's option names as the flags that set them: its messages name options, which on a
 * command line are flags.
 */
function asFlags(message: string): string {
  return message
    .replaceAll('`apiKey`', '--api-key')
    .replaceAll('`baseURL`', '--base-url')
    .replaceAll('`inputType`', '--input-type')
    .replace(/`preset: '([^']*)'`/g, '--preset $1');
}

/**
 * The client for `embed` and `search`. A bad base URL, a missing key or a preset with no root of
 * its own and no --base-url is a usage error (exit 2), named as the flag.
 */
export function newClient(options: CliClientOptions): EmbeddingsClient<'float32'> {
  try {
    return new EmbeddingsClient({ ...options, vectorType: 'float32' });
  } catch (error) {
    if (!(error instanceof InvalidArgumentError)) throw error;
    let message = asFlags(oneLine(error));
    // Most likely the local server was meant: say how to reach it.
    if (/^No API key/.test(message)) message += `; for a local server pass --base-url (embedrail serve prints it)`;
    throw new UsageError(message);
  }
}
