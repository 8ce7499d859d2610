// Entry of dist/cl100k.cjs (see tsup.config.ts): gpt-tokenizer's cl100k encoding and its
// pre-tokenizer, bundled alone so that an install does not carry every encoding gpt-tokenizer
// ships. Loaded lazily by src/tokenizer.ts on the first count.
import * as api from 'gpt-tokenizer/encoding/cl100k_base';
import { CL100K_TOKEN_SPLIT_REGEX } from 'gpt-tokenizer/encodingParams/constants';

export { api, CL100K_TOKEN_SPLIT_REGEX as split };
