import { DEFAULT_TENANT, type Db, type TenantRow, type TenantSettings } from '@ceres/db';
import { openTenantSecret, sealTenantSecret, type Keyring, type TenantSecret } from '@ceres/queues';
import type { CliContext } from '../context';
import { CliError, UsageError } from '../errors';
import { iso, printJson, println, table, type Io } from '../output';
import { checkSmtpUrl, checkWebhookUrl, maskSmtpUrl, maskWebhookUrl, type Clearable } from '../tenant-settings';
import type { Json } from './queues';

/** What a sealed secret shows as when it cannot be opened (no keyring, or a key the keyring no longer lists). */
export const SEALED = '[sealed]';

/**
 * A tenant as every command prints it (`--json`): the secrets never in clear. `smtpUrl` is the
 * URL with its password, path and query masked (`smtp://user:****@relay.example:587`),
 * `slackWebhookUrl` its origin only (`https://hooks.slack.com/****`); both `[sealed]` when
 * JOBS_ENCRYPTION_KEYS is unset or does not open them, `null` when not set. Rates `null`: the
 * platform's default.
 */
export interface TenantOutput {
  id: string;
  name: string;
  mailFrom: string | null;
  smtpUrl: string | null;
  slackWebhookUrl: string | null;
  emailRatePerSecond: number | null;
  newsletterRatePerSecond: number | null;
  disabled: boolean;
  disabledAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export const TENANT_JSON_HELP = `
A tenant (--json): { id, name, mailFrom, smtpUrl, slackWebhookUrl, emailRatePerSecond,
newsletterRatePerSecond, disabled, disabledAt, createdAt, updatedAt }. Secrets are never printed:
smtpUrl shows scheme, user, host and port with the password masked ("smtp://user:****@relay.example:587"),
slackWebhookUrl its origin only ("https://hooks.slack.com/****"); "[sealed]" when JOBS_ENCRYPTION_KEYS
is unset or cannot open them; null when not set. A rate of null is the platform's default. Times ISO 8601.`;

const SECRET_OPTION: Record<TenantSecret, string> = { smtpUrl: '--smtp-url', slackWebhookUrl: '--slack-webhook-url' };

/** Tenants whose secrets could not be opened, warned about once per command. */
function opener(keyring: Keyring | undefined, io: Io) {
  const warned = new Set<string>();
  return (tenant: string, secret: TenantSecret, sealed: string | null, mask: (clear: string) => string): string | null => {
    if (sealed === null) return null;
    if (!keyring) return SEALED;
    try {
      return mask(openTenantSecret(keyring, tenant, secret, sealed));
    } catch (error) {
      if (!warned.has(tenant)) {
        warned.add(tenant);
        io.stderr.write(`ceres-jobs: warning: cannot open the sealed settings of tenant "${tenant}": ${(error as Error).message}\n`);
      }
      return SEALED;
    }
  };
}

function tenantOutput(row: TenantRow, open: ReturnType<typeof opener>): TenantOutput {
  return {
    id: row.id,
    name: row.name,
    mailFrom: row.mailFrom,
    smtpUrl: open(row.id, 'smtpUrl', row.smtpUrlSealed, maskSmtpUrl),
    slackWebhookUrl: open(row.id, 'slackWebhookUrl', row.slackWebhookUrlSealed, maskWebhookUrl),
    emailRatePerSecond: row.emailRatePerSecond,
    newsletterRatePerSecond: row.newsletterRatePerSecond,
    disabled: row.disabledAt !== null,
    disabledAt: iso(row.disabledAt?.getTime()),
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

const orDefault = (value: number | null) => (value === null ? 'default' : `${value}/s`);

function printTenant(io: Io, tenant: TenantOutput): void {
  const lines: Array<[string, string]> = [
    ['id', tenant.id],
    ['name', tenant.name],
    ['mailFrom', tenant.mailFrom ?? '-'],
    ['smtpUrl', tenant.smtpUrl ?? '-'],
    ['slackWebhookUrl', tenant.slackWebhookUrl ?? '-'],
    ['emailRate', orDefault(tenant.emailRatePerSecond)],
    ['newsletterRate', orDefault(tenant.newsletterRatePerSecond)],
    ['disabled', tenant.disabledAt ? `since ${tenant.disabledAt}` : 'no'],
    ['createdAt', tenant.createdAt],
    ['updatedAt', tenant.updatedAt],
  ];
  for (const [key, value] of lines) println(io, `${key.padEnd(16)} ${value}`);
}

async function getTenant(db: Db, id: string): Promise<TenantRow> {
  const row = await db.tenants.get(id);
  if (!row) throw new CliError(`no tenant "${id}" (see \`ceres-jobs tenants list\`)`);
  return row;
}

async function show(ctx: CliContext, io: Io, db: Db, id: string, options: Json, headline?: string): Promise<number> {
  const tenant = tenantOutput(await getTenant(db, id), opener(ctx.keyring(), io));
  if (options.json) printJson(io, { tenant });
  else {
    if (headline) println(io, headline);
    printTenant(io, tenant);
  }
  return 0;
}

/** A tenant-scoped account may name its own tenant only: another is "no tenant" (exit 1), as if it did not exist. */
async function visible(ctx: CliContext, id: string): Promise<void> {
  const { tenant } = await ctx.principal();
  if (tenant !== null && tenant !== id) throw new CliError(`no tenant "${id}" this account may see (it is scoped to tenant "${tenant}")`);
}

/** The names of the settings given (never their values: the audit row's parameters). */
const settingNames = (settings: TenantSettings) =>
  Object.entries(settings)
    .filter(([, value]) => value !== undefined && value !== null)
    .map(([key]) => key.replace(/Sealed$/, ''));

export async function list(ctx: CliContext, io: Io, options: Json): Promise<number> {
  const db = await ctx.database();
  const open = opener(ctx.keyring(), io);
  const { tenant: scope } = await ctx.principal();
  const tenants = (await db.tenants.list()).filter((row) => scope === null || row.id === scope).map((row) => tenantOutput(row, open));
  if (options.json) {
    printJson(io, { tenants });
    return 0;
  }
  println(
    io,
    table(
      ['id', 'name', 'mail from', 'smtp', 'slack', 'email', 'newsletter', 'disabled'],
      tenants.map((t) => [
        t.id,
        t.name,
        t.mailFrom ?? '-',
        t.smtpUrl ?? '-',
        t.slackWebhookUrl ?? '-',
        orDefault(t.emailRatePerSecond),
        orDefault(t.newsletterRatePerSecond),
        t.disabledAt ?? 'no',
      ]),
    ),
  );
  return 0;
}

export async function showOne(ctx: CliContext, io: Io, id: string, options: Json): Promise<number> {
  await visible(ctx, id);
  return show(ctx, io, await ctx.database(), id, options);
}

export interface SettingOptions {
  name?: string;
  mailFrom?: string;
  smtpUrl?: string;
  slackWebhookUrl?: string;
  emailRatePerSecond?: number;
  newsletterRatePerSecond?: number;
}

/**
 * The settings to write: the secrets checked (without echoing them) and sealed for this tenant.
 * Everything is checked, and the keyring found, before anything is written.
 */
function settingsOf(ctx: CliContext, id: string, options: SettingOptions): TenantSettings {
  if (options.smtpUrl !== undefined) checkSmtpUrl(options.smtpUrl);
  if (options.slackWebhookUrl !== undefined) checkWebhookUrl(options.slackWebhookUrl);
  const secrets = (['smtpUrl', 'slackWebhookUrl'] as const).filter((secret) => options[secret] !== undefined);
  const keyring = secrets.length
    ? ctx.requireKeyring(`${secrets.map((s) => SECRET_OPTION[s]).join(' and ')} ${secrets.length > 1 ? 'are' : 'is'} stored sealed with it`)
    : undefined;
  const seal = (secret: TenantSecret) => {
    const value = options[secret];
    return value === undefined ? undefined : sealTenantSecret(keyring!, id, secret, value);
  };
  return {
    name: options.name,
    mailFrom: options.mailFrom,
    smtpUrlSealed: seal('smtpUrl'),
    slackWebhookUrlSealed: seal('slackWebhookUrl'),
    emailRatePerSecond: options.emailRatePerSecond,
    newsletterRatePerSecond: options.newsletterRatePerSecond,
  };
}

export async function add(ctx: CliContext, io: Io, id: string, options: SettingOptions & Json & { name: string }): Promise<number> {
  await ctx.refuseScoped('tenants add');
  const settings = settingsOf(ctx, id, options);
  const db = await ctx.database();
  const added = await ctx.audited(
    'tenant.change',
    { tenant: id, target: { tenant: id }, params: { change: 'add', set: settingNames({ ...settings, name: options.name }) } },
    () => db.tenants.add(id, { ...settings, name: options.name }),
    (done) => (done ? 'ok' : 'exists'),
  );
  if (!added) throw new CliError(`tenant "${id}" exists already; change it with \`ceres-jobs tenants update ${id}\``);
  return show(ctx, io, db, id, options, `added tenant "${id}"`);
}

/** Each `--clear` setting: the option that sets it, the column it unsets. */
const CLEARED: Record<Clearable, { option: keyof SettingOptions; column: keyof TenantSettings }> = {
  'mail-from': { option: 'mailFrom', column: 'mailFrom' },
  'smtp-url': { option: 'smtpUrl', column: 'smtpUrlSealed' },
  'slack-webhook-url': { option: 'slackWebhookUrl', column: 'slackWebhookUrlSealed' },
  'email-rate-per-second': { option: 'emailRatePerSecond', column: 'emailRatePerSecond' },
  'newsletter-rate-per-second': { option: 'newsletterRatePerSecond', column: 'newsletterRatePerSecond' },
};

export async function update(
  ctx: CliContext,
  io: Io,
  id: string,
  options: SettingOptions & Json & { clear?: Clearable[] },
): Promise<number> {
  const clear = options.clear ?? [];
  for (const setting of clear)
    if (options[CLEARED[setting].option] !== undefined)
      throw new UsageError(`option '--clear <setting>': cannot set --${setting} and clear it at once`);
  const settings = settingsOf(ctx, id, options);
  for (const setting of clear) Object.assign(settings, { [CLEARED[setting].column]: null });
  if (Object.values(settings).every((value) => value === undefined))
    throw new UsageError('tenants update: nothing to change; give a setting (--name, --mail-from, …) or --clear <setting>');
  await visible(ctx, id);
  const db = await ctx.database();
  const changed = await ctx.audited(
    'tenant.change',
    { tenant: id, target: { tenant: id }, params: { change: 'update', set: settingNames(settings), clear } },
    () => db.tenants.update(id, settings),
    (done) => (done ? 'ok' : 'not-found'),
  );
  if (!changed) await getTenant(db, id);
  return show(ctx, io, db, id, options, `updated tenant "${id}"`);
}

export async function setDisabled(ctx: CliContext, io: Io, id: string, disabled: boolean, options: Json): Promise<number> {
  if (disabled && id === DEFAULT_TENANT)
    throw new CliError(
      `tenant "${DEFAULT_TENANT}" cannot be disabled: it is the only tenant of a single-municipality install, and all its jobs would wait`,
    );
  await visible(ctx, id);
  const db = await ctx.database();
  const changed = await ctx.audited(
    'tenant.change',
    { tenant: id, target: { tenant: id }, params: { change: disabled ? 'disable' : 'enable' } },
    () => db.tenants.setDisabled(id, disabled),
    (done) => (done ? 'ok' : 'not-found'),
  );
  if (!changed) await getTenant(db, id);
  return show(
    ctx,
    io,
    db,
    id,
    options,
    disabled
      ? `tenant "${id}" is disabled: its jobs wait (nothing is lost) until \`ceres-jobs tenants enable ${id}\``
      : `tenant "${id}" is enabled`,
  );
}
