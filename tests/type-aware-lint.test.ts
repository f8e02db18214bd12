import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * The type-aware rules of eslint.config.mjs are on: a snippet linted as a file of the TypeScript
 * project (its text replaces the file's for this run) is refused for each of them.
 */
it('refuses a floating promise, a promise where a callback returns void, and an await of a non-promise', async () => {
  const source = [
    'async function save(): Promise<void> {}',
    'save();',
    '[1, 2].forEach(async () => { await save(); });',
    'export async function run(): Promise<number> { return await 42; }',
    '',
  ].join('\n');
  // With CI=true typescript-eslint reads each file once from disk (its single-run mode), which
  // would lint validator.ts as it is, not the snippet.
  const eslint = new ESLint({
    cwd: ROOT,
    overrideConfig: { languageOptions: { parserOptions: { disallowAutomaticSingleRunInference: true } } },
  });
  const [result] = await eslint.lintText(source, { filePath: `${ROOT}packages/http/src/validator.ts` });
  const rules = result!.messages.map((message) => message.ruleId);
  expect(rules).toEqual(
    expect.arrayContaining([
      '@typescript-eslint/no-floating-promises',
      '@typescript-eslint/no-misused-promises',
      '@typescript-eslint/await-thenable',
    ]),
  );
}, 120_000);
