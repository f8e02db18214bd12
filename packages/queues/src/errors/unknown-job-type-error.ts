/** A queue or job type that the registry does not declare. */
export class UnknownJobTypeError extends Error {
  override name = 'UnknownJobTypeError';

  constructor(
    readonly queue: string,
    readonly job: string | undefined,
    /** The known `queue/job` pairs (or queue names), for the caller to show. */
    readonly known: string[],
  ) {
    super(
      job === undefined
        ? `unknown queue "${queue}"; known queues: ${known.join(', ')}`
        : `unknown job type "${queue}/${job}"; known job types: ${known.join(', ')}`,
    );
  }
}
