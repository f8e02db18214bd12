import Table from 'cli-table3';

/** Where a command writes: the process's streams, or a test's. */
export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
}

export const processIo = (): Io => ({ stdout: process.stdout, stderr: process.stderr, stdin: process.stdin });

export function printJson(io: Io, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function println(io: Io, text = ''): void {
  io.stdout.write(`${text}\n`);
}

/** A plain table (no colours, so it reads the same in a pipe, a cron mail or a terminal). */
export function table(head: string[], rows: Array<Array<string | number>>, alignRight: number[] = []): string {
  const t = new Table({
    head,
    style: { head: [], border: [], compact: true, 'padding-left': 1, 'padding-right': 1 },
    colAligns: head.map((_, index) => (alignRight.includes(index) ? 'right' : 'left')),
  });
  for (const row of rows) t.push(row.map(String));
  return t.toString();
}

export const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());
