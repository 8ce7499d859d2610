import type { Dispatcher } from 'undici';
import requestThrough from 'undici/lib/api/api-request.js';

// `import 'undici'` loads every dispatcher, fetch, WebSocket, the mocks and the caches: about
// 90 ms of a cold start, where the keep-alive Agent and request() the transport uses load in
// about 35 ms by their own paths. undici 7 has no `exports` map, so those paths are reachable;
// package.json pins undici to a patch range (~) so a minor cannot move them, and
// test/undici.test.ts fails if they stop being undici's own Agent and request.

/** undici's keep-alive dispatcher, the class `import { Agent } from 'undici'` gives. */
export { default as Agent } from 'undici/lib/dispatcher/agent.js';

/**
 * undici's `request(url, options)` through `dispatcher`. A dispatcher that carries its own
 * `request` (any, once undici's entry is loaded: its prototype gets the API then; or one from
 * another copy of undici) answers with it; one that only dispatches (the Agent loaded here
 * before that, a custom Dispatcher) gets undici's.
 */
export function request(
  url: URL,
  options: Omit<Dispatcher.RequestOptions, 'origin' | 'path'> & { dispatcher: Dispatcher },
): Promise<Dispatcher.ResponseData> {
  const { dispatcher, ...rest } = options;
  const init: Dispatcher.RequestOptions = { ...rest, origin: url.origin, path: `${url.pathname}${url.search}` };
  // Typed as always there, but undefined on a dispatcher loaded by path alone.
  return typeof dispatcher.request === 'function' ? dispatcher.request(init) : requestThrough.call(dispatcher, init);
}
