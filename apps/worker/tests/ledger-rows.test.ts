// The job ledger's rows (issue 29), as pure functions: what a finished job becomes, what reaches
// PostgreSQL. No personal field, a kept result only where declared, storable and bounded.
import { LEDGER_SETTINGS, registry } from '@ceres/queues';
import { describe, expect, it } from 'vitest';
import { fromWire, ledgerRowOf } from '../src/ledger';

const job = (over: Record<string, unknown>) =>
  ({ timestamp: 1_000, processedOn: 2_000, finishedOn: 3_000, attemptsMade: 1, ...over }) as never;

describe('ledger rows', () => {
  it("keep the ledger key, never the payload's personal fields, and the result only where the type keeps it", () => {
    const wire = ledgerRowOf(
      job({
        queueName: 'email',
        name: 'welcome',
        id: 'acme@email:welcome:u1',
        data: { userId: 'u1', email: 'enc:v1:secret', firstName: 'enc:v1:name', $tenant: 'acme' },
        returnvalue: { sent: true, messageId: '<m@x>' },
      }),
      'completed',
    );
    const row = fromWire(JSON.parse(JSON.stringify([wire]))[0]);
    expect(row).toEqual({
      queue: 'email',
      jobType: 'welcome',
      jobId: 'acme@email:welcome:u1',
      tenant: 'acme',
      keyField: 'userId',
      key: 'u1',
      state: 'completed',
      enqueuedAt: new Date(1_000),
      startedAt: new Date(2_000),
      finishedAt: new Date(3_000),
      attempts: 1,
      result: '{"sent":true,"messageId":"<m@x>"}',
      error: null,
    });
    expect(JSON.stringify(wire)).not.toContain('enc:v1');
    // Slack alerts keep no result and have no key.
    const alert = fromWire(
      ledgerRowOf(job({ queueName: 'slack', name: 'alert', id: '7', data: { text: 'hi' }, returnvalue: { ok: 1 } }), 'completed'),
    );
    expect(alert).toMatchObject({ keyField: null, key: null, result: null, tenant: 'default' });
  });

  it('mask addresses in a failure, make a result storable and summarise a big one', () => {
    const failed = fromWire(
      ledgerRowOf(
        job({
          queueName: 'email',
          name: 'verify',
          id: 'email:verify:u2',
          data: { userId: 'u2' },
          failedReason: '550 ana@example.com unknown',
          attemptsMade: 6,
        }),
        'failed',
      ),
    );
    expect(failed).toMatchObject({ state: 'failed', attempts: 6, error: '550 [email] unknown', result: null });
    const nul = fromWire(
      ledgerRowOf(
        job({ queueName: 'files', name: 'validate-cv', id: '1', data: { userId: 'u3' }, returnvalue: { note: 'a\u0000b' } }),
        'completed',
      ),
    );
    expect(nul.result).toBe('{"note":"a\uFFFDb"}');
    const big = fromWire(
      ledgerRowOf(
        job({ queueName: 'files', name: 'validate-cv', id: '2', data: { userId: 'u3' }, returnvalue: { problems: ['x'.repeat(5_000)] } }),
        'completed',
      ),
    );
    expect(JSON.parse(big.result!)).toEqual({ truncated: true, chars: 5_017 });
  });

  it('every ledger key is a payload field of its type and none is personal', () => {
    for (const [type, { ledgerKey }] of LEDGER_SETTINGS) {
      if (ledgerKey === undefined) continue;
      const [queue, name] = type.split('/') as [keyof typeof registry, string];
      const definition = (registry[queue].jobs as Record<string, { schema: { properties: object }; personal?: readonly string[] }>)[name]!;
      expect(Object.keys(definition.schema.properties), type).toContain(ledgerKey);
      expect(definition.personal ?? [], type).not.toContain(ledgerKey);
    }
  });
});
