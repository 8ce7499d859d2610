export { VERSION } from './version.js';
export { cl100kTokenizer, utf8ByteTokenizer, tokenizerForModel } from './tokenizer.js';
export type { Tokenizer } from './tokenizer.js';
