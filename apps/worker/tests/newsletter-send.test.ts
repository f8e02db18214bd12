import { createDb, type Db } from '@ceres/db';
import { jobOptions, parseKeyring } from '@ceres/queues';
import { TEST_ENCRYPTION_KEYS } from '@ceres/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/deps/logger';
import { createMailer, type Mailer } from '../src/deps/mailer';
import { send } from '../src/processors/newsletter/send';
import { findThrottled } from '../src/throttled-error';
import { startPeers, type Peers } from './helpers/harness';

// newsletter/send on its own against real PostgreSQL and a real SMTP sink; the whole lane with
// worker processes is tests/newsletter.test.ts.
let peers: Peers;
let db: Db;
let mailer: Mailer;
const ctx = { logger: createLogger('silent'), signal: new AbortController().signal, tenant: 'default' };
const ATTEMPTS = jobOptions('newsletter', 'send').attempts!;
const unsubscribe = {
  secret: 'test-unsubscribe-secret-0123456789',
  url: 'https://ceres.example/unsubscribe',
  mailto: 'unsubscribe@ceres.example',
};
// The send reads the keyring (erased users' opt-outs are keyed digests of their addresses).
const noQueues = {
  enqueue: async () => ({ jobId: 'x', duplicate: false }),
  config: { keyring: parseKeyring(TEST_ENCRYPTION_KEYS) },
} as never;

beforeAll(async () => {
  peers = await startPeers();
  db = createDb(peers.postgres.url);
  mailer = createMailer({
    smtpUrl: peers.smtp.url,
    outboxDir: '/nonexistent',
    from: 'Ceres <no-reply@ceres.example>',
    throttlePauseMs: 1_000,
  });
}, 60_000);

afterEach(() => {
  peers.smtp.throttle(undefined);
  peers.smtp.setRules([]);
});

afterAll(async () => {
  mailer?.close();
  await db?.close();
  await peers?.close();
});

async function campaignOf(userId: string): Promise<string> {
  const id = await db.newsletter.createCampaign({ subject: 'S', text: 'Hello {{firstName}}', html: null });
  await db.newsletter.addRecipients(id, [{ userId, email: `${userId}@example.com`, firstName: 'N' }]);
  await db.newsletter.start(id);
  return id;
}

const jobOf = (campaignId: string, userId: string, attemptsMade: number) =>
  ({
    id: `newsletter:send:${campaignId}.${userId}`,
    name: 'send',
    queueName: 'newsletter',
    data: { campaignId, userId },
    attemptsMade,
    timestamp: Date.now(),
    updateProgress: async () => {},
  }) as never;

describe('newsletter/send', () => {
  it('a throttling answer on the last attempt leaves the recipient pending (no attempt used), and the next run mails it', async () => {
    const id = await campaignOf('last-throttled');
    peers.smtp.throttle({ code: 421, message: '4.7.0 Too many messages, slow down', forMs: 60_000 });
    const error = await send(jobOf(id, 'last-throttled', ATTEMPTS - 1), { mailer, db, queues: noQueues, unsubscribe }, ctx).catch(
      (thrown: unknown) => thrown,
    );
    expect(findThrottled(error)).toBeDefined();
    expect((await db.newsletter.figures(id)).pending).toBe(1);
    peers.smtp.throttle(undefined);
    const result = await send(jobOf(id, 'last-throttled', ATTEMPTS - 1), { mailer, db, queues: noQueues, unsubscribe }, ctx);
    expect(result).toEqual({ sent: true, messageId: expect.any(String) });
    expect(peers.smtp.messages.filter((mail) => mail.envelope.to[0] === 'last-throttled@example.com')).toHaveLength(1);
    expect(await db.newsletter.figures(id)).toMatchObject({ sent: 1, failed: 0, pending: 0 });
  }, 30_000);

  it("a transient failure on the last attempt is the recipient's outcome: failed", async () => {
    const id = await campaignOf('last-transient');
    peers.smtp.setRules([{ match: 'last-transient@example.com', code: 451, message: 'Local error in processing' }]);
    await expect(send(jobOf(id, 'last-transient', ATTEMPTS - 1), { mailer, db, queues: noQueues, unsubscribe }, ctx)).rejects.toThrow(
      /transient SMTP 451/,
    );
    expect(await db.newsletter.figures(id)).toMatchObject({ failed: 1, pending: 0 });
  }, 30_000);
});
