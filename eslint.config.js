// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'coverage/', 'node_modules/', 'benchmarks/results/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', 'benchmarks/*.js'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // node:test's test()/describe() return promises the runner tracks itself.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  // The floor: only src/core/ opens sockets and looks up names (the relay's API may use node:http);
  // type-only imports and the isIP helpers are allowed everywhere.
  {
    files: ['src/**/*.ts'],
    ignores: ['src/core/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            ...['node:net', 'net'].map((name) => ({
              name,
              allowImportNames: ['isIP', 'isIPv4', 'isIPv6'],
              allowTypeImports: true,
              message: 'only src/core/ opens sockets: use core/listen.ts or core/connect.ts',
            })),
            ...['node:dgram', 'dgram', 'node:tls', 'tls'].map((name) => ({
              name,
              allowTypeImports: true,
              message:
                'only src/core/ opens sockets: use core/listen.ts, core/connect.ts or core/datagram.ts',
            })),
            ...['node:dns', 'dns', 'node:dns/promises', 'dns/promises'].map((name) => ({
              name,
              allowTypeImports: true,
              message: 'names are looked up in one place: core/resolve.ts',
            })),
          ],
        },
      ],
    },
  },
  // ...and src/core/ stands on nothing above it.
  {
    files: ['src/core/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../*/**', '!../measure/**'],
              message: 'src/core/ is the floor: it imports only errors, address, measure and itself',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
