import { topK } from '../index.js';
import type { InputType, PresetName, Vector } from '../index.js';
import { openCache } from './cache.js';
import type { OpenedCache } from './cache.js';
import { newClient } from './client.js';
import type { CliIo } from './io.js';
import { EXIT, UsageError } from './io.js';
import { checkReadable, inputFormat, openInput, readRecords } from './readers.js';
import type { FieldNames } from './readers.js';
import { contradiction, recordedMeta } from './output.js';
import { openVectors } from './vectors.js';
import type { VectorFile } from './vectors.js';

/** The flags of `embedrail search`, parsed. */
export interface SearchFlags extends FieldNames {
  topK: number;
  model: string;
  dimensions?: number;
  baseUrl?: string;
  apiKey?: string;
  preset: PresetName;
  /** What the query is for: `query` unless the flag says otherwise. */
  inputType: InputType;
  /** The input given to `embed`, to print each hit's text beside its id. */
  texts?: string;
  /** Whether `--model` was given rather than left at its default. */
  modelGiven?: boolean;
  /** A redis:// URL or a folder: a query embedded before is not sent again. */
  cache?: string;
}

/**
 * Bytes of vectors scored at a time: memory stays near this (plus `k` rows) whatever the
 * file's size, and a chunk is large enough that reading it costs little per row.
 * @unit bytes
 */
export const SEARCH_CHUNK_BYTES = 8 * 1024 * 1024;

/**
 * The model and dimensions to embed the query with: those `embed` recorded beside the vectors
 * (`<vectors>.meta.json`) unless the flags say otherwise, and a flag that contradicts the record
 * is refused: a query embedded by another model ranks the vectors at random, with no error.
 */
function queryModel(vectorsPath: string, flags: SearchFlags): { model: string; dimensions: number | undefined } {
  const recorded = recordedMeta(vectorsPath);
  if (recorded === undefined) return { model: flags.model, dimensions: flags.dimensions };
  const found = contradiction(recorded, flags.modelGiven ? flags.model : undefined, flags.dimensions);
  if (found) {
    const advice = found.flag === '--model' ? `; pass --model '${recorded.model}' or leave it out` : '';
    throw new UsageError(`'${vectorsPath}' ${found.text}${advice}`);
  }
  return { model: recorded.model, dimensions: flags.dimensions ?? recorded.dimensions ?? undefined };
}

/** One result of {@link bestRows}: row number in the file, cosine score, id. */
export interface Hit {
  index: number;
  score: number;
  id?: string;
}

/**
 * `embedrail search <vectors> "<query>"`: embeds the query with the model the vectors were
 * made with and prints the `k` best ids, one `score<TAB>id` line each, best first; with
 * `--texts`, `score<TAB>id<TAB>text`. The score is the cosine similarity. The vectors are
 * scanned in chunks, never loaded whole.
 */
export async function search(vectorsPath: string, query: string, flags: SearchFlags, io: CliIo): Promise<number> {
  if (query.trim() === '') throw new UsageError('the query must not be empty');
  await checkReadable(vectorsPath, 'vectors');
  if (flags.texts !== undefined) {
    inputFormat(flags.texts, undefined);
    await checkReadable(flags.texts, 'texts');
  }
  const vectors = await openVectors(vectorsPath);
  if (vectors.rows === 0) throw new UsageError(`'${vectorsPath}' holds no vectors`);
  const { model, dimensions } = queryModel(vectorsPath, flags);
  const client = newClient({ baseURL: flags.baseUrl, apiKey: flags.apiKey, preset: flags.preset });
  let vector: Vector;
  let cache: OpenedCache | undefined;
  try {
    const params = { model, inputType: flags.inputType, ...(dimensions === undefined ? {} : { dimensions }) };
    if (flags.cache === undefined) {
      vector = (await client.embeddings.create({ ...params, input: query }, { signal: io.signal })).data[0]!.embedding;
    } else {
      // The batch engine is what reads and writes a cache; one input is one request, or none.
      cache = await openCache(flags.cache, io);
      const response = await client.embeddings.createMany(
        { ...params, input: [query] },
        { signal: io.signal, cache: cache.cache, vectorType: 'float32' },
      );
      vector = response.data[0]!.embedding;
    }
  } finally {
    await client.close();
    await cache?.close();
  }
  if (vector.length !== vectors.dimensions) {
    throw new UsageError(
      `the query vector has ${vector.length} dimensions but '${vectorsPath}' holds ${vectors.dimensions}; ` +
        `pass the --model and --dimensions the vectors were made with`,
    );
  }
  const hits = await bestRows(vector, vectors, flags.topK);
  const texts =
    flags.texts === undefined ? undefined : await textsOf(flags.texts, new Set(hits.map((hit) => hit.id!)), flags, io);
  for (const { score, id } of hits) {
    // One hit per line, three fields: a text's own tabs and line breaks would split it.
    const text = texts === undefined ? '' : `\t${(texts.get(id!) ?? '').replace(/[\t\r\n]+/g, ' ')}`;
    io.stdout.write(`${score.toFixed(4)}\t${id}${text}\n`);
  }
  const missing = texts === undefined ? [] : hits.filter((hit) => !texts.has(hit.id!));
  for (const { id } of missing) io.stderr.write(`embedrail: no text for id '${id}' in '${flags.texts}'\n`);
  return EXIT.ok;
}

/**
 * The `k` best rows of `vectors`, best first (ties to the earlier row, as `topK` breaks them),
 * with their ids: what `topK` over the whole matrix gives. Each chunk's own best `k` are merged
 * into the running best `k`, so memory holds one chunk and `2k` hits, whatever the file's size.
 */
export async function bestRows(
  query: Vector,
  vectors: VectorFile,
  k: number,
  chunkBytes = SEARCH_CHUNK_BYTES,
): Promise<Hit[]> {
  // At least k rows a chunk, so the merges cost O(rows · log k) in all.
  const rowsPerChunk = Math.max(k, Math.floor(chunkBytes / (vectors.dimensions * 4)), 1);
  let hits: Hit[] = [];
  await vectors.scan(rowsPerChunk, ({ first, matrix, ids }) => {
    const chunk = topK(query, matrix, k).map(({ index, score }) => ({ index: first + index, score, id: ids?.[index] }));
    hits = hits.concat(chunk).sort((a, b) => b.score - a.score || a.index - b.index);
    hits.length = Math.min(hits.length, k);
  });
  if (vectors.idsOf && hits.some((hit) => hit.id === undefined)) {
    const ids = await vectors.idsOf(hits.map((hit) => hit.index));
    for (const hit of hits) hit.id ??= ids.get(hit.index);
  }
  return hits;
}

/** The texts of `ids` in the input file `path`, read as `embed` reads it (first record of an id wins). */
async function textsOf(path: string, ids: Set<string>, names: FieldNames, io: CliIo): Promise<Map<string, string>> {
  const texts = new Map<string, string>();
  const { stream, format } = await openInput(path, inputFormat(path, undefined), io.stdin);
  try {
    for await (const record of readRecords(stream, format, names)) {
      if ('text' in record && ids.has(record.id) && !texts.has(record.id)) {
        texts.set(record.id, record.text);
        if (texts.size === ids.size) break;
      }
    }
  } finally {
    stream.destroy();
  }
  return texts;
}
