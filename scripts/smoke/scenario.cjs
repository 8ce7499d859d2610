// What a user does first with the installed package, run once through `import` (esm.mjs) and
// once through `require` (cjs.cjs): a real request to the packaged local server, and the
// exported error classes being the ones the client throws.
'use strict';
const assert = require('node:assert/strict');

/**
 * @param {string} label how the package was loaded, for the report
 * @param {typeof import('embedrail')} embedrail the package root
 * @param {typeof import('embedrail/server')} embedrailServer the `embedrail/server` subpath
 */
module.exports = async function run(label, embedrail, embedrailServer) {
  const { EmbeddingsClient, EmbeddingsError, APIError, BadRequestError, InvalidArgumentError } = embedrail;
  const errorClasses = [
    'EmbeddingsError',
    'APIError',
    'BadRequestError',
    'AuthenticationError',
    'PermissionDeniedError',
    'NotFoundError',
    'ConflictError',
    'UnprocessableEntityError',
    'RateLimitError',
    'InternalServerError',
    'APIConnectionError',
    'APITimeoutError',
    'APIUserAbortError',
    'ResponseValidationError',
    'InvalidArgumentError',
  ];
  for (const name of errorClasses) {
    assert.equal(typeof embedrail[name], 'function', `${label}: ${name} is not exported`);
    assert.ok(
      embedrail[name] === EmbeddingsError || embedrail[name].prototype instanceof EmbeddingsError,
      `${label}: ${name} does not extend EmbeddingsError`,
    );
  }
  assert.ok(BadRequestError.prototype instanceof APIError, `${label}: BadRequestError does not extend APIError`);

  const server = embedrailServer.createServer();
  const { url } = await server.listen(0, '127.0.0.1');
  const client = new EmbeddingsClient({ baseURL: url, maxRetries: 0 });
  try {
    const res = await client.embeddings.create({
      model: 'local-hash-embedding',
      input: ['pack and import', 'smoke test'],
    });
    assert.equal(res.data.length, 2, `${label}: expected 2 embeddings`);
    for (const [position, item] of res.data.entries()) {
      assert.equal(item.index, position);
      assert.ok(Array.isArray(item.embedding) && item.embedding.length === 384, `${label}: expected number[384]`);
      const norm = Math.hypot(...item.embedding);
      assert.ok(Math.abs(norm - 1) < 1e-6, `${label}: norm ${norm} is not 1`);
    }

    // Bad input is refused before any request; a server error arrives as the exported class.
    const before = server.stats.requests;
    await assert.rejects(client.embeddings.create({ model: 'local-hash-embedding', input: [] }), InvalidArgumentError);
    assert.equal(server.stats.requests, before, `${label}: invalid params reached the server`);
    // The client leaves `dimensions` open (models differ); the server caps it at 3072.
    const tooMany = { model: 'local-hash-embedding', input: 'x', dimensions: 4096 };
    await assert.rejects(client.embeddings.create(tooMany), (error) => {
      assert.ok(error instanceof BadRequestError, `${label}: expected BadRequestError, got ${error}`);
      assert.equal(error.param, 'dimensions');
      return true;
    });
    // cl100k ships inside the package (dist/cl100k.cjs, loaded on the first count): the batch
    // engine counts with it for text-embedding-3-* models, and gpt-tokenizer is not installed.
    assert.equal(embedrail.cl100kTokenizer.count('hello world'), 2, `${label}: cl100k count`);
    const many = await client.embeddings.createMany({
      model: 'text-embedding-3-small',
      input: ['pack', 'and', 'pack'],
    });
    assert.deepEqual(
      many.data.map((item) => item.index),
      [0, 1, 2],
      `${label}: createMany() lost or reordered an input`,
    );
    console.log(
      `${label}: ${res.data.length} vectors of ${res.data[0].embedding.length} dimensions from ${url}; errors are the exported classes`,
    );
  } finally {
    await client.close();
    await server.close();
  }
};
