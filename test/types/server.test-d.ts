// Type tests of the local server's styles: the names (the client's preset names), the options
// that go with them and the refusals its stats count. Checked by `tsc`, never run.
import { describe, expectTypeOf, test } from 'vitest';
import {
  createServer,
  SERVER_STYLES,
  type RefusalReason,
  type ServerOptions,
  type ServerStats,
  type ServerStyleName,
} from '../../src/server/index.js';

describe('server styles', () => {
  test('the style names are a closed union, listed by SERVER_STYLES', () => {
    expectTypeOf<ServerStyleName>().toEqualTypeOf<
      | 'openai'
      | 'azure'
      | 'ollama'
      | 'vllm'
      | 'tei'
      | 'lmstudio'
      | 'voyage'
      | 'mistral'
      | 'jina'
      | 'gemini-openai'
      | 'cohere-compat'
    >();
    expectTypeOf(SERVER_STYLES).toExtend<readonly ServerStyleName[]>();
    expectTypeOf<(typeof SERVER_STYLES)[number]>().toEqualTypeOf<ServerStyleName>();
    expectTypeOf<ServerOptions['style']>().toEqualTypeOf<ServerStyleName | undefined>();
    // @ts-expect-error not a style
    createServer({ style: 'bedrock' });
    createServer({ style: 'azure', deployments: ['embed-small'], tokenLifetimeRequests: 100, maxInputsPerRequest: 16 });
  });

  test('stats count refusals by reason and the fields requests carried', () => {
    expectTypeOf<ServerStats['refused']>().toEqualTypeOf<Record<RefusalReason, number>>();
    expectTypeOf<RefusalReason>().toEqualTypeOf<'inputs' | 'tokens' | 'field' | 'deployment' | 'auth'>();
    expectTypeOf<ServerStats['lastFields']>().toEqualTypeOf<Record<string, unknown> | undefined>();
  });
});
