import { fileURLToPath } from 'node:url';
import { ESLint, type Linter } from 'eslint';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The repository's ESLint config, for snippets linted as if they were a file of the repository.
 * A snippet is not a file of the TypeScript project, so it is linted without type information:
 * the syntax rules (boundaries, conventions) apply; the type-aware ones are tested apart
 * (tests/type-aware-lint.test.ts).
 */
const eslint = new ESLint({
  cwd: ROOT,
  overrideConfig: {
    files: ['**/*.ts', '**/*.mts'],
    languageOptions: { parserOptions: { project: false } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/no-misused-promises': 'off',
      '@typescript-eslint/await-thenable': 'off',
    },
  },
});

/** The messages for `source` linted as `filePath` (relative to the repository). A snippet that does not parse throws. */
export async function lintSnippet(source: string, filePath: string): Promise<Linter.LintMessage[]> {
  const [result] = await eslint.lintText(source, { filePath: `${ROOT}${filePath}` });
  const fatal = result!.messages.find((message) => message.fatal);
  if (fatal) throw new Error(`${filePath}: the snippet was not linted: ${fatal.message}`);
  return result!.messages;
}

/** The same config for files of the repository. */
export function lintFiles(patterns: string[]): Promise<ESLint.LintResult[]> {
  return eslint.lintFiles(patterns);
}
