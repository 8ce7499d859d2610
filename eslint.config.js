// Lint rules that catch real bugs in an async SDK: promises nobody awaits or catches, promises
// passed where a callback's result is ignored, awaits of values that are not thenables, `any`
// leaking out of parsed input, objects printed as '[object Object]' in messages. Formatting is
// prettier's job (`npm run format`), not eslint's.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'coverage/', 'node_modules/', '.tmp/', 'test/fixtures/'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Named in the config so that a change of preset cannot drop them silently.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      // An async function without await is how a Promise-returning interface (EmbeddingCache,
      // an async source) is implemented most plainly: the rule flags only those.
      '@typescript-eslint/require-await': 'off',
      // Errors kept as `unknown` (a source's own error, an abort reason) are rethrown and rejected
      // with as they are, by design; after `!== undefined` the rule sees `{}` and flags each one.
      '@typescript-eslint/only-throw-error': 'off',
      '@typescript-eslint/prefer-promise-reject-errors': 'off',
      // The build bundles zod: `import { z }` is one object holding all of zod, which esbuild then
      // keeps whole (locales, JSON Schema converters), 4× the import cost of the part in use.
      'no-restricted-syntax': [
        'error',
        {
          selector: "ImportDeclaration[source.value='zod'] > ImportSpecifier[imported.name='z']",
          message: "Import zod as `import * as z from 'zod'`.",
        },
      ],
    },
  },
  {
    // Tests read wire JSON as it comes (`await res.json()` is `any`) and destructure fixtures'
    // methods; requiring types there adds casts, not safety.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    // The examples, benchmarks and scripts are plain JavaScript outside the TypeScript project.
    files: ['**/*.{js,mjs,cjs}'],
    extends: [tseslint.configs.disableTypeChecked],
  },
  {
    // CommonJS on purpose: the smoke test proves require() works without Node's require(esm).
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
