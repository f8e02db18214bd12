import { processIo } from './output';
import { run } from './program';

const code = await run(process.argv.slice(2), processIo());
// Exit at once: a Redis connection that never came up keeps reconnecting in the background.
process.exitCode = code;
process.exit(code);
