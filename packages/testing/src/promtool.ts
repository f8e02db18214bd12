import { spawn, spawnSync } from 'node:child_process';

let found: boolean | undefined;

/** Whether Debian's `promtool` (package `prometheus`) is on the PATH (asked once, when first needed). */
export function hasPromtool(): boolean {
  return (found ??= spawnSync('sh', ['-c', 'command -v promtool'], { stdio: 'ignore' }).status === 0);
}

/**
 * Runs promtool with the arguments (`input`: written to its stdin, as `check metrics` reads it);
 * resolves with its exit code and output (stdout and stderr).
 */
export function promtool(args: string[], options: { cwd?: string; input?: string } = {}): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', args, { cwd: options.cwd, stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
    if (options.input !== undefined) child.stdin!.end(options.input);
  });
}
