/**
 * Contract test: the client's real requests, over its real undici transport, checked by Prism
 * against OpenAI's own OpenAPI description (test/fixtures/openai-openapi.yml).
 * Prism answers 422 to any request body or header that breaks the schema, so every request
 * shape we send must come back 200. Prism's answer itself is a fixed example (always one item
 * holding one huge float), so the client's verdict on the answer is not the point here: the
 * status on the wire is. `bash .ci/run` starts Prism and sets PRISM_URL.
 *
 * Skipped only when PRISM_URL is not in the environment and CI is not set. An empty PRISM_URL
 * (what `PRISM_URL=$(scripts/prism.sh start ...)` leaves when Prism did not come up), one that
 * does not answer, or a CI run without one fails every test here instead: a contract test that
 * quietly skips has proved nothing.
 */
import { Agent, request, type Dispatcher } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import {
  EmbeddingsClient,
  RateLimitError,
  ResponseValidationError,
  UnprocessableEntityError,
  type EmbeddingCreateParams,
} from '../src/index.js';

const PRISM_URL = process.env.PRISM_URL;
const HOW_TO_RUN =
  '`bash .ci/run` starts Prism for it; by hand: scripts/prism.sh run npx vitest run test/contract.test.ts';
const inCI = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';
const runContract = PRISM_URL !== undefined || inCI;
if (!runContract) console.warn(`test/contract.test.ts skipped: PRISM_URL is not set. ${HOW_TO_RUN}`);

/** Throws, naming the cause, unless Prism answers at PRISM_URL: the tests must not run blind. */
async function requirePrism(url: string | undefined): Promise<string> {
  if (!url) {
    throw new Error(
      `PRISM_URL is ${url === undefined ? 'not set, and CI is, where the contract test may not skip' : 'set but empty (did scripts/prism.sh start fail?)'}; ` +
        `the contract test needs Prism. ${HOW_TO_RUN}`,
    );
  }
  try {
    // Any HTTP answer will do: the tests below judge the status.
    const response = await request(`${url}/embeddings`, { method: 'GET', headersTimeout: 10_000 });
    await response.body.dump();
  } catch (error) {
    throw new Error(`Prism does not answer at PRISM_URL=${url}: ${(error as Error).message}. ${HOW_TO_RUN}`, {
      cause: error,
    });
  }
  return url;
}

const API_KEY = 'sk-contract-test';
const MODEL = 'text-embedding-3-small';

/** One HTTP exchange as it crossed the wire. */
interface Exchange {
  method: string;
  origin: string;
  path: string;
  headers: Record<string, string>;
  body: unknown;
  status: number | undefined;
  /** Prism's answer, kept so a 422 failure shows which field it objected to. */
  response: string;
}

/** An undici interceptor that records every request's method, URL, headers, body and status. */
function recordInto(exchanges: Exchange[]): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (options, handler) => {
    const exchange: Exchange = {
      method: options.method,
      origin: String(options.origin),
      path: options.path,
      headers: headerRecord(options.headers),
      body: typeof options.body === 'string' ? JSON.parse(options.body) : options.body,
      status: undefined,
      response: '',
    };
    exchanges.push(exchange);
    const chunks: Buffer[] = [];
    return dispatch(options, {
      onRequestStart: (controller, context) => handler.onRequestStart?.(controller, context),
      onResponseStart: (controller, status, headers, message) => {
        exchange.status = status;
        handler.onResponseStart?.(controller, status, headers, message);
      },
      onResponseData: (controller, chunk) => {
        chunks.push(chunk);
        handler.onResponseData?.(controller, chunk);
      },
      onResponseEnd: (controller, trailers) => {
        exchange.response = Buffer.concat(chunks).toString('utf8');
        handler.onResponseEnd?.(controller, trailers);
      },
      onResponseError: (controller, error) => handler.onResponseError?.(controller, error),
    });
  };
}

function headerRecord(headers: Dispatcher.DispatchOptions['headers']): Record<string, string> {
  if (headers == null) return {};
  if (Array.isArray(headers) || Symbol.iterator in headers) {
    throw new TypeError('the recorder expects headers as a plain object, as the transport sends them');
  }
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name.toLowerCase()] = String(value);
  }
  return out;
}

/** Adds a property the schema forbids, to show a violation reaching the client as a 422. */
const addUnknownProperty: Dispatcher.DispatcherComposeInterceptor = (dispatch) => (options, handler) =>
  dispatch({ ...options, body: JSON.stringify({ ...JSON.parse(options.body as string), unknown_field: 1 }) }, handler);

const manyTexts = Array.from({ length: 2048 }, (_, i) => `passage ${i}`);

/**
 * Every request shape the client sends, with the body we expect on the wire. `fitsAnswer`:
 * whether Prism's fixed answer (one item, one float) is a valid answer to the request, which
 * holds only for one input without `dimensions`; otherwise the client must reject it.
 */
const shapes: { shape: string; params: EmbeddingCreateParams; sent: Record<string, unknown>; fitsAnswer: boolean }[] = [
  {
    shape: 'one string, encoding_format left to the client (base64)',
    params: { model: MODEL, input: 'hello world' },
    sent: { model: MODEL, input: 'hello world', encoding_format: 'base64' },
    fitsAnswer: true,
  },
  {
    shape: 'string[]',
    params: { model: MODEL, input: ['first', 'second', 'third'] },
    sent: { model: MODEL, input: ['first', 'second', 'third'], encoding_format: 'base64' },
    fitsAnswer: false,
  },
  {
    shape: '2048 strings, the most one request may hold',
    params: { model: MODEL, input: manyTexts },
    sent: { model: MODEL, input: manyTexts, encoding_format: 'base64' },
    fitsAnswer: false,
  },
  {
    shape: 'one token array (number[])',
    params: { model: MODEL, input: [15339, 1917] },
    sent: { model: MODEL, input: [15339, 1917], encoding_format: 'base64' },
    fitsAnswer: true,
  },
  {
    shape: 'token arrays (number[][])',
    params: { model: MODEL, input: [[15339], [1917, 0]] },
    sent: { model: MODEL, input: [[15339], [1917, 0]], encoding_format: 'base64' },
    fitsAnswer: false,
  },
  {
    shape: 'dimensions',
    params: { model: MODEL, input: ['hello'], dimensions: 256 },
    sent: { model: MODEL, input: ['hello'], dimensions: 256, encoding_format: 'base64' },
    fitsAnswer: false,
  },
  {
    shape: 'user',
    params: { model: MODEL, input: 'hello', user: 'user-1234' },
    sent: { model: MODEL, input: 'hello', user: 'user-1234', encoding_format: 'base64' },
    fitsAnswer: true,
  },
  {
    shape: "encoding_format 'float' asked for explicitly",
    params: { model: MODEL, input: ['a', 'b'], encoding_format: 'float' },
    sent: { model: MODEL, input: ['a', 'b'], encoding_format: 'float' },
    fitsAnswer: false,
  },
  {
    shape: "encoding_format 'base64' asked for explicitly",
    params: { model: MODEL, input: 'hello', encoding_format: 'base64' },
    sent: { model: MODEL, input: 'hello', encoding_format: 'base64' },
    fitsAnswer: true,
  },
  {
    shape: 'every field at once',
    params: { model: MODEL, input: ['a', 'b'], dimensions: 512, encoding_format: 'float', user: 'u1' },
    sent: { model: MODEL, input: ['a', 'b'], dimensions: 512, encoding_format: 'float', user: 'u1' },
    fitsAnswer: false,
  },
];

/** Bodies that break CreateEmbeddingRequest in ways a careless client could. */
const violations: { mistake: string; body: Record<string, unknown> }[] = [
  { mistake: 'an empty input array', body: { model: MODEL, input: [] } },
  { mistake: 'a property the schema does not define', body: { model: MODEL, input: 'a', format: 'float' } },
  { mistake: 'null for an optional field', body: { model: MODEL, input: 'a', encoding_format: null } },
  { mistake: 'dimensions below 1', body: { model: MODEL, input: 'a', dimensions: 0 } },
  { mistake: 'an encoding_format outside the enum', body: { model: MODEL, input: 'a', encoding_format: 'f32' } },
  { mistake: 'no model', body: { input: 'a' } },
];

describe.runIf(runContract)('requests against the OpenAPI description served by Prism', () => {
  const exchanges: Exchange[] = [];
  let agent: Agent;
  let client: EmbeddingsClient;

  /** The one exchange a test made; a second one (a retry, say) would hide what was judged. */
  const onlyExchange = (): Exchange => {
    expect(exchanges).toHaveLength(1);
    return exchanges[0]!;
  };

  beforeAll(async () => {
    await requirePrism(PRISM_URL);
    agent = new Agent();
    client = new EmbeddingsClient({
      baseURL: PRISM_URL,
      apiKey: API_KEY,
      organization: 'org-contract',
      project: 'proj_contract',
      // One request per call, so each test judges exactly what it sent (429 would be retried).
      maxRetries: 0,
      dispatcher: agent.compose(recordInto(exchanges)),
    });
  });

  beforeEach(() => {
    exchanges.length = 0;
  });

  afterAll(async () => {
    await agent?.close();
  });

  test.each(shapes)('Prism accepts $shape (200, not 422)', async ({ params, sent, fitsAnswer }) => {
    const outcome = await client.embeddings.create(params).then(
      (res) => res,
      (error: unknown) => error,
    );

    const exchange = onlyExchange();
    expect(exchange.method).toBe('POST');
    expect(`${exchange.origin}${exchange.path}`).toBe(`${PRISM_URL}/embeddings`);
    expect(exchange.body).toEqual(sent);
    expect(exchange.status, exchange.response).toBe(200);
    if (fitsAnswer) expect(outcome).toMatchObject({ object: 'list', data: [{ index: 0 }] });
    else expect(outcome).toBeInstanceOf(ResponseValidationError);
  });

  test('Prism accepts the client headers: bearer key, JSON types, organization, project, custom headers', async () => {
    await client.embeddings
      .create({ model: MODEL, input: 'hello' }, { headers: { 'X-Trace-Id': 'trace-1' } })
      .catch(() => undefined);

    const exchange = onlyExchange();
    expect(exchange.headers).toMatchObject({
      authorization: `Bearer ${API_KEY}`,
      'content-type': 'application/json',
      accept: 'application/json',
      'openai-organization': 'org-contract',
      'openai-project': 'proj_contract',
      'x-trace-id': 'trace-1',
    });
    expect(exchange.headers['user-agent']).toMatch(/^embedrail\/\S+ node\/v\d+/);
    expect(exchange.status, exchange.response).toBe(200);
  });

  test.each(violations)('Prism answers 422 to $mistake, so a malformed request cannot pass', async ({ body }) => {
    const response = await request(`${PRISM_URL}/embeddings`, {
      method: 'POST',
      dispatcher: agent.compose(recordInto(exchanges)),
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const answer = (await response.body.json()) as { validation?: unknown[] };

    expect(onlyExchange().status).toBe(422);
    expect(answer.validation?.length).toBeGreaterThan(0);
  });

  test('a request that breaks the schema reaches the caller as UnprocessableEntityError', async () => {
    const tampering = new EmbeddingsClient({
      baseURL: PRISM_URL,
      apiKey: API_KEY,
      maxRetries: 0,
      dispatcher: agent.compose(recordInto(exchanges), addUnknownProperty),
    });

    const error = await tampering.embeddings.create({ model: MODEL, input: 'hello' }).catch((e: unknown) => e);

    expect(onlyExchange()).toMatchObject({ status: 422, body: { unknown_field: 1 } });
    expect(error).toBeInstanceOf(UnprocessableEntityError);
    expect(error).toMatchObject({ status: 422 });
  });

  test("the spec's 429 answer becomes RateLimitError with its Retry-After and error fields", async () => {
    const error = await client.embeddings
      .create({ model: MODEL, input: 'hello' }, { headers: { Prefer: 'code=429' } })
      .catch((e: unknown) => e);

    expect(onlyExchange().status).toBe(429);
    expect(error).toBeInstanceOf(RateLimitError);
    expect(error).toMatchObject({ status: 429, headers: { 'retry-after': '1' }, code: 'string', type: 'string' });
  });
});
