import { createRequire } from 'node:module';
import { vi } from 'vitest';
import { CL100K_MAX_PIECE } from '../../src/tokenizer.js';

interface Cl100kModule {
  countTokens(text: string, options?: object): number;
  default: { bytePairEncodingCoreProcessor: { bytePairEncode(piece: string): number[] } };
}

/** The same gpt-tokenizer instance src/tokenizer.ts loads (Node's CommonJS cache is shared). */
export const cl100kModule = createRequire(import.meta.url)('gpt-tokenizer/encoding/cl100k_base') as Cl100kModule;

/** gpt-tokenizer's exact count, every special token read as plain text (as src/tokenizer.ts does). */
export const exactCl100kCount = (text: string) => cl100kModule.countTokens(text, { disallowedSpecial: new Set() });

export interface BpeWatch {
  /** Stops watching and returns what was seen. */
  stop(): { longestPiece: number; charactersCounted: number };
}

/**
 * Watches what cl100k counting does until stop(): the longest piece handed to BPE (whose cost
 * is quadratic in a piece's length) and the characters given to gpt-tokenizer's countTokens.
 * Structure, not time: a test asserts bounds on these instead of timing anything. A piece over
 * CL100K_MAX_PIECE throws at once, rather than hanging the test in quadratic BPE.
 */
export function startBpeWatch(): BpeWatch {
  const core = cl100kModule.default.bytePairEncodingCoreProcessor;
  let longestPiece = 0;
  let charactersCounted = 0;
  const encode = core.bytePairEncode.bind(core);
  const count = cl100kModule.countTokens;
  const pieces = vi.spyOn(core, 'bytePairEncode').mockImplementation((piece) => {
    longestPiece = Math.max(longestPiece, piece.length);
    if (piece.length > CL100K_MAX_PIECE) {
      throw new Error(`BPE was handed a piece of ${piece.length} characters, over ${CL100K_MAX_PIECE}`);
    }
    return encode(piece);
  });
  const counts = vi.spyOn(cl100kModule, 'countTokens').mockImplementation((text, options) => {
    charactersCounted += text.length;
    return count(text, options);
  });
  return {
    stop() {
      pieces.mockRestore();
      counts.mockRestore();
      return { longestPiece, charactersCounted };
    },
  };
}

/** startBpeWatch() around a synchronous `run`. */
export function watchBpe(run: () => void): { longestPiece: number; charactersCounted: number } {
  const watch = startBpeWatch();
  try {
    run();
  } catch (error) {
    watch.stop();
    throw error;
  }
  return watch.stop();
}
