// Type tests of the Azure client and of key functions: checked by `tsc` in vitest's typecheck
// mode (and by `npm run typecheck`), never run.
import { describe, expectTypeOf, test } from 'vitest';
import {
  createAzureClient,
  EmbeddingsClient,
  type ApiKeyFunction,
  type AzureClientOptions,
  type ClientOptions,
  type RequestOptions,
} from '../../src/index.js';

/** What `getBearerTokenProvider` from `@azure/identity` returns. */
declare const getBearerTokenProvider: () => () => Promise<string>;

describe('createAzureClient', () => {
  test('takes an Entra token provider as @azure/identity shapes it, and returns an EmbeddingsClient', () => {
    const client = createAzureClient({
      endpoint: 'https://r.openai.azure.com',
      tokenProvider: getBearerTokenProvider(),
    });
    expectTypeOf(client).toEqualTypeOf<EmbeddingsClient<'array'>>();
    expectTypeOf(createAzureClient({ vectorType: 'float32' })).toEqualTypeOf<EmbeddingsClient<'float32'>>();
  });

  test('has no baseURL and no apiKeyHeader: the endpoint and the credential decide both', () => {
    // @ts-expect-error: the URL is built from `endpoint` and `deployment`
    createAzureClient({ baseURL: 'https://r.openai.azure.com/openai/v1' });
    // @ts-expect-error: `apiKey` goes as api-key, `tokenProvider` as a bearer token
    createAzureClient({ apiKeyHeader: 'authorization' });
    expectTypeOf<AzureClientOptions['apiKey']>().toEqualTypeOf<string | ApiKeyFunction | undefined>();
  });
});

describe('key functions and query parameters', () => {
  test('apiKey takes a string or a function, sync or async, with or without its argument', () => {
    expectTypeOf<() => Promise<string>>().toExtend<ApiKeyFunction>();
    expectTypeOf<({ forceRefresh }: { forceRefresh: boolean }) => string>().toExtend<ApiKeyFunction>();
    expectTypeOf<() => Promise<number>>().not.toExtend<ApiKeyFunction>();
    expectTypeOf<ClientOptions['apiKeyHeader']>().toEqualTypeOf<'authorization' | 'api-key' | undefined>();
  });

  test('a call query may remove a default with null; defaultQuery holds strings only', () => {
    expectTypeOf<{ 'api-version': null }>().toExtend<NonNullable<RequestOptions['query']>>();
    expectTypeOf<{ 'api-version': null }>().not.toExtend<NonNullable<ClientOptions['defaultQuery']>>();
  });
});
