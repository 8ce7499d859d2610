// The import rules of src/, checked by `npm run check:deps`. Layers run one way, bottom first:
// errors, version → retry, headers, schemas, decode, tokenizer, vector → options →
// response-body, transport → requester → response → create → batch/* → embeddings → client
// → index. A type-only import back up is fine: it is gone once compiled.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-value-cycle',
      severity: 'error',
      comment:
        'Modules that import values from each other run in an order that depends on which one is ' +
        'loaded first, and one sees the other half-initialised. Move what both need to a lower module; ' +
        'a type-only import (`import type`) back up is fine.',
      from: { path: '^src/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'cli-through-public-entries',
      severity: 'error',
      comment:
        'The CLI is a user of the library: it imports what any user can, from src/index.ts and ' +
        'src/server/index.ts, so the public API is enough to build it.',
      from: { path: '^src/cli/' },
      to: {
        path: '^src/',
        pathNot: ['^src/cli/', '^src/index[.]ts$', '^src/server/index[.]ts$', '^src/redis/index[.]ts$'],
      },
    },
    {
      name: 'server-through-public-entry',
      severity: 'error',
      comment: 'The local server is shipped as its own entry and reaches the library through src/index.ts only.',
      from: { path: '^src/server/' },
      to: {
        path: '^src/',
        pathNot: ['^src/server/', '^src/index[.]ts$'],
      },
    },
    {
      name: 'redis-beside-the-core',
      comment:
        'embedrail/redis is its own entry with ioredis as an optional peer: it builds on the ' +
        'public entry and the rate-limit layer, and nothing in the core package imports it, so ' +
        'the core never needs ioredis.',
      severity: 'error',
      from: { path: '^src/redis/' },
      to: { path: '^src/', pathNot: ['^src/redis/', '^src/index[.]ts$', '^src/rate-limit/'] },
    },
    {
      name: 'core-without-redis',
      severity: 'error',
      comment: 'Only the CLI and the redis entry itself may reach src/redis/.',
      from: { path: '^src/', pathNot: ['^src/redis/', '^src/cli/'] },
      to: { path: '^src/redis/' },
    },
    {
      name: 'no-test-code-in-src',
      severity: 'error',
      comment: 'What ships must not depend on test support.',
      from: { path: '^src/' },
      to: { path: '^test/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import the checker cannot resolve is one whose rules it cannot check.',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Keep `import type` edges in the graph, marked type-only, so the rules can tell them apart.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
  },
};
