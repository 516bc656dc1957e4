import js from '@eslint/js'
import prettier from 'eslint-config-prettier'
import tseslint from 'typescript-eslint'

// Architecture boundaries (STYLE.md): side effects live in narrow adapters.
const restricted = (allowed) => ({
  'no-restricted-imports': [
    'error',
    {
      paths: [
        ...(allowed.includes('execa') ? [] : [{name: 'execa', message: 'Only src/host may spawn processes.'}]),
        ...(allowed.includes('fs')
          ? []
          : [
              {name: 'node:fs', message: 'Only src/host (and src/collect writers) may touch the file system.'},
              {name: 'node:fs/promises', message: 'Only src/host may touch the file system.'},
            ]),
        ...(allowed.includes('chalk') ? [] : [{name: 'chalk', message: 'Only src/report renders colour.'}]),
        ...(allowed.includes('table') ? [] : [{name: 'cli-table3', message: 'Only src/report renders tables.'}]),
        ...(allowed.includes('k8s')
          ? []
          : [{name: '@kubernetes/client-node', message: 'Only src/k8s talks to the Kubernetes API.'}]),
      ],
    },
  ],
})

export default tseslint.config(
  {ignores: ['dist/**', 'node_modules/**', 'test/fixtures/**', 'bin/**', '.scratch/**']},
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    languageOptions: {globals: {process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly'}},
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_'}],
    },
  },
  {files: ['src/parse/**/*.ts', 'src/checks/**/*.ts', 'src/engine/**/*.ts'], rules: restricted([])},
  {files: ['src/report/**/*.ts'], rules: restricted(['chalk', 'table'])},
  {files: ['src/host/**/*.ts'], rules: restricted(['execa', 'fs'])},
  {files: ['src/k8s/**/*.ts'], rules: restricted(['k8s'])},
  {files: ['src/facts/**/*.ts', 'src/commands/**/*.ts', 'src/setup/**/*.ts', 'src/lab/**/*.ts', 'src/collect/**/*.ts'], rules: restricted([])},
)
