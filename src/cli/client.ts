import { EmbeddingsClient, InvalidArgumentError } from '../index.js';
import type { ClientOptions } from '../index.js';
import { UsageError, oneLine } from './io.js';

/** The client options the CLI sets from its flags. */
type CliClientOptions = Pick<ClientOptions, 'baseURL' | 'apiKey' | 'maxConcurrency' | 'maxRetries' | 'timeout'>;

/**
 * The client for `embed` and `search`. A bad base URL or a missing key is a usage error (exit
 * 2); the library's message names its options, which on a command line are flags.
 */
export function newClient(options: CliClientOptions): EmbeddingsClient<'float32'> {
  try {
    return new EmbeddingsClient({ ...options, vectorType: 'float32' });
  } catch (error) {
    if (!(error instanceof InvalidArgumentError)) throw error;
    let message = oneLine(error).replaceAll('`apiKey`', '--api-key').replaceAll('`baseURL`', '--base-url');
    // Most likely the local server was meant: say how to reach it.
    if (/^No API key/.test(message)) message += `; for a local server pass --base-url (embedrail serve prints it)`;
    throw new UsageError(message);
  }
}
