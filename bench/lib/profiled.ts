// Entry point used instead of a child's own when `BENCH_PROFILE` is set: runs the child
// (`BENCH_PROFILE_TARGET`, relative to this file) with the V8 profiler, which the bench starts and
// stops around a measured round by IPC, so the profile holds the steady state only (no start-up).
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';

const session = new Session();
session.connect();
process.on('message', (message: { type?: string; file?: string }) => {
  if (message?.type === 'profile-start') {
    void session
      .post('Profiler.enable')
      .then(() => session.post('Profiler.start'))
      .then(() => process.send?.({ type: 'profile-started' }));
  } else if (message?.type === 'profile-stop') {
    void session
      .post('Profiler.stop')
      .then(({ profile }) => writeFile(message.file!, JSON.stringify(profile)))
      .then(() => process.send?.({ type: 'profile-written' }));
  }
});
await import(process.env.BENCH_PROFILE_TARGET!);
