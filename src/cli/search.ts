import { topK } from '../index.js';
import { newClient } from './client.js';
import type { CliIo } from './io.js';
import { EXIT, UsageError } from './io.js';
import { checkReadable } from './readers.js';
import { loadVectors } from './vectors.js';

/** The flags of `embedrail search`, parsed. */
export interface SearchFlags {
  topK: number;
  model: string;
  dimensions?: number;
  baseUrl?: string;
  apiKey?: string;
}

/**
 * `embedrail search <vectors> "<query>"`: embeds the query with the model the vectors were
 * made with and prints the `k` best ids, one `score<TAB>id` line each, best first. The score
 * is the cosine similarity.
 */
export async function search(vectorsPath: string, query: string, flags: SearchFlags, io: CliIo): Promise<number> {
  if (query.trim() === '') throw new UsageError('the query must not be empty');
  await checkReadable(vectorsPath, 'vectors');
  const vectors = await loadVectors(vectorsPath);
  if (vectors.ids.length === 0) throw new UsageError(`'${vectorsPath}' holds no vectors`);
  const client = newClient({ baseURL: flags.baseUrl, apiKey: flags.apiKey });
  try {
    const response = await client.embeddings.create(
      { model: flags.model, input: query, ...(flags.dimensions === undefined ? {} : { dimensions: flags.dimensions }) },
      { signal: io.signal },
    );
    const vector = response.data[0]!.embedding;
    if (vector.length !== vectors.dimensions) {
      throw new UsageError(
        `the query vector has ${vector.length} dimensions but '${vectorsPath}' holds ${vectors.dimensions}; ` +
          `pass the --model and --dimensions the vectors were made with`,
      );
    }
    for (const { index, score } of topK(vector, vectors.matrix, flags.topK)) {
      io.stdout.write(`${score.toFixed(4)}\t${vectors.ids[index]}\n`);
    }
    return EXIT.ok;
  } finally {
    await client.close();
  }
}
