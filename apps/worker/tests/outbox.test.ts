import { fork } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir } from '@ceres/testing';
import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';

const WRITER = fileURLToPath(new URL('./helpers/outbox-writer.ts', import.meta.url));

describe('the outbox (SMTP_URL unset)', () => {
  it('SIGKILL while writing leaves only whole .eml files, never a partial one', async () => {
    const outbox = await makeTempDir('outbox');
    try {
      for (let run = 0; run < 8; run++) {
        const child = fork(WRITER, [outbox.path], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
        await new Promise<void>((resolve) => child.once('message', () => resolve()));
        // Let it write for a while, then kill it mid-write.
        await new Promise((resolve) => setTimeout(resolve, 150 + Math.random() * 250));
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }
      const names = await readdir(outbox.path);
      const mails = names.filter((name) => name.endsWith('.eml'));
      expect(mails.length).toBeGreaterThan(8);
      const broken: string[] = [];
      for (const name of mails) {
        const content = await readFile(path.join(outbox.path, name));
        const parsed = await simpleParser(content);
        if (content.length === 0 || !parsed.subject?.startsWith('mail ') || !String(parsed.html).endsWith('</p>'))
          broken.push(`${name} (${content.length} bytes)`);
      }
      expect(broken).toEqual([]);
    } finally {
      await outbox.remove();
    }
  }, 60_000);
});
