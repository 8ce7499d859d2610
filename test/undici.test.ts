/**
 * The transport loads undici's Agent and request() by their own paths, not through undici's
 * entry (which loads fetch, WebSocket, the mocks...): these prove the paths are still undici's
 * own, that package.json keeps undici where they are, and that requests go through any
 * dispatcher a user passes, with or without a `request` of its own.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Agent as EntryAgent, Dispatcher, type Dispatcher as DispatcherTypes } from 'undici';
import { expect, test } from 'vitest';
import { EmbeddingsClient } from '../src/index.js';
import { Agent, request } from '../src/undici.js';
import { useFakeApi } from './support/fake-api.js';
import { openAILike } from './support/openai-like.js';

const api = useFakeApi(...openAILike().handlers);
const params = { model: 'm', input: ['hello', 'world'] };
const require = createRequire(import.meta.url);

test("the Agent and request() loaded by path are the ones undici's entry exports", () => {
  expect(Agent).toBe(EntryAgent);
  // The entry gives every Dispatcher the API's functions, request() among them.
  expect(Dispatcher.prototype.request).toBe(require('undici/lib/api/api-request.js'));
});

test('package.json lets undici move by patches only, from the version installed', () => {
  const range = (JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string> })
    .dependencies['undici']!;
  const installed = (require('undici/package.json') as { version: string }).version;
  const [major, minor] = installed.split('.');
  expect(range).toMatch(new RegExp(`^~${major}\\.${minor}\\.\\d+$`));
});

test("a dispatcher that only dispatches gets undici's request()", async () => {
  const agent = new EntryAgent();
  let dispatched = 0;
  // No prototype: nothing but dispatch() and close(), as a hand-written dispatcher may have.
  const dispatcher = Object.assign(Object.create(null) as object, {
    dispatch: (options: DispatcherTypes.DispatchOptions, handler: DispatcherTypes.DispatchHandler) => {
      dispatched++;
      return agent.dispatch(options, handler);
    },
    close: () => agent.close(),
  }) as unknown as DispatcherTypes;
  const client = new EmbeddingsClient({ baseURL: api.url, dispatcher });
  const res = await client.embeddings.create(params);
  expect(res.data.map((item) => item.index)).toEqual([0, 1]);
  expect(dispatched).toBe(1);
  expect(api.requests).toHaveLength(1);
  expect(api.requests[0]!.body.input).toEqual(['hello', 'world']);
  await agent.close();
});

test('a dispatcher with a request() of its own answers with it', async () => {
  const calls: string[] = [];
  class OwnRequest extends EntryAgent {
    override request(options: DispatcherTypes.RequestOptions): Promise<DispatcherTypes.ResponseData> {
      calls.push(`${options.method} ${options.origin as string}${options.path}`);
      return super.request(options);
    }
  }
  const dispatcher = new OwnRequest();
  const client = new EmbeddingsClient({ baseURL: api.url, dispatcher, defaultQuery: { 'api-version': '1' } });
  await client.embeddings.create(params);
  expect(calls).toEqual([`POST ${api.url}/embeddings?api-version=1`]);
  expect(api.requests.map((r) => r.path)).toEqual(['/v1/embeddings?api-version=1']);
  await dispatcher.close();
});

test('request() sends to the URL it is given, path and query included', async () => {
  const agent = new Agent();
  const response = await request(new URL(`${api.url}/embeddings?x=1`), {
    method: 'POST',
    dispatcher: agent,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', input: 'a' }),
  });
  expect(response.statusCode).toBe(200);
  await response.body.dump();
  expect(api.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /v1/embeddings?x=1']);
  await agent.close();
});
