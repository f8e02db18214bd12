import { readdir, readFile } from 'node:fs/promises';
import { createDb } from '@ceres/db';
import { decryptPayload } from '@ceres/queues';
import { makeTempDir, waitFor } from '@ceres/testing';
import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/deps/logger';
import { createMailer } from '../src/deps/mailer';
import { verify } from '../src/processors/email/verify';
import { configFor, useWorkerApp, waitForState } from './helpers/harness';

const bed = useWorkerApp();
const producer = () => bed.app.deps.queues;
const logger = createLogger('silent');
const HOUR = 3_600_000;

const token = (label: string) => `${label}-${Math.random().toString(36).slice(2)}-token-value`;

describe('email/verify', () => {
  it('mails a valid token: recipient, subject, link to APP_URL/verify, HTML-escaped name, text part', async () => {
    const value = token('valid');
    await bed.db.tokens.insert({ token: value, userId: 'user-1', expiresAt: new Date(Date.now() + HOUR) });
    const { jobId } = await producer().enqueue('email/verify', {
      userId: 'user-1',
      email: 'ana@example.com',
      firstName: '<script>alert(1)</script> Ana',
      token: value,
    });
    const [mail] = await bed.peers.smtp.waitForMessages(1);
    expect(mail!.envelope.to).toEqual(['ana@example.com']);
    expect(mail!.parsed.subject).toBe('Confirm your email address');
    const link = `https://ceres.example/verify?token=${value}`;
    expect(mail!.parsed.text).toContain(link);
    expect(mail!.parsed.text).toContain('Hi <script>alert(1)</script> Ana,');
    const html = String(mail!.parsed.html);
    expect(html).toContain(`href="${link}"`);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; Ana');
    expect(html).not.toContain('<script>');
    const job = await waitForState(producer().getQueue('email'), jobId, 'completed');
    expect(job.returnvalue).toMatchObject({ sent: true });
  });

  it.each([
    ['token-expired', -HOUR],
    ['token-unknown', undefined],
  ] as const)('completes as skipped (%s) and sends nothing', async (reason, expiresIn) => {
    const value = token(reason);
    if (expiresIn !== undefined)
      await bed.db.tokens.insert({ token: value, userId: `user-${reason}`, expiresAt: new Date(Date.now() + expiresIn) });
    const { jobId } = await producer().enqueue('email/verify', {
      userId: `user-${reason}`,
      email: 'bob@example.com',
      firstName: 'Bob',
      token: value,
    });
    const job = await waitForState(producer().getQueue('email'), jobId, 'completed');
    expect(job.returnvalue).toEqual({ skipped: reason });
    // One attempt, completed: a skip is never retried.
    expect(job.attemptsMade).toBe(1);
    expect(bed.peers.smtp.messages).toHaveLength(0);
  });

  it('treats a token of another user as unknown', async () => {
    const value = token('other');
    await bed.db.tokens.insert({ token: value, userId: 'someone-else', expiresAt: new Date(Date.now() + HOUR) });
    const result = await verify(
      {
        id: '1',
        name: 'verify',
        queueName: 'email',
        attemptsMade: 0,
        timestamp: Date.now(),
        data: { userId: 'me', email: 'me@example.com', firstName: 'Me', token: value },
        updateProgress: async () => {},
      },
      { mailer: bed.app.deps.mailer, db: bed.db, clock: { now: () => new Date() }, appUrl: 'https://x.example' },
      { logger, signal: new AbortController().signal, tenant: 'default' },
    );
    expect(result).toEqual({ skipped: 'token-unknown' });
    expect(bed.peers.smtp.messages).toHaveLength(0);
  });

  it('treats a token of the same user id of another tenant as unknown (issue 26)', async () => {
    const value = token('tenant');
    // default's user "me": a job of tenant tok-x for its own "me" is another person's.
    await bed.db.tokens.insert({ token: value, userId: 'me', expiresAt: new Date(Date.now() + HOUR) });
    const result = await verify(
      {
        id: '1',
        name: 'verify',
        queueName: 'email',
        attemptsMade: 0,
        timestamp: Date.now(),
        data: { userId: 'me', email: 'me@example.com', firstName: 'Me', token: value },
        updateProgress: async () => {},
      },
      { mailer: bed.app.deps.mailer, db: bed.db, clock: { now: () => new Date() }, appUrl: 'https://x.example' },
      { logger, signal: new AbortController().signal, tenant: 'tok-x' },
    );
    expect(result).toEqual({ skipped: 'token-unknown' });
    expect(bed.peers.smtp.messages).toHaveLength(0);
  });

  it('uses the injected clock: a token is expired exactly from its expires_at on', async () => {
    const value = token('clock');
    const expiresAt = new Date(Date.now() + HOUR);
    await bed.db.tokens.insert({ token: value, userId: 'u-clock', expiresAt });
    const job = {
      id: '2',
      name: 'verify',
      queueName: 'email',
      attemptsMade: 0,
      timestamp: Date.now(),
      data: { userId: 'u-clock', email: 'c@example.com', firstName: 'C', token: value },
      updateProgress: async () => {},
    };
    const deps = { mailer: bed.app.deps.mailer, db: bed.db, appUrl: 'https://x.example' };
    const ctx = { logger, signal: new AbortController().signal, tenant: 'default' };
    expect(await verify(job, { ...deps, clock: { now: () => expiresAt } }, ctx)).toEqual({ skipped: 'token-expired' });
    expect(await verify(job, { ...deps, clock: { now: () => new Date(expiresAt.getTime() - 1) } }, ctx)).toMatchObject({ sent: true });
  });
});

describe('email/verify duplicates (window: pending-or-same-payload)', () => {
  it('a resend with a new token after the first mail is a second mail with the new token; the same token again sends nothing', async () => {
    const first = token('first');
    const second = token('second');
    for (const value of [first, second])
      await bed.db.tokens.insert({ token: value, userId: 'resend', expiresAt: new Date(Date.now() + HOUR) });
    const payload = { userId: 'resend', email: 'rosa@example.com', firstName: 'Rosa' };

    const sent = await producer().enqueue('email/verify', { ...payload, token: first });
    expect(sent).toEqual({ jobId: 'email:verify:resend', duplicate: false });
    await waitForState(producer().getQueue('email'), sent.jobId, 'completed');
    // App code retrying the same call: a duplicate, even though the job finished.
    expect(await producer().enqueue('email/verify', { ...payload, token: first })).toEqual({ jobId: sent.jobId, duplicate: true });

    // "Resend verification" with a new token: the finished job is replaced under the same id.
    const resent = await producer().enqueue('email/verify', { ...payload, token: second });
    expect(resent).toEqual({ jobId: sent.jobId, duplicate: false });
    const mails = await bed.peers.smtp.waitForMessages(2);
    expect(mails.map((mail) => /token=([\w-]+)/.exec(String(mail.parsed.text))?.[1])).toEqual([first, second]);
    const job = await waitForState(producer().getQueue('email'), resent.jobId, 'completed');
    // Stored encrypted: decrypted with the producer's keyring, it is the new token.
    expect(job.data.token).toBeUndefined();
    expect(job.data.$sealed).toMatch(/^enc:/);
    expect(
      (decryptPayload(producer().config.keyring, 'email/verify', ['email', 'firstName', 'token'], job.data) as { token: string }).token,
    ).toBe(second);
    // Nothing more was sent for the duplicate: a later mail is the third one.
    await producer().enqueue('email/welcome', { userId: 'resend-barrier', email: 'rosa@example.com', firstName: 'Rosa' });
    const after = await bed.peers.smtp.waitForMessages(3);
    expect(after[2]!.parsed.subject).not.toBe('Confirm your email address');
  });

  it('while the first job is still pending, a new token is a duplicate and the pending job keeps its token', async () => {
    const pending = await producer().enqueue(
      'email/verify',
      { userId: 'pending', email: 'p@example.com', firstName: 'P', token: token('a') },
      { delay: 60_000 },
    );
    const again = await producer().enqueue('email/verify', {
      userId: 'pending',
      email: 'p@example.com',
      firstName: 'P',
      token: 'other-token',
    });
    expect(again).toEqual({ jobId: pending.jobId, duplicate: true });
    const stored = await producer().getQueue('email').getJob(pending.jobId);
    expect(await stored!.getState()).toBe('delayed');
    expect(
      (decryptPayload(producer().config.keyring, 'email/verify', ['email', 'firstName', 'token'], stored!.data) as { token: string }).token,
    ).not.toBe('other-token');
    await stored!.remove();
  });
});

describe('a mail already accepted by the SMTP server', () => {
  it('is not sent again by a re-run of the same job (same id and creation time); a later job with that id sends', async () => {
    const value = token('once');
    await bed.db.tokens.insert({ token: value, userId: 'u-once', expiresAt: new Date(Date.now() + HOUR) });
    const job = {
      id: 'email:verify:u-once',
      name: 'verify',
      queueName: 'email',
      attemptsMade: 0,
      timestamp: Date.now(),
      data: { userId: 'u-once', email: 'once@example.com', firstName: 'O', token: value },
      updateProgress: async () => {},
    };
    const deps = { mailer: bed.app.deps.mailer, db: bed.db, clock: { now: () => new Date() }, appUrl: 'https://x.example' };
    const ctx = { logger, signal: new AbortController().signal, tenant: 'default' };
    const first = await verify(job, deps, ctx);
    expect(first).toMatchObject({ sent: true });
    expect(await bed.db.sentMails.find({ queue: 'email', jobId: job.id, jobCreatedAt: new Date(job.timestamp) })).toBe(
      (first as { messageId: string }).messageId,
    );
    // The stalled check runs it again (the worker died before BullMQ recorded completion).
    expect(await verify({ ...job, attemptsMade: 1 }, deps, ctx)).toEqual(first);
    await bed.peers.smtp.waitForMessages(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(bed.peers.smtp.messages.filter((mail) => mail.envelope.to.includes('once@example.com'))).toHaveLength(1);

    const later = await verify({ ...job, timestamp: job.timestamp + 1 }, deps, ctx);
    expect(later).toMatchObject({ sent: true });
    expect(later).not.toEqual(first);
    await bed.peers.smtp.waitForMessages(2);
  });

  it('is still sent when PostgreSQL cannot be asked: the record narrows duplicates, it never blocks a welcome mail', async () => {
    const closed = createDb(bed.peers.postgres.url.replace(/:(\d+)\//, ':1/'));
    const { welcome } = await import('../src/processors/email/welcome');
    const job = {
      id: 'email:welcome:u-nodb',
      name: 'welcome',
      queueName: 'email',
      attemptsMade: 0,
      timestamp: Date.now(),
      data: { userId: 'u-nodb', email: 'nodb@example.com', firstName: 'N' },
      updateProgress: async () => {},
    };
    try {
      expect(
        await welcome(
          job,
          { mailer: bed.app.deps.mailer, db: closed, appUrl: 'https://x.example' },
          { logger, signal: new AbortController().signal, tenant: 'default' },
        ),
      ).toMatchObject({ sent: true });
    } finally {
      await closed.close();
    }
    await waitFor(() => bed.peers.smtp.messages.some((mail) => mail.envelope.to.includes('nodb@example.com')), {
      what: 'the welcome mail',
    });
  });
});

describe('email/welcome', () => {
  it('sends the welcome mail with both parts', async () => {
    await producer().enqueue('email/welcome', { userId: 'w-1', email: 'eve@example.com', firstName: 'Eve & "Co"' });
    const [mail] = await bed.peers.smtp.waitForMessages(1);
    expect(mail!.envelope.to).toEqual(['eve@example.com']);
    expect(mail!.parsed.subject).toBe('Welcome to Ceres');
    expect(mail!.parsed.text).toContain('Hi Eve & "Co",');
    expect(String(mail!.parsed.html)).toContain('Hi Eve &amp; &quot;Co&quot;,');
    expect(String(mail!.parsed.html)).toContain('href="https://ceres.example"');
  });

  it('a permanently rejected address (5xx) fails at once, without retry, into the dead letters with one alert', async () => {
    bed.peers.smtp.setRules([{ match: /^bounce@/, code: 550 }]);
    const { jobId } = await producer().enqueue('email/welcome', { userId: 'w-bounce', email: 'bounce@example.com', firstName: 'B' });
    const queue = producer().getQueue('email');
    await waitFor(async () => (await queue.getJobState(jobId)) === 'failed');
    const job = (await queue.getJob(jobId))!;
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toMatch(/permanent SMTP 550/);
    expect(bed.peers.smtp.refused).toEqual([{ to: 'bounce@example.com', code: 550 }]);
    const rows = await waitFor(async () => {
      const found = await bed.db.failedJobs.list({ queue: 'email', jobId });
      return found.length > 0 ? found : undefined;
    });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ jobName: 'welcome', attemptsMade: 1, payload: { userId: 'w-bounce' } });
    const [alert] = await bed.peers.slack.waitForRequests(1);
    const text = (alert!.body as { text: string }).text;
    expect(text).toContain('*email*');
    expect(text).toContain('*welcome*');
    expect(text).toContain(jobId);
    expect(text).toContain('550');
    expect(text).not.toContain('bounce@example.com');
  });

  it('an invalid payload (written by an older producer) fails at once, unretried, and is archived', async () => {
    const queue = producer().getQueue('email');
    // Straight into BullMQ, past the producer's validation.
    const added = await queue.add('welcome', { userId: 'w-bad', email: 'not-an-address', firstName: 'X' });
    await waitFor(async () => (await queue.getJobState(added.id!)) === 'failed');
    const job = (await queue.getJob(added.id!))!;
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toMatch(/email must be a valid email address/);
    await waitFor(async () => (await bed.db.failedJobs.list({ queue: 'email', jobId: added.id! })).length === 1);
    expect(bed.peers.smtp.messages).toHaveLength(0);
  });
});

describe('outbox mailer (no SMTP_URL)', () => {
  it('writes each mail as an .eml file instead of sending it', async () => {
    const dir = await makeTempDir('outbox');
    try {
      const config = configFor({ ...bed.env, SMTP_URL: '', OUTBOX_DIR: dir.path });
      expect(config.smtpUrl).toBeUndefined();
      const mailer = createMailer({ smtpUrl: config.smtpUrl, outboxDir: config.outboxDir, from: config.mailFrom });
      expect(mailer.description).toContain('outbox');
      const sent = await mailer.send({ to: 'dev@example.com', subject: 'Hello', text: 'plain', html: '<p>html</p>' });
      const files = await readdir(dir.path);
      expect(files).toHaveLength(1);
      expect(sent.delivery).toContain(files[0]);
      const parsed = await simpleParser(await readFile(`${dir.path}/${files[0]}`));
      expect(parsed.subject).toBe('Hello');
      expect(parsed.text?.trim()).toBe('plain');
      expect(parsed.from?.text).toContain('no-reply@localhost');
    } finally {
      await dir.remove();
    }
  });
});

describe('config', () => {
  it('names the missing or malformed variable', () => {
    expect(() => configFor({ ...bed.env, DATABASE_URL: '' })).toThrow(/DATABASE_URL/);
    expect(() => configFor({ ...bed.env, APP_URL: 'not a url' })).toThrow(/^APP_URL/);
    expect(() => configFor({ ...bed.env, TZ: 'Mars/Olympus' })).toThrow(/^TZ/);
    expect(() => configFor({ ...bed.env, SLACK_TIMEOUT_MS: 'soon' })).toThrow(/^SLACK_TIMEOUT_MS/);
    expect(() => configFor({ ...bed.env, SMTP_URL: 'http://mail' })).toThrow(/^SMTP_URL/);
    expect(configFor({ ...bed.env, APP_URL: '' }).appUrl).toBe('http://localhost:3000');
  });

  it('refuses a missing, short or guessable UNSUBSCRIBE_SECRET, naming it and never echoing it', () => {
    expect(() => configFor({ ...bed.env, UNSUBSCRIBE_SECRET: '' })).toThrow(/^UNSUBSCRIBE_SECRET/);
    expect(() => configFor({ ...bed.env, UNSUBSCRIBE_SECRET: 'hunter2' })).toThrow(
      /^UNSUBSCRIBE_SECRET: the value is shorter than 16 characters; use a random secret/,
    );
    expect(() => configFor({ ...bed.env, UNSUBSCRIBE_SECRET: 'abababababababababab' })).toThrow(
      /^UNSUBSCRIBE_SECRET: the value has fewer than 6 distinct/,
    );
    expect(() => configFor({ ...bed.env, UNSUBSCRIBE_URL: 'ftp://x' })).toThrow(/^UNSUBSCRIBE_URL/);
    expect(() => configFor({ ...bed.env, UNSUBSCRIBE_MAILTO: 'nope' })).toThrow(/^UNSUBSCRIBE_MAILTO/);
  });

  it('points the unsubscribe links at APP_URL and MAIL_FROM unless told otherwise', () => {
    expect(configFor({ ...bed.env, MAIL_FROM: 'Ceres <news@ceres.example>' }).unsubscribe).toMatchObject({
      url: 'https://ceres.example/unsubscribe',
      mailto: 'news@ceres.example',
    });
    expect(
      configFor({ ...bed.env, UNSUBSCRIBE_URL: 'https://api.ceres.example/u', UNSUBSCRIBE_MAILTO: 'u@ceres.example' }).unsubscribe,
    ).toMatchObject({
      url: 'https://api.ceres.example/u',
      mailto: 'u@ceres.example',
    });
    expect(configFor({ ...bed.env, NEWSLETTER_RATE_PER_SECOND: '' }).rates.newsletter).toBe(10);
    expect(() => configFor({ ...bed.env, NEWSLETTER_RATE_PER_SECOND: 'fast' })).toThrow(/^NEWSLETTER_RATE_PER_SECOND/);
  });
});
