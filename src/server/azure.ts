/**
 * What the azure style needs beyond a row of data: Azure OpenAI's two URL forms, its
 * deployments, its two ways to authenticate, and bearer tokens that expire.
 */
import type { IncomingMessage } from 'node:http';
import { ProviderRefusal } from './styles.js';

/** Azure's own error body: `{ error: { code, message } }`. */
function azureBody(code: string, message: string) {
  return { error: { code, message } };
}

/** https://learn.microsoft.com/en-us/azure/ai-services/openai/reference: a missing or unknown deployment. */
export function deploymentNotFound(): ProviderRefusal {
  return new ProviderRefusal(
    404,
    azureBody(
      'DeploymentNotFound',
      'The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.',
    ),
    'deployment',
  );
}

/** The deployments form without `api-version`: Azure answers 404 before anything else. */
function resourceNotFound(): ProviderRefusal {
  return new ProviderRefusal(404, azureBody('404', 'Resource not found'), 'deployment');
}

/** No key, or one Azure does not know. */
function accessDenied(): ProviderRefusal {
  return new ProviderRefusal(
    401,
    azureBody(
      '401',
      'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.',
    ),
    'auth',
  );
}

/** An Entra ID token past its lifetime. */
function tokenExpired(): ProviderRefusal {
  return new ProviderRefusal(
    401,
    azureBody(
      '401',
      'Unauthorized. Access token is missing, invalid, audience is incorrect (https://cognitiveservices.azure.com), or have expired.',
    ),
    'auth',
  );
}

/** Where an Azure request goes: the v1 form (deployment in the body's `model`) or a named deployment. */
export type AzureRoute = { kind: 'embeddings'; deployment: string | undefined } | { kind: 'models' } | undefined;

/** The azure style's base URL path: what `LocalServer.url` ends with. */
export const AZURE_BASE_PATH = '/openai/v1';

const DEPLOYMENT_PATH = /^\/openai\/deployments\/([^/]+)\/embeddings$/;

/**
 * Matches Azure's two forms: `POST /openai/v1/embeddings` and
 * `POST /openai/deployments/{deployment}/embeddings?api-version=...` (which needs `api-version`).
 */
export function azureRoute(path: string, query: URLSearchParams): AzureRoute {
  if (path === `${AZURE_BASE_PATH}/embeddings`) return { kind: 'embeddings', deployment: undefined };
  if (path === `${AZURE_BASE_PATH}/models`) return { kind: 'models' };
  const match = DEPLOYMENT_PATH.exec(path);
  if (match === null) return undefined;
  if (!query.get('api-version')) throw resourceNotFound();
  let deployment = match[1]!;
  try {
    deployment = decodeURIComponent(deployment);
  } catch {
    // A malformed escape names no deployment there is.
  }
  return { kind: 'embeddings', deployment };
}

/**
 * Azure's authentication: an `api-key` header, or `Authorization: Bearer <token>` (Entra ID).
 * A token is accepted for `lifetime` requests after its first use, then refused with 401 as
 * an expired one is.
 */
export class AzureAuth {
  readonly #uses = new Map<string, number>();

  constructor(private readonly lifetime: number | undefined) {}

  check(req: IncomingMessage): void {
    const key = req.headers['api-key'];
    if (typeof key === 'string' && key !== '') return;
    const bearer = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (bearer === undefined) throw accessDenied();
    const uses = (this.#uses.get(bearer) ?? 0) + 1;
    this.#uses.set(bearer, uses);
    if (this.lifetime !== undefined && uses > this.lifetime) throw tokenExpired();
  }
}
