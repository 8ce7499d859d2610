/** What a client's preset sets for a batch job when the call does not say. */
import { promptPrefix, type InputType, type Preset } from './presets.js';
import { countUpTo, tokenizerForModel, utf8ByteTokenizer, type Tokenizer } from './tokenizer.js';

export interface PresetBatchDefaults {
  maxInputsPerRequest: number;
  maxTokensPerRequest: number;
  /** The preset's tokenizer for the model. */
  tokenizer: Tokenizer;
  /**
   * `tokenizer` counting each text with the prompt prefix it is sent with, so a request closed
   * under the token cap stays under it once every text carries its prefix. As given without one.
   */
  withPrefix(tokenizer: Tokenizer): Tokenizer;
}

export function batchDefaultsFor(
  preset: Preset,
  params: { model: string; inputType?: InputType },
): PresetBatchDefaults {
  const prefix = promptPrefix(preset, params.model, params.inputType);
  return {
    maxInputsPerRequest: preset.maxInputsPerRequest,
    maxTokensPerRequest: preset.maxTokensPerRequest,
    tokenizer: preset.tokenizer === 'openai' ? tokenizerForModel(params.model) : utf8ByteTokenizer,
    withPrefix: (tokenizer) => (prefix === '' ? tokenizer : prefixedTokenizer(tokenizer, prefix)),
  };
}

function prefixedTokenizer(tokenizer: Tokenizer, prefix: string): Tokenizer {
  return {
    count: (text) => tokenizer.count(prefix + text),
    countUpTo: (text, limit) => countUpTo(tokenizer, prefix + text, limit),
    truncate(text, maxTokens) {
      const cut = tokenizer.truncate(prefix + text, maxTokens);
      // The prefix alone over the budget leaves nothing of the text; the server would refuse it as well.
      return cut.startsWith(prefix) ? cut.slice(prefix.length) : '';
    },
  };
}
