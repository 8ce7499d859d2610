// The ESM and the CommonJS build loaded side by side in one process, as happens when an ES
// module app uses a CommonJS dependency that requires embedrail: an error thrown by one build
// must be `instanceof` the other build's classes and pass its guards.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as esm from 'embedrail';

const cjs = createRequire(import.meta.url)('embedrail');
assert.notEqual(cjs.APIError, esm.APIError, 'expected two copies of the classes');

// 127.0.0.1:9 (discard) refuses connections on a test machine; either way the answer is an error.
const client = new cjs.EmbeddingsClient({ baseURL: 'http://127.0.0.1:9/v1', maxRetries: 0 });
const failure = await client.embeddings.create({ model: 'm', input: 'x' }).catch((error) => error);
await client.close();
assert.ok(failure instanceof cjs.APIConnectionError, `expected APIConnectionError, got ${failure}`);
assert.ok(failure instanceof esm.APIConnectionError, 'a CJS APIConnectionError is not instanceof the ESM class');
assert.ok(failure instanceof esm.EmbeddingsError, 'a CJS error is not instanceof the ESM EmbeddingsError');
assert.ok(!(failure instanceof esm.APIError), 'a connection error passed for an APIError');
assert.ok(esm.isEmbeddingsError(failure) && !esm.isAPIError(failure), 'the ESM guards misjudge a CJS error');
assert.match(failure.message, /^POST http:\/\/127\.0\.0\.1:9\/v1\/embeddings: /);

const status = new esm.RateLimitError({ method: 'POST', path: '/embeddings', status: 429, headers: {}, body: {} });
assert.ok(
  status instanceof cjs.RateLimitError && status instanceof cjs.APIError,
  'an ESM error is not instanceof the CJS classes',
);
assert.ok(!(status instanceof cjs.BadRequestError), 'a 429 passed for a BadRequestError');
assert.ok(cjs.isAPIError(status), 'the CJS guard misjudges an ESM APIError');
console.log(`dual: ${failure.name} from require() is instanceof the import()ed classes, and back`);
