import { apiTokenHash, openTenantSecret, parseKeyring } from '@ceres/queues';
import { testEncryptionKey, TEST_ENCRYPTION_KEYS } from '@ceres/testing';
import { describe, expect, it } from 'vitest';
import { cli, cliJson, type CliResult } from './helpers';
import { useBed } from './helpers';
import type { TenantOutput as Tenant } from '../src/commands/tenants';

const bed = useBed();
const keyring = parseKeyring(TEST_ENCRYPTION_KEYS);

const SMTP_PASSWORD = 'Sm7p-pa55word-xyzzy';
const SMTP_URL = `smtps://mailer:${SMTP_PASSWORD}@relay.city.example:465`;
const WEBHOOK_PATH = '/services/T0CITY/B0HOOK/w3bh00kS3cretPath';
const WEBHOOK_URL = `https://hooks.slack.com${WEBHOOK_PATH}`;

const withoutKeyring = () => {
  const { JOBS_ENCRYPTION_KEYS: _, ...env } = bed.env;
  return env;
};

const ISO = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

async function row(id: string) {
  const { rows } = await bed.db.pool.query<Record<string, unknown>>('SELECT * FROM tenants WHERE id = $1', [id]);
  return rows[0];
}

/** Every output of `result`, stdout and stderr. */
const outputs = (results: CliResult[]) => results.map((result) => result.stdout + result.stderr).join('\n');

describe('tenants add, list, show, update, disable, enable', () => {
  it('round trip: what add and update write is what show and list print, as JSON and as text', async () => {
    const added = await cliJson<{ tenant: Tenant }>(bed.env, [
      'tenants',
      'add',
      'villa-ceres',
      '--name',
      'Villa Ceres',
      '--mail-from',
      'Villa Ceres <no-reply@villa-ceres.example>',
      '--email-rate-per-second',
      '2.5',
    ]);
    expect(added.tenant).toEqual({
      id: 'villa-ceres',
      name: 'Villa Ceres',
      mailFrom: 'Villa Ceres <no-reply@villa-ceres.example>',
      smtpUrl: null,
      slackWebhookUrl: null,
      emailRatePerSecond: 2.5,
      newsletterRatePerSecond: null,
      disabled: false,
      disabledAt: null,
      createdAt: ISO,
      updatedAt: ISO,
    });
    expect(await row('villa-ceres')).toMatchObject({ name: 'Villa Ceres', email_rate_per_second: 2.5, disabled_at: null });

    const { tenants } = await cliJson<{ tenants: Tenant[] }>(bed.env, ['tenants', 'list']);
    expect(tenants.map((t) => t.id)).toEqual(expect.arrayContaining(['default', 'villa-ceres']));
    expect(tenants.find((t) => t.id === 'villa-ceres')).toEqual(added.tenant);
    expect((await cliJson<{ tenant: Tenant }>(bed.env, ['tenants', 'show', 'villa-ceres'])).tenant).toEqual(added.tenant);

    const text = await cli(bed.env, ['tenants', 'show', 'villa-ceres']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^id\s+villa-ceres$/m);
    expect(text.stdout).toMatch(/^emailRate\s+2\.5\/s$/m);
    expect(text.stdout).toMatch(/^newsletterRate\s+default$/m);
    expect(text.stdout).toMatch(/^disabled\s+no$/m);
    const listed = await cli(bed.env, ['tenants', 'list']);
    expect(listed.stdout).toMatch(/villa-ceres\s*│\s*Villa Ceres\s*│/);
    expect(listed.stdout).toMatch(/default\s*│\s*Default\s*│/);

    const updated = await cliJson<{ tenant: Tenant }>(bed.env, [
      'tenants',
      'update',
      'villa-ceres',
      '--name',
      'Municipio de Villa Ceres',
      '--newsletter-rate-per-second',
      '0.5',
      '--clear',
      'mail-from',
      '--clear',
      'email-rate-per-second',
    ]);
    expect(updated.tenant).toMatchObject({
      name: 'Municipio de Villa Ceres',
      mailFrom: null,
      emailRatePerSecond: null,
      newsletterRatePerSecond: 0.5,
      createdAt: added.tenant.createdAt,
    });
    expect(Date.parse(updated.tenant.updatedAt)).toBeGreaterThanOrEqual(Date.parse(added.tenant.updatedAt));
    expect(await row('villa-ceres')).toMatchObject({ mail_from: null, email_rate_per_second: null, newsletter_rate_per_second: 0.5 });

    const disabled = await cli(bed.env, ['tenants', 'disable', 'villa-ceres']);
    expect(disabled.code).toBe(0);
    expect(disabled.stdout).toContain('tenant "villa-ceres" is disabled: its jobs wait (nothing is lost)');
    const since = (await row('villa-ceres'))!.disabled_at as Date;
    expect(since).toBeInstanceOf(Date);
    const shown = (await cliJson<{ tenant: Tenant }>(bed.env, ['tenants', 'show', 'villa-ceres'])).tenant;
    expect(shown).toMatchObject({ disabled: true, disabledAt: since.toISOString() });
    // Disabling again keeps the original time.
    expect((await cliJson<{ tenant: Tenant }>(bed.env, ['tenants', 'disable', 'villa-ceres'])).tenant.disabledAt).toBe(since.toISOString());
    expect((await cli(bed.env, ['tenants', 'show', 'villa-ceres'])).stdout).toMatch(
      new RegExp(`^disabled\\s+since ${since.toISOString().replace(/\./g, '\\.')}$`, 'm'),
    );

    expect((await cliJson<{ tenant: Tenant }>(bed.env, ['tenants', 'enable', 'villa-ceres'])).tenant).toMatchObject({
      disabled: false,
      disabledAt: null,
    });
    expect((await row('villa-ceres'))!.disabled_at).toBeNull();
  });

  it('an existing id, an unknown id, nothing to change: exit 1 or 2, nothing written', async () => {
    expect((await cli(bed.env, ['tenants', 'add', 'twice', '--name', 'First'])).code).toBe(0);
    const again = await cli(bed.env, ['tenants', 'add', 'twice', '--name', 'Second']);
    expect(again).toMatchObject({ code: 1, stdout: '' });
    expect(again.stderr).toBe('ceres-jobs: tenant "twice" exists already; change it with `ceres-jobs tenants update twice`\n');
    expect((await row('twice'))!.name).toBe('First');

    for (const args of [
      ['tenants', 'show', 'nobody'],
      ['tenants', 'update', 'nobody', '--name', 'X'],
      ['tenants', 'disable', 'nobody'],
      ['tenants', 'enable', 'nobody'],
    ]) {
      const result = await cli(bed.env, args);
      expect(result, args.join(' ')).toMatchObject({ code: 1, stdout: '' });
      expect(result.stderr, args.join(' ')).toBe('ceres-jobs: no tenant "nobody" (see `ceres-jobs tenants list`)\n');
    }
    expect(await row('nobody')).toBeUndefined();

    expect(await cli(bed.env, ['tenants', 'update', 'twice'])).toMatchObject({
      code: 2,
      stderr: 'ceres-jobs: tenants update: nothing to change; give a setting (--name, --mail-from, …) or --clear <setting>\n',
    });
    const both = await cli(bed.env, ['tenants', 'update', 'twice', '--mail-from', 'a@b.example', '--clear', 'mail-from']);
    expect(both).toMatchObject({
      code: 2,
      stderr: "ceres-jobs: option '--clear <setting>': cannot set --mail-from and clear it at once\n",
    });
    expect((await row('twice'))!.mail_from).toBeNull();
  });

  it('"default" can be updated but not disabled', async () => {
    const refused = await cli(bed.env, ['tenants', 'disable', 'default']);
    expect(refused).toMatchObject({ code: 1, stdout: '' });
    expect(refused.stderr).toMatch(
      /^ceres-jobs: tenant "default" cannot be disabled: it is the only tenant of a single-municipality install/,
    );
    expect((await row('default'))!.disabled_at).toBeNull();

    const renamed = await cliJson<{ tenant: Tenant }>(bed.env, ['tenants', 'update', 'default', '--name', 'Ceres']);
    expect(renamed.tenant).toMatchObject({ id: 'default', name: 'Ceres', disabled: false });
    expect((await row('default'))!.name).toBe('Ceres');
    expect((await cli(bed.env, ['tenants', 'update', 'default', '--name', 'Default'])).code).toBe(0);
  });
});

describe('tenants: bad ids and values are usage errors naming the argument or option, exit 2, nothing written', () => {
  it.each([
    [['tenants', 'add', 'Villa_Ceres', '--name', 'X'], /argument 'id'.*expected 1-40 lowercase letters, digits or "-"/],
    [['tenants', 'add', 'a'.repeat(41), '--name', 'X'], /argument 'id'/],
    [['tenants', 'add', 'bad-values'], /required option '--name <name>' not specified/],
    [['tenants', 'add', 'bad-values', '--name', ''], /option '--name <name>' argument '' is invalid\. expected 1 to 200 characters/],
    [['tenants', 'add', 'bad-values', '--name', 'x'.repeat(201)], /option '--name <name>'.*expected 1 to 200 characters/],
    [['tenants', 'add', 'bad-values', '--name', 'X', '--mail-from', 'no-reply'], /option '--mail-from <from>'.*is invalid/],
    [['tenants', 'add', 'bad-values', '--name', 'X', '--mail-from', '<a@b.example>'], /option '--mail-from <from>'/],
    [['tenants', 'add', 'bad-values', '--name', 'X', '--mail-from', 'A <a@b.example>\r\nBcc: x@y.example'], /option '--mail-from <from>'/],
    [
      ['tenants', 'add', 'bad-values', '--name', 'X', '--email-rate-per-second', '0'],
      /option '--email-rate-per-second <n>'.*positive number/,
    ],
    [['tenants', 'add', 'bad-values', '--name', 'X', '--email-rate-per-second', '-1'], /option '--email-rate-per-second <n>'/],
    [['tenants', 'add', 'bad-values', '--name', 'X', '--newsletter-rate-per-second', 'fast'], /option '--newsletter-rate-per-second <n>'/],
    [
      ['tenants', 'add', 'bad-values', '--name', 'X', '--smtp-url', 'relay.example'],
      /^ceres-jobs: option '--smtp-url <url>': expected an smtp: or smtps: URL/,
    ],
    [
      ['tenants', 'add', 'bad-values', '--name', 'X', '--slack-webhook-url', 'hooks.slack.com/x'],
      /^ceres-jobs: option '--slack-webhook-url <url>': expected an https: URL/,
    ],
    [
      ['tenants', 'update', 'default', '--clear', 'name'],
      /option '--clear <setting>' argument 'name' is invalid\. expected one of mail-from, smtp-url/,
    ],
    [['tenants', 'show', 'UPPER'], /argument 'id'/],
  ])('ceres-jobs %j', async (args, message) => {
    const result = await cli(bed.env, args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(await row('bad-values')).toBeUndefined();
  });

  it('a bad secret URL is refused without echoing it', async () => {
    const smtp = await cli(bed.env, [
      'tenants',
      'add',
      'bad-values',
      '--name',
      'X',
      '--smtp-url',
      `http://mailer:${SMTP_PASSWORD}@relay.example`,
    ]);
    expect(smtp.code).toBe(2);
    expect(smtp.stderr).toMatch(/--smtp-url/);
    const hook = await cli(bed.env, [
      'tenants',
      'add',
      'bad-values',
      '--name',
      'X',
      '--slack-webhook-url',
      `http://hooks.slack.com${WEBHOOK_PATH}`,
    ]);
    expect(hook.code).toBe(2);
    expect(hook.stderr).toMatch(/--slack-webhook-url/);
    expect(outputs([smtp, hook])).not.toMatch(new RegExp(`${SMTP_PASSWORD}|w3bh00kS3cretPath`));
    expect(await row('bad-values')).toBeUndefined();
  });

  it('decimal rates are accepted', async () => {
    const { tenant } = await cliJson<{ tenant: Tenant }>(bed.env, [
      'tenants',
      'add',
      'decimal-rates',
      '--name',
      'D',
      '--email-rate-per-second',
      '0.25',
      '--newsletter-rate-per-second',
      '12',
    ]);
    expect(tenant).toMatchObject({ emailRatePerSecond: 0.25, newsletterRatePerSecond: 12 });
    expect(await row('decimal-rates')).toMatchObject({ email_rate_per_second: 0.25, newsletter_rate_per_second: 12 });
  });
});

describe('tenant secrets', () => {
  it('are stored sealed (bound to the tenant) and masked in every output, text and JSON', async () => {
    const results: CliResult[] = [];
    const run = async (args: string[], env = bed.env) => {
      const result = await cli(env, args);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      results.push(result);
      return result;
    };
    for (const json of [[], ['--json']]) {
      const id = `secretive${json.length}`;
      await run(['tenants', 'add', id, '--name', 'Secretive', '--smtp-url', SMTP_URL, '--slack-webhook-url', WEBHOOK_URL, ...json]);
      await run(['tenants', 'show', id, ...json]);
      await run(['tenants', 'list', ...json]);
      await run(['tenants', 'update', id, '--name', 'Still secretive', ...json]);
      await run(['tenants', 'disable', id, ...json]);
      await run(['tenants', 'enable', id, ...json]);
      await run(['tenants', 'show', id, ...json], withoutKeyring());
    }

    const stored = (await row('secretive0'))!;
    for (const [column, clear, secret] of [
      ['smtp_url_sealed', SMTP_URL, 'smtpUrl'],
      ['slack_webhook_url_sealed', WEBHOOK_URL, 'slackWebhookUrl'],
    ] as const) {
      const sealed = stored[column] as string;
      expect(sealed).not.toContain(clear);
      expect(sealed).not.toMatch(new RegExp(`${SMTP_PASSWORD}|w3bh00kS3cretPath|relay\\.city|hooks\\.slack`));
      expect(openTenantSecret(keyring, 'secretive0', secret, sealed)).toBe(clear);
      // Sealed for this tenant: another tenant's row does not open it.
      expect(() => openTenantSecret(keyring, 'secretive1', secret, sealed)).toThrow();
    }

    const all = outputs(results);
    expect(all).not.toContain(SMTP_PASSWORD);
    expect(all).not.toContain('w3bh00kS3cretPath');
    expect(all).not.toContain('/services/');

    const { tenant } = await cliJson<{ tenant: Tenant }>(bed.env, ['tenants', 'show', 'secretive1']);
    expect(tenant).toMatchObject({
      smtpUrl: 'smtps://mailer:****@relay.city.example:465',
      slackWebhookUrl: 'https://hooks.slack.com/****',
    });
    expect(results[1]!.stdout).toMatch(/^smtpUrl\s+smtps:\/\/mailer:\*\*\*\*@relay\.city\.example:465$/m);
    expect(results[1]!.stdout).toMatch(/^slackWebhookUrl\s+https:\/\/hooks\.slack\.com\/\*\*\*\*$/m);
    // Without the keyring (or with keys that do not open them) the secrets show as set, sealed.
    expect((await cliJson<{ tenant: Tenant }>(withoutKeyring(), ['tenants', 'show', 'secretive1'])).tenant).toMatchObject({
      smtpUrl: '[sealed]',
      slackWebhookUrl: '[sealed]',
    });
    const otherKeys = await cli({ ...bed.env, JOBS_ENCRYPTION_KEYS: testEncryptionKey('other') }, [
      'tenants',
      'show',
      'secretive1',
      '--json',
    ]);
    expect(otherKeys.code).toBe(0);
    expect((JSON.parse(otherKeys.stdout) as { tenant: Tenant }).tenant).toMatchObject({ smtpUrl: '[sealed]', slackWebhookUrl: '[sealed]' });
    expect(otherKeys.stderr).toMatch(/^ceres-jobs: warning: cannot open the sealed settings of tenant "secretive1"/);
    expect(otherKeys.stderr).not.toContain(SMTP_PASSWORD);

    // A URL with a path or options: both masked.
    await run(['tenants', 'update', 'secretive0', '--smtp-url', `smtp://relay.city.example/?pool=true&auth.pass=${SMTP_PASSWORD}`]);
    expect((await cliJson<{ tenant: Tenant }>(bed.env, ['tenants', 'show', 'secretive0'])).tenant.smtpUrl).toBe(
      'smtp://relay.city.example/****',
    );
    expect(outputs(results)).not.toContain(SMTP_PASSWORD);

    // --clear unsets a secret.
    const cleared = await cliJson<{ tenant: Tenant }>(bed.env, [
      'tenants',
      'update',
      'secretive0',
      '--clear',
      'smtp-url',
      '--clear',
      'slack-webhook-url',
    ]);
    expect(cleared.tenant).toMatchObject({ smtpUrl: null, slackWebhookUrl: null });
    expect(await row('secretive0')).toMatchObject({ smtp_url_sealed: null, slack_webhook_url_sealed: null });
  });

  it('without JOBS_ENCRYPTION_KEYS a secret is refused (exit 2, naming it) and nothing is written', async () => {
    const env = withoutKeyring();
    const add = await cli(env, ['tenants', 'add', 'no-keys', '--name', 'No keys', '--smtp-url', SMTP_URL]);
    expect(add).toMatchObject({ code: 2, stdout: '' });
    expect(add.stderr).toMatch(/^ceres-jobs: JOBS_ENCRYPTION_KEYS is not set: --smtp-url is stored sealed with it/);
    expect(add.stderr).not.toContain(SMTP_PASSWORD);
    expect(await row('no-keys')).toBeUndefined();

    // Settings that are not secret need no keyring.
    expect((await cli(env, ['tenants', 'add', 'no-keys', '--name', 'No keys'])).code).toBe(0);
    const before = await row('no-keys');
    const update = await cli(env, ['tenants', 'update', 'no-keys', '--name', 'Renamed', '--slack-webhook-url', WEBHOOK_URL]);
    expect(update.code).toBe(2);
    expect(update.stderr).toMatch(/JOBS_ENCRYPTION_KEYS is not set: --slack-webhook-url/);
    expect(await row('no-keys')).toEqual(before);

    const bad = await cli({ ...bed.env, JOBS_ENCRYPTION_KEYS: 'v1:short' }, ['tenants', 'update', 'no-keys', '--smtp-url', SMTP_URL]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^ceres-jobs: invalid configuration: JOBS_ENCRYPTION_KEYS: /);
    expect(await row('no-keys')).toEqual(before);
  });
});

describe('tokens create, list, revoke', () => {
  const tokenRows = async (tenant: string) =>
    (await bed.db.pool.query<Record<string, unknown>>('SELECT * FROM api_tokens WHERE tenant_id = $1 ORDER BY created_at', [tenant])).rows;

  it('create prints the token once and stores its keyed hash; list never shows it; revoke', async () => {
    expect((await cli(bed.env, ['tenants', 'add', 'tokened', '--name', 'Tokened'])).code).toBe(0);

    const created = await cli(bed.env, ['tokens', 'create', '--tenant', 'tokened', '--name', 'portal', '--json']);
    expect(created.code, created.stderr).toBe(0);
    const json = JSON.parse(created.stdout) as { id: string; tenant: string; token: string };
    expect(Object.keys(json)).toEqual(['id', 'tenant', 'token']);
    expect(json).toEqual({
      id: expect.stringMatching(/^tok_[a-z2-7]{10}$/),
      tenant: 'tokened',
      token: expect.stringMatching(/^cjt_[A-Za-z0-9_-]{43}$/),
    });

    const text = await cli(bed.env, ['tokens', 'create', '--tenant', 'tokened']);
    expect(text.code).toBe(0);
    const token = /^(cjt_\S+)$/m.exec(text.stdout)![1]!;
    expect(text.stdout.split(token)).toHaveLength(2);
    expect(text.stdout).toMatch(/^API token tok_[a-z2-7]{10} for tenant "tokened" \(scopes enqueue\); it is shown this once/);

    const rows = await tokenRows('tokened');
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({
      id: json.id,
      name: 'portal',
      key_version: keyring.current.version,
      token_hash: apiTokenHash(keyring.current, json.token),
      revoked_at: null,
    });
    expect(rows[1]).toMatchObject({ name: null, token_hash: apiTokenHash(keyring.current, token) });
    for (const each of rows) expect(JSON.stringify(each)).not.toMatch(/cjt_/);

    const list = await cli(bed.env, ['tokens', 'list', '--tenant', 'tokened', '--json']);
    expect(list.code).toBe(0);
    const { tokens } = JSON.parse(list.stdout) as { tokens: Array<Record<string, unknown>> };
    expect(tokens).toEqual([
      { id: json.id, tenant: 'tokened', name: 'portal', scopes: ['enqueue'], keyVersion: 'test1', createdAt: ISO, revokedAt: null },
      { id: rows[1]!.id, tenant: 'tokened', name: null, scopes: ['enqueue'], keyVersion: 'test1', createdAt: ISO, revokedAt: null },
    ]);
    const listText = await cli(bed.env, ['tokens', 'list']);
    expect(listText.stdout).toMatch(new RegExp(`${json.id}\\s*│\\s*tokened\\s*│\\s*portal\\s*│\\s*enqueue\\s*│\\s*test1`));
    for (const output of [list, listText]) {
      for (const secret of [json.token, token, rows[0]!.token_hash as string, rows[1]!.token_hash as string])
        expect(output.stdout + output.stderr).not.toContain(secret);
    }

    const revoked = await cliJson<{ id: string; tenant: string; revokedAt: string }>(bed.env, ['tokens', 'revoke', json.id]);
    expect(revoked).toEqual({ id: json.id, tenant: 'tokened', revokedAt: ISO });
    expect((await tokenRows('tokened'))[0]!.revoked_at).toBeInstanceOf(Date);
    expect((await tokenRows('tokened'))[1]!.revoked_at).toBeNull();
    const twice = await cli(bed.env, ['tokens', 'revoke', json.id]);
    expect(twice).toMatchObject({ code: 1, stdout: '' });
    expect(twice.stderr).toBe(`ceres-jobs: API token "${json.id}" was revoked already, at ${revoked.revokedAt}\n`);
    expect(await cli(bed.env, ['tokens', 'revoke', 'tok_nothere00'])).toMatchObject({
      code: 1,
      stderr: 'ceres-jobs: no API token "tok_nothere00" (see `ceres-jobs tokens list`)\n',
    });
    const listed = await cliJson<{ tokens: Array<{ id: string; revokedAt: string | null }> }>(bed.env, [
      'tokens',
      'list',
      '--tenant',
      'tokened',
    ]);
    expect(listed.tokens.find((t) => t.id === json.id)!.revokedAt).toBe(revoked.revokedAt);
  });

  it('refuses an unknown or disabled tenant (exit 1) and a missing keyring (exit 2), writing nothing', async () => {
    expect((await cli(bed.env, ['tenants', 'add', 'sleepy', '--name', 'Sleepy'])).code).toBe(0);
    expect((await cli(bed.env, ['tenants', 'disable', 'sleepy'])).code).toBe(0);
    const disabled = await cli(bed.env, ['tokens', 'create', '--tenant', 'sleepy']);
    expect(disabled).toMatchObject({ code: 1, stdout: '' });
    expect(disabled.stderr).toMatch(/^ceres-jobs: tenant "sleepy" is disabled: no new tokens; enable it first/);
    expect(await cli(bed.env, ['tokens', 'create', '--tenant', 'nobody'])).toMatchObject({
      code: 1,
      stdout: '',
      stderr: 'ceres-jobs: no tenant "nobody" (see `ceres-jobs tenants list`)\n',
    });
    const noKeys = await cli(withoutKeyring(), ['tokens', 'create', '--tenant', 'default']);
    expect(noKeys).toMatchObject({ code: 2, stdout: '' });
    expect(noKeys.stderr).toMatch(/^ceres-jobs: JOBS_ENCRYPTION_KEYS is not set: API tokens are stored as keyed hashes/);
    expect(await cli(bed.env, ['tokens', 'create'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/required option '--tenant <id>'/),
    });
    expect(await cli(bed.env, ['tokens', 'list', '--tenant', 'nobody'])).toMatchObject({ code: 1 });
    expect(await tokenRows('sleepy')).toEqual([]);
    expect(await tokenRows('default')).toEqual([]);

    // Enabled again, it gets tokens.
    expect((await cli(bed.env, ['tenants', 'enable', 'sleepy'])).code).toBe(0);
    expect((await cli(bed.env, ['tokens', 'create', '--tenant', 'sleepy'])).code).toBe(0);
    expect(await tokenRows('sleepy')).toHaveLength(1);
  });
});

it('--help works on every tenants and tokens command and exits 0', async () => {
  for (const command of [
    ['tenants'],
    ['tenants', 'list'],
    ['tenants', 'show'],
    ['tenants', 'add'],
    ['tenants', 'update'],
    ['tenants', 'disable'],
    ['tenants', 'enable'],
    ['tokens'],
    ['tokens', 'create'],
    ['tokens', 'list'],
    ['tokens', 'revoke'],
  ]) {
    const result = await cli(bed.env, [...command, '--help']);
    expect(result.code, command.join(' ')).toBe(0);
    expect(result.stdout, command.join(' ')).toMatch(/^Usage: ceres-jobs/);
  }
  const help = await cli(bed.env, ['tenants', 'update', '--help']);
  expect(help.stdout).toContain('--clear <setting>');
  expect(help.stdout.replace(/\s+/g, ' ')).toContain(
    'mail-from, smtp-url, slack-webhook-url, email-rate-per-second, newsletter-rate-per-second',
  );
});
