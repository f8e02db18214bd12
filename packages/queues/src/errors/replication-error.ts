import { QueueUnavailableError } from './queue-unavailable-error';

/**
 * `REDIS_WAIT_REPLICAS` asked for replicas that did not confirm the write in time: the job is on
 * the master but could be lost in a failover. Callers answer 503 like an outage; retrying with the
 * same business key is safe (a duplicate if the job was kept).
 */
export class ReplicationError extends QueueUnavailableError {
  override name = 'ReplicationError';

  /** @param wanted the replicas asked for; `undefined`: how many (`REDIS_WAIT_REPLICAS=all`) could not be read */
  constructor(
    readonly wanted: number | undefined,
    readonly confirmed: number,
    options?: { cause?: unknown },
  ) {
    super(options);
    this.message =
      wanted === undefined
        ? 'the job was written but the Redis replicas to wait for (REDIS_WAIT_REPLICAS=all) could not be read; retry later'
        : `the job was written but only ${confirmed} of ${wanted} Redis replica(s) confirmed it in time; retry later`;
  }
}
