/** The exit codes of every command. */
export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI reports as one line on stderr, exiting with `exitCode`. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.failed,
  ) {
    super(message);
  }
}

/** Bad arguments or a bad variable: exit 2. */
export class UsageError extends CliError {
  override name = 'UsageError';
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

/** Redis or PostgreSQL cannot be reached: exit 3. */
export class UnreachableError extends CliError {
  override name = 'UnreachableError';
  constructor(message: string) {
    super(message, EXIT.unreachable);
  }
}
