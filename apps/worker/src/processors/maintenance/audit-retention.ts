import type { Db } from '@ceres/db';
import type { WorkerConfig } from '../../config';
import type { Processor } from '../types';

export interface AuditRetentionDeps {
  db: Pick<Db, 'audit'>;
  config: Pick<WorkerConfig, 'auditRetentionDays'>;
}

/** Who the trail names for the rows this cron deletes (its `audit.prune` row). */
export const AUDIT_RETENTION_ACTOR = 'cron:audit-retention';

/**
 * The audit trail keeps its rows `AUDIT_RETENTION_DAYS`: `db.audit.prune` deletes the older ones
 * and first appends an `audit.prune` row naming the last one deleted and its hash, so
 * `audit verify` still finds a whole chain. Nothing to delete: nothing written.
 */
export const auditRetention: Processor<
  'maintenance/audit-retention',
  { pruned: number; olderThanDays: number },
  AuditRetentionDeps
> = async (_job, deps, ctx) => {
  const olderThanDays = deps.config.auditRetentionDays;
  const pruned = await deps.db.audit.prune(olderThanDays, { actor: AUDIT_RETENTION_ACTOR, role: 'admin' });
  ctx.logger.info({ pruned, olderThanDays }, 'old audit_log rows deleted');
  return { pruned, olderThanDays };
};

export default auditRetention;
