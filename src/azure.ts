import * as z from 'zod';
import type { ApiKeyFunction } from './api-key.js';
import { EmbeddingsClient } from './client.js';
import { InvalidArgumentError } from './errors.js';
import { parseHttpURL, type ClientOptions, type VectorType } from './options.js';
import { parseArgument } from './schemas.js';

/** Options for `createAzureClient()`: where the resource is, how to sign in, and every client option but the URL and key. */
export interface AzureClientOptions<V extends VectorType = VectorType> extends Omit<
  ClientOptions<V>,
  'apiKey' | 'apiKeyHeader' | 'baseURL'
> {
  /**
   * The resource's URL, e.g. `https://my-resource.openai.azure.com`. Read from `AZURE_OPENAI_ENDPOINT`.
   */
  endpoint?: string | undefined;
  /**
   * A deployment name: requests go to `${endpoint}/openai/deployments/${deployment}/embeddings?api-version=...`.
   * @default none: the v1 form, `${endpoint}/openai/v1/embeddings`, with the deployment name as `model`
   */
  deployment?: string | undefined;
  /**
   * Sent as the `api-version` query parameter. With `deployment` it is required, and read from
   * `OPENAI_API_VERSION`; the v1 form is not versioned by date, and the variable (set for the
   * deployments form) is not read for it.
   */
  apiVersion?: string | undefined;
  /** A resource key, sent as `api-key`. Read from `AZURE_OPENAI_API_KEY` only (not `EMBEDRAIL_API_KEY`). A function is called before each attempt. */
  apiKey?: string | ApiKeyFunction | undefined;
  /**
   * Microsoft Entra ID: a function giving an access token, sent as `Authorization: Bearer`, called
   * before each attempt and again after a 401. `getBearerTokenProvider(credential,
   * 'https://cognitiveservices.azure.com/.default')` from `@azure/identity` is one.
   */
  tokenProvider?: ApiKeyFunction | undefined;
}

/** Where Azure's settings are read from when not passed: openai-node's `AzureOpenAI` reads the same. */
const AZURE_ENV = Object.freeze({
  apiKey: 'AZURE_OPENAI_API_KEY',
  endpoint: 'AZURE_OPENAI_ENDPOINT',
  apiVersion: 'OPENAI_API_VERSION',
} as const);

const text = z.string({ error: 'must be a string' }).min(1, { error: 'must be a non-empty string' });
const AzureOptionsSchema = z.looseObject(
  {
    endpoint: text.optional(),
    deployment: text.optional(),
    apiVersion: text.optional(),
    tokenProvider: z.custom((value) => typeof value === 'function', 'must be a function returning a token').optional(),
    // Both are set from the options above: taken as well, one would silently lose.
    baseURL: z
      .undefined({ error: 'is not an option of createAzureClient: pass `endpoint` (and `deployment`)' })
      .optional(),
    apiKeyHeader: z
      .undefined({
        error: 'is not an option of createAzureClient: `apiKey` goes as `api-key`, `tokenProvider` as a bearer token',
      })
      .optional(),
  },
  { error: 'must be an object' },
);

/**
 * A client for Azure OpenAI: the v1 URL form unless a `deployment` is given, a resource key
 * sent as `api-key` or an Entra ID token provider, refreshed on a 401. Settings not passed are
 * read from `AZURE_OPENAI_ENDPOINT`, `AZURE_OPENAI_API_KEY` and `OPENAI_API_VERSION`.
 * @example
 * const client = createAzureClient({ endpoint: 'https://my-resource.openai.azure.com' });
 * await client.embeddings.create({ model: 'my-embedding-deployment', input: 'hello' });
 */
export function createAzureClient<V extends VectorType = 'array'>(
  options: AzureClientOptions<V> = {},
): EmbeddingsClient<V> {
  const { env } = process;
  parseArgument(AzureOptionsSchema, 'createAzureClient options', options);
  const { endpoint: givenEndpoint, deployment, apiVersion: givenVersion, apiKey, tokenProvider, ...rest } = options;
  if (apiKey !== undefined && tokenProvider !== undefined) {
    throw new InvalidArgumentError(
      'Invalid createAzureClient options: `apiKey` and `tokenProvider` exclude each other: a request carries one credential (got both)',
    );
  }
  const endpoint = resourceURL(givenEndpoint ?? env[AZURE_ENV.endpoint]);
  // An explicit token provider wins over a key in the environment (openai-node refuses the pair).
  const key = tokenProvider ?? apiKey ?? (env[AZURE_ENV.apiKey] || undefined);
  if (key === undefined || key === '') {
    throw new InvalidArgumentError(
      `No credentials for Azure OpenAI: pass \`apiKey\` or \`tokenProvider\`, or set ${AZURE_ENV.apiKey} (it was empty)`,
    );
  }
  const apiVersion = givenVersion ?? (deployment === undefined ? undefined : env[AZURE_ENV.apiVersion] || undefined);
  if (deployment !== undefined && apiVersion === undefined) {
    throw new InvalidArgumentError(
      `Invalid createAzureClient options: the deployments URL form needs \`apiVersion\` (e.g. '2024-10-21') or ${AZURE_ENV.apiVersion} (both were empty)`,
    );
  }
  const baseURL =
    deployment === undefined
      ? `${endpoint}/openai/v1`
      : `${endpoint}/openai/deployments/${encodeURIComponent(deployment)}`;
  return new EmbeddingsClient<V>({
    preset: 'azure',
    ...rest,
    baseURL,
    apiKey: key,
    // A key goes as the azure preset sends it (`api-key`); an Entra ID token as a bearer token.
    ...(tokenProvider === undefined ? {} : { apiKeyHeader: 'authorization' as const }),
    defaultQuery: apiVersion === undefined ? rest.defaultQuery : { ...rest.defaultQuery, 'api-version': apiVersion },
  });
}

/** The resource URL without trailing slashes; a URL that already holds the API's own path is refused. */
function resourceURL(endpoint: string | undefined): string {
  if (!endpoint) {
    throw new InvalidArgumentError(
      `No endpoint for Azure OpenAI: pass \`endpoint\` (e.g. 'https://my-resource.openai.azure.com') or set ${AZURE_ENV.endpoint} (both were empty)`,
    );
  }
  const trimmed = endpoint.replace(/\/+$/, '');
  const url = parseHttpURL(trimmed, 'endpoint');
  // `/openai/...` is added here: pasted in as well, every request would go to /openai/v1/openai/v1.
  if (/\/openai(\/|$)/i.test(url.pathname) || url.search) {
    throw new InvalidArgumentError(
      `\`endpoint\` is the resource's URL, e.g. 'https://my-resource.openai.azure.com': drop /openai/... and any query, which createAzureClient adds (got ${JSON.stringify(url.origin + url.pathname)}${url.search ? ' and a query, not shown: it may hold a key' : ''})`,
    );
  }
  return trimmed;
}
