// Bundled with esbuild --minify by the smoke test, as an app's bundler would: classes are
// renamed, and the error names must survive it (the CLI writes them into failures files).
import assert from 'node:assert/strict';
import { BadRequestError, EmbeddingsClient, InvalidArgumentError, RateLimitError } from 'embedrail';

const init = { method: 'POST', path: '/embeddings', headers: {}, body: {} };
const badRequest = new BadRequestError({ ...init, status: 400 });
assert.equal(badRequest.name, 'BadRequestError');
assert.equal(new RateLimitError({ ...init, status: 429 }).name, 'RateLimitError');
assert.throws(
  () => new EmbeddingsClient({ baseURL: 'ftp://x' }),
  (error) => error instanceof InvalidArgumentError && error.name === 'InvalidArgumentError',
);
console.log(
  `minified: classes renamed to ${BadRequestError.name} and ${RateLimitError.name}; error names kept (${badRequest.name})`,
);
