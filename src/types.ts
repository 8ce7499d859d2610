import type { VectorType } from './options.js';

/** `number[]` for `vectorType: 'array'`, `Float32Array` for `'float32'` and `'float32-view'`. */
export type VectorFor<T extends VectorType> = T extends 'float32' | 'float32-view' ? Float32Array : number[];

/** What `create()` returns per vector: base64 strings when asked for explicitly, else vectors. */
export type ResultVector<F, T extends VectorType> = F extends 'base64' ? string : VectorFor<T>;

/** One embedding, at the position of its input. */
export interface Embedding<E = number[]> {
  object: 'embedding';
  /** Position of the input this vector belongs to. */
  index: number;
  embedding: E;
}

/** Token counts the server reported (zeros when a compatible server sends none). */
export interface EmbeddingUsage {
  prompt_tokens: number;
  total_tokens: number;
}

/** The answer of `create()`: OpenAI's shape, `data` sorted by index with one item per input. */
export interface CreateEmbeddingResponse<E = number[]> {
  object: 'list';
  data: Embedding<E>[];
  model: string;
  usage: EmbeddingUsage;
}
