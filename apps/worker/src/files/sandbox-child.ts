// The file sandbox's child process: runs one inspection for its parent (deps/file-sandbox.ts) and
// exits. It imports only the parsers, never the worker's connections or configuration.
import { HostileFileError, UnprocessableImageError } from './errors';
import { judgeCvContent } from './judge-cv';
import { toProfileWebp } from './profile-webp';
import type { SandboxReply, SandboxTask } from './sandbox-protocol';

async function run(task: SandboxTask): Promise<unknown> {
  switch (task.kind) {
    case 'cv':
      return judgeCvContent(task.bytes, task.limits);
    case 'picture':
      return toProfileWebp(task.fileKey, task.input, task.maxPixels);
  }
}

function reply(message: SandboxReply): void {
  process.send!(message, () => process.exit(0));
}

process.once('message', (task: SandboxTask) => {
  run(task).then(
    (result) => reply({ ok: true, result }),
    (error: unknown) => {
      if (error instanceof HostileFileError) reply({ ok: false, error: { name: error.name, message: error.message } });
      else if (error instanceof UnprocessableImageError) {
        reply({ ok: false, error: { name: error.name, message: error.message, fileKey: error.fileKey, reason: error.reason } });
      } else reply({ ok: false, error: { name: 'Error', message: error instanceof Error ? error.message : String(error) } });
    },
  );
});
// The parent waits for this before it starts the wall clock: module loading is not the file's doing.
process.send!({ ready: true });
