/**
 * The file would cost more to inspect than its limits allow (a page-tree bomb, a flate or ZIP
 * bomb, an inspection that outlived its wall-clock limit or memory cap). The same bytes would do
 * it again, so the job fails at once with this reason.
 */
export class HostileFileError extends Error {
  override name = 'HostileFileError';

  constructor(readonly reason: string) {
    super(reason);
  }
}
