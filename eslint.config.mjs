// ESLint flat config: the recommended JavaScript and typescript-eslint rules, plus the
// boundaries between the apps (no-restricted-imports), which a test proves bite
// (apps/api/tests/boundaries.test.ts).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const APPS = ['api', 'worker', 'queues-ui', 'cli'];

/**
 * Apps never import each other: shared code lives in packages/*. One exception, by its package
 * entry only: the CLI's `work` command runs the worker (`import('@ceres/worker')`).
 */
const otherApp = (app, { entryOf = [] } = {}) => {
  const others = APPS.filter((name) => name !== app);
  return {
    group: others.flatMap((name) => [
      ...(entryOf.includes(name) ? [] : [`@ceres/${name}`]),
      `@ceres/${name}/*`,
      `**/apps/${name}`,
      `**/apps/${name}/**`,
      `**/${name}/src/**`,
    ]),
    message: 'apps never import each other; move shared code to a package under packages/',
  };
};

const BULLMQ_WORKER = 'The API only enqueues: it never imports a BullMQ Worker (nor all of bullmq).';

const boundaries = (app, files, extra = {}) => ({
  files,
  rules: {
    'no-restricted-imports': ['error', { paths: extra.paths ?? [], patterns: [otherApp(app, extra), ...(extra.patterns ?? [])] }],
    ...(extra.rules ?? {}),
  },
});
const appFiles = (app, folder = '**') => [`apps/${app}/${folder}/*.{ts,mts,js,mjs}`];

/**
 * The repository's conventions (issue 25), as rules of a local plugin so they stack with any other
 * block's `no-restricted-syntax`: each rule reports the AST selectors it lists.
 * tests/conventions.test.ts proves each one bites.
 */
const restrict = (description, selectors) => ({
  meta: { type: 'problem', docs: { description }, schema: [] },
  create: (context) => Object.fromEntries(selectors.map(([selector, message]) => [selector, (node) => context.report({ node, message })])),
});
const conventions = {
  rules: {
    'one-invalid-body': restrict('INVALID_BODY is built by invalidBody() of @ceres/http only', [
      [
        "NewExpression[callee.name='HttpError'][arguments.0.value='INVALID_BODY']",
        'build a 400 on the body with invalidBody() of @ceres/http, the one way it is built',
      ],
    ]),
    'error-bodies-through-http': restrict('every error body is an HttpError answered by @ceres/http', [
      [
        "CallExpression[callee.property.name='send'] > ObjectExpression > Property[key.name='code']",
        'answer an error with sendError(reply, new HttpError(code, message)) of @ceres/http, never a literal body',
      ],
      [
        "CallExpression[callee.property.name='send'] > MemberExpression[property.name='body']",
        "answer an HttpError with sendError(reply, error) of @ceres/http: it sets the status from the error's code",
      ],
    ]),
    'one-plugin-style': restrict('every plugin is definePlugin() of @ceres/http: named, with its dependencies', [
      [
        "ImportDeclaration[source.value='fastify-plugin']",
        'write plugins with definePlugin() of @ceres/http (a named fastify-plugin plugin declaring its dependencies)',
      ],
      [
        "ExportNamedDeclaration > FunctionDeclaration[async=false][params.0.typeAnnotation.typeAnnotation.typeName.name='FastifyInstance']",
        'no addX(app)/installX(app): make it a plugin with definePlugin() of @ceres/http, declaring what must be registered before it',
      ],
    ]),
    'settings-through-schema': restrict("every setting is declared in an env schema and read through app-kit's parseEnv", [
      [
        "ImportDeclaration[source.value=/^(node:)?util$/] > ImportSpecifier[imported.name='parseEnv'][local.name='parseEnv']",
        "Node's parseEnv reads a .env file: import it under another name (parseEnvFile); parseEnv is app-kit's, which checks variables against a schema",
      ],
      [
        "MemberExpression[object.type='MemberExpression'][object.property.name='env'][property.name=/^(?!PATH$|TMPDIR$)[A-Z][A-Z0-9_]*$/]",
        "declare the variable in the app's env schema (app-kit's parseEnv) and read it from the app's config, not from the environment",
      ],
    ]),
    'database-url-setting': restrict('DATABASE_URL is read by databaseUrlSetting() of @ceres/db', [
      [
        "ImportSpecifier[imported.name='databaseUrlFromEnv']",
        'read DATABASE_URL with databaseUrlSetting() of @ceres/db: a bad one is the ConfigError naming it, as for every other variable',
      ],
    ]),
    'queue-policy-in-definitions': restrict('queue-level policy is declared in jobs/<queue>/queue.ts, not hard-coded in an app', [
      [
        "VariableDeclarator[id.typeAnnotation.typeAnnotation.typeName.name='QueueName'][init.type='Literal']",
        'declare the policy on the queue (jobs/<queue>/queue.ts of @ceres/queues) and use what @ceres/queues derives from it',
      ],
      [
        "NewExpression[callee.name='Set'][typeArguments.params.0.typeName.name='QueueName'] > ArrayExpression > Literal",
        'declare the policy on the queue (jobs/<queue>/queue.ts of @ceres/queues) and use what @ceres/queues derives from it',
      ],
    ]),
    'one-lifecycle': restrict("the apps' signals, drain, grace and exit codes are runService() of @ceres/app-kit", [
      [
        "CallExpression[callee.object.name='process'][callee.property.name=/^(on|once|addListener|prependListener)$/][arguments.0.value=/^SIG/]",
        'handle signals with runService() of @ceres/app-kit (the one lifecycle: signals, drain, grace, exit codes); say only what differs',
      ],
    ]),
  },
};

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      'var/**',
      'test-artifacts/**',
      'bench/results/**',
      // Generated by scripts/gen-catalog.mjs.
      'packages/queues/src/jobs/catalog.ts',
      'apps/worker/src/processors/catalog.ts',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      // `_name` marks a parameter kept for its position.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // Type-aware rules: a promise is awaited, returned or handed to something that handles it.
    files: ['**/*.ts', '**/*.mts'],
    languageOptions: { parserOptions: { project: './tsconfig.json', tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
    },
  },
  {
    // Tests poke at JSON documents and library internals.
    files: ['**/tests/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // CommonJS: PM2 reads it with require().
    files: ['ecosystem.config.js'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  boundaries('api', appFiles('api')),
  // The API's own code (its tests may start Workers to process what they enqueue).
  boundaries('api', appFiles('api', 'src/**'), {
    paths: [{ name: 'bullmq', importNames: ['Worker'], message: BULLMQ_WORKER }],
    patterns: [
      { group: ['bullmq/*'], message: BULLMQ_WORKER },
      { group: ['**/processors', '**/processors/**'], message: BULLMQ_WORKER },
    ],
    rules: {
      // What no-restricted-imports cannot see: require() and import() of bullmq.
      'no-restricted-syntax': [
        'error',
        { selector: "ImportExpression[source.value='bullmq']", message: BULLMQ_WORKER },
        { selector: "CallExpression[callee.name='require'][arguments.0.value='bullmq']", message: BULLMQ_WORKER },
      ],
    },
  }),
  boundaries('worker', appFiles('worker')),
  boundaries('queues-ui', appFiles('queues-ui')),
  boundaries('cli', appFiles('cli'), { entryOf: ['worker'] }),
  // The conventions (issue 25): one way to build each thing. Its own block and plugin, so it
  // merges with the tooling's.
  {
    files: ['apps/*/src/**/*.{ts,mts}', 'packages/*/src/**/*.{ts,mts}'],
    plugins: { ceres: conventions },
    rules: {
      'ceres/one-invalid-body': 'error',
      'ceres/error-bodies-through-http': 'error',
      'ceres/one-plugin-style': 'error',
      'ceres/settings-through-schema': 'error',
    },
  },
  {
    files: ['apps/{api,worker,queues-ui}/src/**/*.{ts,mts}'],
    rules: { 'ceres/database-url-setting': 'error', 'ceres/queue-policy-in-definitions': 'error', 'ceres/one-lifecycle': 'error' },
  },
  {
    // Where the conventions are defined.
    files: ['packages/http/src/plugin.ts'],
    rules: { 'ceres/one-plugin-style': 'off' },
  },
  {
    files: ['packages/http/src/errors.ts'],
    rules: { 'ceres/one-invalid-body': 'off', 'ceres/error-bodies-through-http': 'off' },
  },
);
