// `node --import ./record-modules.mjs …` (or in NODE_OPTIONS): every module URL this process
// resolves is appended to the file named by CERES_MODULE_LOG, one a line (tests/tracing.test.ts).
import { register } from 'node:module';

if (process.env.CERES_MODULE_LOG) {
  register(new URL('./record-modules-hooks.mjs', import.meta.url), { data: { file: process.env.CERES_MODULE_LOG } });
}
