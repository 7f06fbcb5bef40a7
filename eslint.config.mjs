// ESLint for crm-worker: typescript-eslint's recommended rules (syntax only, no type information,
// so a run stays fast), Prettier owns formatting (eslint-config-prettier turns ESLint's style rules
// off), and eslint-plugin-boundaries encodes the one-way dependencies between the folders of src/.
// The layering is read from ./eslint.layers.mjs; its own test is test/lint/layering-rule.test.ts.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import boundaries from 'eslint-plugin-boundaries';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import { layerElements, layerFiles, layerPolicies } from './eslint.layers.mjs';

export default tseslint.config(
  {
    ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'bench/results/**', 'bench/tmp/**', 'data/**', '.test-results/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // `_`-prefixed names are the codebase's way to say "deliberately unused" (callbacks, destructuring).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // `let handle; onSignal(() => handle?.stop()); handle = await start()`: the closure is why it is a let.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // Tests and benchmarks probe JSON answers and read package.json files with require(); the
    // strictness that keeps src/ honest would only add casts there.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Plain CommonJS files (jest config, Docker health check, fixtures started as child processes).
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Tests may reach into any room; the layering applies to src/ only.
    files: ['src/**/*.ts'],
    plugins: { boundaries },
    settings: {
      'import/resolver': { node: { extensions: ['.ts', '.js', '.json'] } },
      'boundaries/elements': layerElements,
      'boundaries/files': layerFiles,
      'boundaries/include': ['src/**/*.ts'],
    },
    rules: {
      'boundaries/dependencies': [
        'error',
        {
          default: 'disallow',
          checkUnknownLocals: true,
          policies: layerPolicies,
          message: 'src/{{from.element.type}}/ may not import src/{{to.element.type}}/: imports point down the tiers of eslint.layers.mjs',
        },
      ],
      // Every file of src/ belongs to a room or is a composition root, so a new folder gets a tier.
      'boundaries/no-unknown-files': 'error',
    },
  },
  prettier,
);
