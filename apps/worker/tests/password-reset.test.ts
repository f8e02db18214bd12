// email/password-reset against real Redis, PostgreSQL and an SMTP sink, as email.test.ts does for
// email/verify: the mail and its link, the skips, the duplicate window, the hashed token store,
// its hourly cleanup and erasure.
import { hashToken } from '@ceres/db';
import { decryptPayload, enqueueEmailPasswordReset, eraseUserData, findJobDefinition, TOKEN_STORES } from '@ceres/queues';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/deps/logger';
import { passwordReset } from '../src/processors/email/password-reset';
import { useWorkerApp, waitForState } from './helpers/harness';

const bed = useWorkerApp();
const producer = () => bed.app.deps.queues;
const logger = createLogger('silent');
const HOUR = 3_600_000;
const resets = () => bed.db.hashedTokens('password_reset_tokens');

/** A reset token as the platform would issue one (at least 32 URL-safe characters). */
const token = (label: string) => `${label}-${Math.random().toString(36).slice(2)}-reset-token-value-0123456789`;

describe('the email/password-reset definition', () => {
  it('has the duplicate window of email/verify, seals the same personal fields and names its token table', () => {
    const reset = findJobDefinition('email', 'password-reset')!;
    const verify = findJobDefinition('email', 'verify')!;
    expect(reset.duplicates).toBe(verify.duplicates);
    expect(reset.keyField).toBe('userId');
    expect(reset.personal).toEqual(verify.personal);
    expect(reset.enqueuedBy).toBe('platform');
    expect(reset.tokenStore).toBe('password_reset_tokens');
    expect(TOKEN_STORES).toContain('password_reset_tokens');
    expect(enqueueEmailPasswordReset).toBeTypeOf('function');
  });
});

describe('email/password-reset', () => {
  it('mails a valid token: recipient, subject, link to APP_URL/reset-password, HTML-escaped name; the token is stored only hashed', async () => {
    const value = token('valid');
    await resets().insert({ token: value, userId: 'reset-1', expiresAt: new Date(Date.now() + HOUR) });
    const { rows } = await bed.db.pool.query('SELECT * FROM password_reset_tokens');
    expect(JSON.stringify(rows)).not.toContain(value);
    expect(rows.map((row: { token_hash: string }) => row.token_hash)).toContain(hashToken(value));

    const { jobId } = await producer().enqueue('email/password-reset', {
      userId: 'reset-1',
      email: 'ana@example.com',
      firstName: '<script>alert(1)</script> Ana',
      token: value,
    });
    expect(jobId).toBe('email:password-reset:reset-1');
    const [mail] = await bed.peers.smtp.waitForMessages(1);
    expect(mail!.envelope.to).toEqual(['ana@example.com']);
    expect(mail!.parsed.subject).toBe('Reset your password');
    const link = `https://ceres.example/reset-password?token=${value}`;
    expect(mail!.parsed.text).toContain(link);
    expect(mail!.parsed.text).toContain('Hi <script>alert(1)</script> Ana,');
    const html = String(mail!.parsed.html);
    expect(html).toContain(`href="${link}"`);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; Ana');
    expect(html).not.toContain('<script>');
    const job = await waitForState(producer().getQueue('email'), jobId, 'completed');
    expect(job.returnvalue).toMatchObject({ sent: true });
    // Sealed in Redis: no address, name or token in the clear.
    expect(job.data.token).toBeUndefined();
    expect(JSON.stringify(job.data)).not.toContain(value);
    expect(JSON.stringify(job.data)).not.toContain('ana@example.com');
    expect(job.data.$sealed).toMatch(/^enc:/);
  });

  it.each([
    ['token-expired', -HOUR],
    ['token-unknown', undefined],
  ] as const)('completes as skipped (%s) and sends nothing', async (reason, expiresIn) => {
    const value = token(reason);
    if (expiresIn !== undefined)
      await resets().insert({ token: value, userId: `reset-${reason}`, expiresAt: new Date(Date.now() + expiresIn) });
    const { jobId } = await producer().enqueue('email/password-reset', {
      userId: `reset-${reason}`,
      email: 'bob@example.com',
      firstName: 'Bob',
      token: value,
    });
    const job = await waitForState(producer().getQueue('email'), jobId, 'completed');
    expect(job.returnvalue).toEqual({ skipped: reason });
    expect(job.attemptsMade).toBe(1);
    expect(bed.peers.smtp.messages).toHaveLength(0);
  });

  it('treats a token of another user, or one the platform consumed, as unknown; uses the injected clock', async () => {
    const ctx = { logger, signal: new AbortController().signal, tenant: 'default' };
    const job = (userId: string, value: string) => ({
      id: `email:password-reset:${userId}`,
      name: 'password-reset',
      queueName: 'email',
      attemptsMade: 0,
      timestamp: Date.now(),
      data: { userId, email: 'me@example.com', firstName: 'Me', token: value },
      updateProgress: async () => {},
    });
    const deps = { mailer: bed.app.deps.mailer, db: bed.db, clock: { now: () => new Date() }, appUrl: 'https://x.example' };

    const others = token('other');
    await resets().insert({ token: others, userId: 'someone-else', expiresAt: new Date(Date.now() + HOUR) });
    expect(await passwordReset(job('me', others), deps, ctx)).toEqual({ skipped: 'token-unknown' });
    // default's "me": for another tenant's "me" (issue 26) it is unknown.
    const mine = token('tenant');
    await resets().insert({ token: mine, userId: 'me', expiresAt: new Date(Date.now() + HOUR) });
    expect(await passwordReset(job('me', mine), deps, { ...ctx, tenant: 'tok-x' })).toEqual({ skipped: 'token-unknown' });

    const used = token('used');
    await resets().insert({ token: used, userId: 'me', expiresAt: new Date(Date.now() + HOUR) });
    expect((await resets().consume(used, new Date()))?.userId).toBe('me');
    expect(await passwordReset(job('me', used), deps, ctx)).toEqual({ skipped: 'token-unknown' });
    expect(bed.peers.smtp.messages).toHaveLength(0);

    const clocked = token('clock');
    const expiresAt = new Date(Date.now() + HOUR);
    await resets().insert({ token: clocked, userId: 'u-clock', expiresAt });
    expect(await passwordReset(job('u-clock', clocked), { ...deps, clock: { now: () => expiresAt } }, ctx)).toEqual({
      skipped: 'token-expired',
    });
    expect(
      await passwordReset(job('u-clock', clocked), { ...deps, clock: { now: () => new Date(expiresAt.getTime() - 1) } }, ctx),
    ).toMatchObject({ sent: true });
    await bed.peers.smtp.waitForMessages(1);
  });
});

describe('email/password-reset duplicates (window: pending-or-same-payload, as email/verify)', () => {
  it('a new token after the first mail is a second mail with the new token; the same token again sends nothing', async () => {
    const first = token('first');
    const second = token('second');
    for (const value of [first, second]) await resets().insert({ token: value, userId: 'again', expiresAt: new Date(Date.now() + HOUR) });
    const payload = { userId: 'again', email: 'rosa@example.com', firstName: 'Rosa' };

    const sent = await producer().enqueue('email/password-reset', { ...payload, token: first });
    expect(sent).toEqual({ jobId: 'email:password-reset:again', duplicate: false });
    await waitForState(producer().getQueue('email'), sent.jobId, 'completed');
    expect(await producer().enqueue('email/password-reset', { ...payload, token: first })).toEqual({ jobId: sent.jobId, duplicate: true });

    const resent = await producer().enqueue('email/password-reset', { ...payload, token: second });
    expect(resent).toEqual({ jobId: sent.jobId, duplicate: false });
    const mails = await bed.peers.smtp.waitForMessages(2);
    expect(mails.map((mail) => /token=([\w-]+)/.exec(String(mail.parsed.text))?.[1])).toEqual([first, second]);
    const job = await waitForState(producer().getQueue('email'), resent.jobId, 'completed');
    expect(
      (decryptPayload(producer().config.keyring, 'email/password-reset', ['email', 'firstName', 'token'], job.data) as { token: string })
        .token,
    ).toBe(second);
    // Nothing more was sent for the duplicate: a later mail is the third one.
    await producer().enqueue('email/welcome', { userId: 'again-barrier', email: 'rosa@example.com', firstName: 'Rosa' });
    const after = await bed.peers.smtp.waitForMessages(3);
    expect(after[2]!.parsed.subject).toBe('Welcome to Ceres');
  });

  it('while the first job is still pending, a new token is a duplicate and the pending job keeps its token', async () => {
    const kept = token('kept');
    const pending = await producer().enqueue(
      'email/password-reset',
      { userId: 'pending', email: 'p@example.com', firstName: 'P', token: kept },
      { delay: 60_000 },
    );
    const again = await producer().enqueue('email/password-reset', {
      userId: 'pending',
      email: 'p@example.com',
      firstName: 'P',
      token: token('other'),
    });
    expect(again).toEqual({ jobId: pending.jobId, duplicate: true });
    const stored = await producer().getQueue('email').getJob(pending.jobId);
    expect(await stored!.getState()).toBe('delayed');
    expect(
      (
        decryptPayload(producer().config.keyring, 'email/password-reset', ['email', 'firstName', 'token'], stored!.data) as {
          token: string;
        }
      ).token,
    ).toBe(kept);
    await stored!.remove();
  });
});

describe('the password reset token store', () => {
  it('loses its expired tokens to the hourly maintenance/clean-verification-tokens', async () => {
    const now = Date.now();
    const expired = [token('gone-a'), token('gone-b')];
    const valid = token('stays');
    for (const value of expired) await resets().insert({ token: value, userId: 'clean', expiresAt: new Date(now - 1000) });
    await resets().insert({ token: valid, userId: 'clean', expiresAt: new Date(now + HOUR) });
    const added = await producer().getQueue('maintenance').add('clean-verification-tokens', {});
    const job = await waitForState(producer().getQueue('maintenance'), added.id!, 'completed');
    expect(job.returnvalue.hashedTokensDeleted.password_reset_tokens).toBeGreaterThanOrEqual(2);
    for (const value of expired) expect(await resets().find(value)).toBeNull();
    expect((await resets().find(valid))?.userId).toBe('clean');
  });

  it("is covered by erasure: the user's reset tokens and password-reset jobs go, another user's stay", async () => {
    const mine = [token('erase-a'), token('erase-b')];
    const theirs = token('erase-other');
    for (const value of mine) await resets().insert({ token: value, userId: 'erase-me', expiresAt: new Date(Date.now() + HOUR) });
    await resets().insert({ token: theirs, userId: 'keep-me', expiresAt: new Date(Date.now() + HOUR) });
    const payload = (userId: string, value: string) => ({ userId, email: `${userId}@example.com`, firstName: 'E', token: value });
    const job = await producer().enqueue('email/password-reset', payload('erase-me', mine[0]!), { delay: 60_000 });
    const other = await producer().enqueue('email/password-reset', payload('keep-me', theirs), { delay: 60_000 });

    const counts = await eraseUserData({ client: producer(), db: bed.db, log: { info: () => {} } }, 'erase-me');
    expect(counts.tokens).toBe(2);
    expect(counts.jobsByQueue.email).toBe(1);
    for (const value of mine) expect(await resets().find(value)).toBeNull();
    expect(await producer().getQueue('email').getJob(job.jobId)).toBeUndefined();
    expect((await resets().find(theirs))?.userId).toBe('keep-me');
    const kept = await producer().getQueue('email').getJob(other.jobId);
    expect(kept).toBeDefined();
    await kept!.remove();
  });
});
