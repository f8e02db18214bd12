import { CLEANABLE_STATES, JOB_STATES, MAX_SEARCH_PAGE, QUEUE_NAMES, SEARCH_STATES } from '@ceres/queues';
import { ACTIONS, DEFAULT_TOKEN_SCOPES, ROLES, TOKEN_SCOPES } from '@ceres/app-kit';
import { Argument, Command, CommanderError, Option } from 'commander';
import { erase } from './commands/erase';
import { search, SEARCH_JSON_HELP } from './commands/search';
import * as failed from './commands/failed';
import { monitor } from './commands/monitor';
import * as queues from './commands/queues';
import * as tenants from './commands/tenants';
import * as tokens from './commands/tokens';
import { work } from './commands/work';
import * as audit from './commands/audit';
import * as users from './commands/users';
import { CliContext, PASSWORD_VARIABLE, USER_VARIABLE, type Need } from './context';
import { loadCliEnv, type Env } from './env';
import { CliError, EXIT } from './errors';
import { maskText } from './mask';
import type { Io } from './output';
import { instant, wholeNumber } from './parse';
import { CLEARABLE, clearable, label, mailFrom, ratePerSecond, tenantId } from './tenant-settings';

const EXIT_CODES_HELP = `
Exit codes: 0 ok, 1 failed (nothing found, nothing done; refused to the account's role or tenant;
the audit trail cannot be written), 2 usage (bad arguments or variables),
3 Redis or PostgreSQL unreachable.
Settings come from the environment, .env and var/stack.env in the current directory (as for the apps).

Who runs it: the OS user with the admin role, unless ${USER_VARIABLE} and ${PASSWORD_VARIABLE} name an
operator account (\`users add\`): then that account's role decides what it may do (viewer: read;
operator: also retry, pause, resume, schedulers run, failed retry; admin: everything), and an
account scoped to a tenant sees and acts on that tenant's jobs only. A refused command exits 1
naming the role it needs. Every mutating command appends one row to the audit trail in PostgreSQL
(\`audit\`); when it cannot be written, the command does nothing and exits 1.`;

type Run = (ctx: CliContext) => Promise<number>;

/** Runs `argv` (without node and the script) and resolves with the exit code. */
export async function run(argv: string[], io: Io, env: Env = loadCliEnv()): Promise<number> {
  const ctx = new CliContext(env);
  let exitCode: number = EXIT.ok;
  /** Runs a command once whoever runs the CLI may do what it needs (`ctx.authorize`). */
  const act = (need: Need, action: Run) => async () => {
    await ctx.authorize(need);
    exitCode = await action(ctx);
  };

  const queueArg = () => new Argument('<queue>', 'queue name').choices(QUEUE_NAMES);
  const json = () => new Option('--json', 'print JSON instead of text');
  /** `--tenant` of stats, jobs, retry and drain: only that tenant's jobs, told from each job's id or data. */
  const tenantFilter = (what: string) =>
    new Option(
      '--tenant <id>',
      `${what} only this tenant's jobs ("default": those naming no tenant); reads every job id of the states concerned, page by page`,
    ).argParser(tenantId);
  const program = new Command('ceres-jobs')
    .description("The operator's command line for the Ceres job queues (BullMQ on Redis) and the failed_jobs archive.")
    .addHelpText('after', EXIT_CODES_HELP)
    .showHelpAfterError('(add --help for usage)')
    // `schedulers run x --json`: an option after a subcommand belongs to the subcommand.
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) });

  program
    .command('stats')
    .description(
      'every queue: waiting, active, delayed, prioritized, failed, completed, paused, oldest waiting (age of the oldest due job), and the wait p95 of the last 15 minutes (without --tenant)',
    )
    .addOption(tenantFilter('count'))
    .addOption(json())
    .action((options) => act('read', () => queues.stats(ctx, io, options))());

  const jobsCmd = program
    .command('jobs')
    .description('list the jobs of one state, newest first, each with its tenant (personal data masked); `jobs search`: find jobs by key')
    .enablePositionalOptions()
    .addArgument(queueArg())
    .addOption(new Option('--state <state>', 'job state').choices(JOB_STATES).default('waiting'))
    .addOption(new Option('--limit <n>', 'at most this many jobs (1..1000)').argParser(wholeNumber(1, 1000)).default(20))
    .addOption(tenantFilter('list'))
    .addOption(json())
    .action((queue, options) => act('read', () => queues.jobs(ctx, io, queue, options))());
  jobsCmd
    .command('search')
    .description(
      'find jobs by what they are about: the job ledger in PostgreSQL (every finished job, kept JOB_LEDGER_RETENTION_DAYS), newest first; with --key also the jobs with that key still waiting, delayed or active (personal data masked)',
    )
    .addOption(new Option('--queue <queue>', 'only this queue').choices(QUEUE_NAMES))
    .addOption(new Option('--type <type>', 'only this job type: email/welcome, or welcome'))
    .addOption(new Option('--key <key>', "the job type's ledger key: a user id (mails, files, newsletter sends) or a campaign id"))
    .addOption(new Option('--state <state>', 'only this state').choices(SEARCH_STATES))
    .addOption(new Option('--since <time>', 'finished at or after: ISO 8601 or an age (90m, 24h, 7d)').argParser(instant()))
    .addOption(new Option('--until <time>', 'finished before: ISO 8601 or an age (90m, 24h, 7d)').argParser(instant()))
    .addOption(new Option('--error <text>', 'the (masked) error contains this text, any case'))
    .addOption(new Option('--tenant <id>', 'only this tenant\'s jobs ("default": those naming no tenant)').argParser(tenantId))
    .addOption(new Option('--cursor <cursor>', 'the next page: the cursor the previous page printed'))
    .addOption(
      new Option('--limit <n>', `at most this many finished jobs (1..${MAX_SEARCH_PAGE})`)
        .argParser(wholeNumber(1, MAX_SEARCH_PAGE))
        .default(50),
    )
    .addOption(json())
    .addHelpText('after', SEARCH_JSON_HELP)
    .action((options) => act('jobs.search', () => search(ctx, io, options))());

  program
    .command('job')
    .description('show one job: state, attempts, reason, stack trace, data (personal data masked)')
    .addArgument(queueArg())
    .argument('<id>', 'job id, e.g. email:verify:user-123')
    .addOption(json())
    .action((queue, id, options) => act('read', () => queues.job(ctx, io, queue, id, options))());

  program
    .command('retry')
    .description(
      'move a failed job (or every failed job of the queue) back to waiting with its attempts reset: the whole retry schedule again',
    )
    .addArgument(queueArg())
    .argument('[id]', 'job id')
    .option('--all', 'every failed job of the queue')
    .addOption(tenantFilter('with --all: retry'))
    .addOption(json())
    .action((queue, id, options) => act('job.retry', () => queues.retry(ctx, io, queue, id, options))());

  const failedCmd = program
    .command('failed')
    .description('the failed_jobs archive in PostgreSQL (dead letters, kept after Redis removed them)');
  failedCmd
    .command('list')
    .description('archived final failures, newest first (personal data masked)')
    .addOption(new Option('--queue <queue>', 'only this queue').choices(QUEUE_NAMES))
    .addOption(new Option('--since <time>', 'only failures since then: ISO 8601 or an age (90m, 24h, 7d)').argParser(instant()))
    .addOption(new Option('--limit <n>', 'at most this many rows (1..1000)').argParser(wholeNumber(1, 1000)).default(50))
    .addOption(json())
    .action((options) => act('read', () => failed.list(ctx, io, options))());
  failedCmd
    .command('retry')
    .description('re-enqueue archived failures with their original job type and payload, each at most once (the row is marked retried)')
    .addArgument(new Argument('[archive-id]', 'the id of `failed list`').argParser(wholeNumber(1, Number.MAX_SAFE_INTEGER)))
    .option('--all', 'every archived failure not retried yet')
    .addOption(new Option('--queue <queue>', 'with --all: only this queue').choices(QUEUE_NAMES))
    .addOption(json())
    .action((id, options) => act('archive.replay', () => failed.retry(ctx, io, id, options))());
  failedCmd
    .command('forget')
    .description('delete one archived failure')
    .addArgument(new Argument('<archive-id>', 'the id of `failed list`').argParser(wholeNumber(1, Number.MAX_SAFE_INTEGER)))
    .addOption(json())
    .action((id, options) => act('archive.forget', () => failed.forget(ctx, io, id, options))());
  failedCmd
    .command('flush')
    .description('delete every archived failure, or those that failed before --before')
    .addOption(new Option('--before <time>', 'only failures before then: ISO 8601 or an age (90m, 24h, 7d)').argParser(instant()))
    .addOption(json())
    .action((options) => act('archive.flush', () => failed.flush(ctx, io, options))());

  for (const pause of [true, false]) {
    program
      .command(pause ? 'pause' : 'resume')
      .description(pause ? 'pause a queue: workers finish their current jobs and take no new ones' : 'resume a paused queue')
      .addArgument(queueArg())
      .addOption(json())
      .action((queue, options) =>
        act(pause ? 'queue.pause' : 'queue.resume', () => queues.pauseOrResume(ctx, io, queue, pause, options))(),
      );
  }

  program
    .command('clean')
    .description('remove finished jobs of one state that finished more than --grace ms ago')
    .addArgument(queueArg())
    .addArgument(new Argument('<state>', 'finished state').choices(CLEANABLE_STATES))
    .addOption(
      new Option('--grace <ms>', 'only jobs finished at least this long ago').argParser(wholeNumber(0, Number.MAX_SAFE_INTEGER)).default(0),
    )
    .addOption(new Option('--limit <n>', 'at most this many jobs').argParser(wholeNumber(1, Number.MAX_SAFE_INTEGER)))
    .addOption(json())
    .action((queue, state, options) => act('queue.clean', () => queues.clean(ctx, io, queue, state, options))());

  program
    .command('drain')
    .description('remove the waiting (and prioritized) jobs of a queue; delayed, active and finished jobs stay. Asks first unless --yes')
    .addArgument(queueArg())
    .addOption(tenantFilter('remove'))
    .option('--yes', 'do not ask for confirmation (needed when not on a terminal)')
    .addOption(json())
    .action((queue, options) => act('queue.drain', () => queues.drain(ctx, io, queue, options))());

  program
    .command('erase')
    .description(
      "erase one user's data: their jobs in every queue and state, failed_jobs rows, tokens, newsletter rows and job ledger rows (the admin API's POST /api/erasure). Only that tenant's user: the same id of another tenant is kept. Asks first unless --yes",
    )
    .argument('<user-id>', 'the platform user id, as in the job payloads (userId)')
    .addOption(
      new Option(
        '--tenant <id>',
        'the tenant whose user it is (a user id is unique within a tenant); default: "default", or the tenant of a tenant-scoped account',
      ).argParser(tenantId),
    )
    .option('--yes', 'do not ask for confirmation (needed when not on a terminal)')
    .addOption(json())
    .action((userId, options) => act('erasure', () => erase(ctx, io, userId, options))());

  const schedulersCmd = program
    .command('schedulers')
    .description('the cron job schedulers: pattern, time zone, next run')
    .enablePositionalOptions()
    .addOption(json())
    .action((options) => act('read', () => queues.schedulers(ctx, io, options))());
  schedulersCmd
    .command('run')
    .description("add one job now from a scheduler's template; the schedule is untouched")
    .argument('<id>', 'scheduler id, e.g. daily-report')
    .addOption(new Option('--queue <queue>', 'the queue, when two hold a scheduler with this id').choices(QUEUE_NAMES))
    .addOption(json())
    .action((id, options) => act('scheduler.run', () => queues.runScheduler(ctx, io, id, options))());

  program
    .command('work')
    .description('run the worker in the foreground (the processors, retries, timeouts and dead letters of apps/worker)')
    .addOption(new Option('--queue <queue...>', 'only these queues (repeatable)').choices(QUEUE_NAMES))
    .option('--once', 'process at most one job, then exit (at once when nothing is waiting or due)')
    .option('--stop-when-empty', 'exit 0 once the queues have nothing waiting, prioritized or delayed and due')
    .addOption(new Option('--max-jobs <n>', 'process at most this many jobs, then exit').argParser(wholeNumber(1, Number.MAX_SAFE_INTEGER)))
    .action((options) =>
      act('read', async () => {
        const { role, tenant } = await ctx.principal();
        if (role !== 'admin' || tenant !== null)
          throw new CliError(
            `work runs the worker on every tenant's jobs: it needs the admin role for every tenant (this account is ${role}${tenant === null ? '' : ` of tenant "${tenant}"`})`,
          );
        return work(ctx, io, options);
      })(),
    );

  program
    .command('monitor')
    .description('live view refreshed every second: counts per queue, done and failed per minute, oldest waiting job, workers; q quits')
    .option('--once', 'print one frame and exit')
    .addOption(new Option('--json', 'with --once: print the frame as JSON'))
    .action((options) =>
      act('read', async () => {
        await ctx.refuseScoped('monitor', 'see `ceres-jobs stats` for its counts');
        return monitor(ctx, io, options);
      })(),
    );

  const tenantsCmd = program
    .command('tenants')
    .description('the tenants (municipalities) sharing the platform, in PostgreSQL: their sender, SMTP relay, Slack webhook and rates')
    .addHelpText('after', tenants.TENANT_JSON_HELP);
  const idArg = () => new Argument('<id>', 'tenant id: 1-40 lowercase letters, digits or "-"').argParser(tenantId);
  /** The settings of `add` (the name required there) and `update`. */
  const settingOptions = (command: Command, nameRequired: boolean) =>
    command
      .addOption(new Option('--name <name>', "the tenant's name, 1-200 characters").argParser(label).makeOptionMandatory(nameRequired))
      .addOption(
        new Option('--mail-from <from>', 'the From of its mails: no-reply@city.example or "City <no-reply@city.example>"').argParser(
          mailFrom,
        ),
      )
      .addOption(
        new Option('--smtp-url <url>', 'its SMTP relay, smtp: or smtps: with the credentials (stored sealed; needs JOBS_ENCRYPTION_KEYS)'),
      )
      .addOption(new Option('--slack-webhook-url <url>', 'its Slack incoming webhook, https: (stored sealed; needs JOBS_ENCRYPTION_KEYS)'))
      .addOption(
        new Option('--email-rate-per-second <n>', 'its e-mails per second, a positive number (0.5 allowed)').argParser(ratePerSecond),
      )
      .addOption(
        new Option('--newsletter-rate-per-second <n>', 'its newsletter mails per second, a positive number').argParser(ratePerSecond),
      );
  tenantsCmd
    .command('list')
    .description('every tenant with its settings, secrets masked')
    .addOption(json())
    .addHelpText('after', '\n--json: { tenants: [tenant] }, by id.' + tenants.TENANT_JSON_HELP)
    .action((options) => act('read', () => tenants.list(ctx, io, options))());
  tenantsCmd
    .command('show')
    .description('one tenant with its settings, secrets masked; exit 1 when there is no such tenant')
    .addArgument(idArg())
    .addOption(json())
    .addHelpText('after', '\n--json: { tenant }.' + tenants.TENANT_JSON_HELP)
    .action((id, options) => act('read', () => tenants.showOne(ctx, io, id, options))());
  settingOptions(
    tenantsCmd
      .command('add')
      .description(
        'add a tenant; exit 1 when the id exists. Unset settings use the platform defaults. The SMTP and webhook URLs are stored sealed with JOBS_ENCRYPTION_KEYS',
      )
      .addArgument(idArg()),
    true,
  )
    .addOption(json())
    .addHelpText('after', '\nPrints the tenant as `tenants show` does (--json: { tenant }).' + tenants.TENANT_JSON_HELP)
    .action((id, options) => act('tenant.change', () => tenants.add(ctx, io, id, options))());
  settingOptions(
    tenantsCmd
      .command('update')
      .description(
        'change the given settings of a tenant (default included), leave the others; --clear unsets one (back to the platform default). Exit 1 when there is no such tenant',
      )
      .addArgument(idArg()),
    false,
  )
    .addOption(new Option('--clear <setting>', `unset a setting, repeatable: ${CLEARABLE.join(', ')}`).argParser(clearable))
    .addOption(json())
    .addHelpText('after', '\nPrints the tenant as `tenants show` does (--json: { tenant }).' + tenants.TENANT_JSON_HELP)
    .action((id, options) => act('tenant.change', () => tenants.update(ctx, io, id, options))());
  for (const disable of [true, false]) {
    tenantsCmd
      .command(disable ? 'disable' : 'enable')
      .description(
        disable
          ? 'disable a tenant (sets disabled_at): the worker leaves its jobs waiting, nothing is lost, until it is enabled again. "default" cannot be disabled (exit 1); disabling again keeps the first time'
          : 'enable a disabled tenant (clears disabled_at): its waiting jobs run again',
      )
      .addArgument(idArg())
      .addOption(json())
      .addHelpText('after', '\nPrints the tenant as `tenants show` does (--json: { tenant }).')
      .action((id, options) => act('tenant.change', () => tenants.setDisabled(ctx, io, id, disable, options))());
  }

  const tokensCmd = program
    .command('tokens')
    .description("the tenants' API tokens: PostgreSQL keeps only a keyed hash (HMAC under JOBS_ENCRYPTION_KEYS)")
    .addHelpText('after', tokens.TOKEN_JSON_HELP);
  tokensCmd
    .command('create')
    .description(
      'create an API token for a tenant and print it this once (it cannot be shown again); exit 1 when the tenant does not exist or is disabled. Needs JOBS_ENCRYPTION_KEYS',
    )
    .addOption(new Option('--tenant <id>', 'the tenant it authenticates as').argParser(tenantId).makeOptionMandatory())
    .addOption(new Option('--name <label>', 'a label to recognise it by, 1-200 characters').argParser(label))
    .addOption(
      new Option(
        '--scope <scopes>',
        `what it may call, comma-separated or repeated: ${TOKEN_SCOPES.join(', ')} (enqueue: the job and batch routes and its jobs' status; campaigns: the newsletter routes); default: ${DEFAULT_TOKEN_SCOPES.join(',')}`,
      ).argParser(tokens.scopes),
    )
    .addOption(json())
    .addHelpText('after', '\n--json: exactly { "id": "tok_…", "tenant": "…", "token": "cjt_…" }; `tokens list` shows its scopes.')
    .action((options) => act('token.change', () => tokens.create(ctx, io, options))());
  tokensCmd
    .command('list')
    .description('the API tokens, revoked ones included, oldest first: never the token nor its hash')
    .addOption(new Option('--tenant <id>', "only this tenant's (exit 1 when there is no such tenant)").argParser(tenantId))
    .addOption(json())
    .addHelpText('after', '\n--json: { tokens: [token] }.' + tokens.TOKEN_JSON_HELP)
    .action((options) => act('read', () => tokens.list(ctx, io, options))());
  tokensCmd
    .command('revoke')
    .description('revoke an API token for good; exit 1 when there is no such token or it is revoked already')
    .argument('<id>', 'the token id of `tokens list`, e.g. tok_abcdefghij')
    .addOption(json())
    .addHelpText('after', '\n--json: { id, tenant, revokedAt }.')
    .action((id, options) => act('token.change', () => tokens.revoke(ctx, io, id, options))());

  const usersCmd = program
    .command('users')
    .description(
      'the operator accounts of Bull Board, the admin API and the CLI (CERES_JOBS_USER), with their roles; passwords stored as scrypt hashes only. Admin role, every tenant',
    )
    .addHelpText('after', users.ROLES_HELP + '\n' + users.USER_JSON_HELP);
  const nameArg = () =>
    new Argument('<name>', 'account name: 1-40 lowercase letters, digits, ".", "_" or "-"').argParser(users.accountName);
  const accountTenant = (what: string) => new Option('--tenant <id>', what).argParser(tenantId);
  usersCmd
    .command('add')
    .description('add an account and print its generated password this once; exit 1 when the name exists or the tenant does not')
    .addArgument(nameArg())
    .addOption(new Option('--role <role>', `its role: ${ROLES.join(', ')}`).argParser(users.role).makeOptionMandatory())
    .addOption(accountTenant("it sees and acts on this tenant's jobs only (default: every tenant)"))
    .addOption(json())
    .addHelpText('after', '\n--json: { "name": …, "role": …, "password": "…" }, and "tenant" when given.')
    .action((name, options) => act('user.change', () => users.add(ctx, io, name, options))());
  usersCmd
    .command('list')
    .description('every account, disabled ones included, by name: never a password nor its hash')
    .addOption(json())
    .addHelpText('after', '\n--json: { users: [account] }.' + users.USER_JSON_HELP)
    .action((options) => act('user.read', () => users.list(ctx, io, options))());
  usersCmd
    .command('set-role')
    .description("change an account's role (and with --tenant or --all-tenants its tenant); exit 1 when there is no such account")
    .addArgument(nameArg())
    .addArgument(new Argument('<role>', `the new role: ${ROLES.join(', ')}`).argParser(users.role))
    .addOption(accountTenant("from now on this tenant's jobs only"))
    .option('--all-tenants', 'from now on every tenant')
    .addOption(json())
    .addHelpText('after', '\n--json: { user: account }.')
    .action((name, role, options) => act('user.change', () => users.setRole(ctx, io, name, role, options))());
  for (const disable of [true, false]) {
    usersCmd
      .command(disable ? 'disable' : 'enable')
      .description(
        disable
          ? 'disable an account: it can no longer log in (Bull Board, the admin API, the CLI); exit 1 when there is no such account'
          : 'enable a disabled account',
      )
      .addArgument(nameArg())
      .addOption(json())
      .addHelpText('after', '\n--json: { user: account }.')
      .action((name, options) => act('user.change', () => users.setDisabled(ctx, io, name, disable, options))());
  }
  usersCmd
    .command('reset-password')
    .description('give an account a new generated password, printed this once; the old one stops working')
    .addArgument(nameArg())
    .addOption(json())
    .addHelpText('after', '\n--json: { "name": …, "password": "…" }.')
    .action((name, options) => act('user.change', () => users.resetPassword(ctx, io, name, options))());

  const auditCmd = program
    .command('audit')
    .description(
      'the audit trail of every mutating action (admin API, Bull Board, CLI), newest first; hash-chained in PostgreSQL. Admin role',
    )
    .enablePositionalOptions()
    .addOption(new Option('--since <time>', 'only rows since then: ISO 8601 or an age (90m, 24h, 7d)').argParser(instant()))
    .addOption(new Option('--actor <actor>', 'only this actor: account:<name>, token:<id>, os:<user>, bootstrap:<user>'))
    .addOption(new Option('--tenant <id>', 'only rows of this tenant').argParser(tenantId))
    .addOption(new Option('--action <action>', `only this action, e.g. ${Object.keys(ACTIONS).slice(0, 3).join(', ')}`))
    .addOption(new Option('--limit <n>', 'at most this many rows (1..1000)').argParser(wholeNumber(1, 1000)).default(50))
    .addOption(json())
    .addHelpText('after', '\n--json: { rows: [row] }.' + audit.AUDIT_JSON_HELP)
    .action((options) => act('audit.read', () => audit.list(ctx, io, options))());
  auditCmd
    .command('verify')
    .description("check the chain: every row's hash and its link to the previous row; exit 1 naming the first broken row")
    .addOption(json())
    .addHelpText('after', '\n--json: { rows, whole, firstBroken: { id, reason } | null }.')
    .action((options) => act('audit.read', () => audit.verify(ctx, io, options))());

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version exit 0; every other complaint of the parser is a usage error.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const reported = ctx.translate(error);
    if (reported instanceof CliError) {
      io.stderr.write(`ceres-jobs: ${reported.message}\n`);
      return reported.exitCode;
    }
    io.stderr.write(`ceres-jobs: ${maskText((reported as Error)?.message ?? String(reported))}\n`);
    return EXIT.failed;
  } finally {
    await ctx.close();
  }
}
