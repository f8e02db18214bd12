// PM2 process file: `pm2 start ecosystem.config.js` (add `--env production` in production).
// The apps read their settings from the environment; `npm start` loads `.env` (and the local
// REDIS_URL / DATABASE_URL it started, var/stack.env) before calling PM2 with --update-env, and the
// deploy workflow loads the production env file: ceres-api and ceres-worker both need DATABASE_URL
// and UNSUBSCRIBE_SECRET from there. Logs go to var/log/.
const path = require('node:path');

const root = __dirname;
const logDir = process.env.PM2_LOG_DIR || path.join(root, 'var', 'log');

/** Settings every app shares: source maps in stack traces, one log file per app and stream. */
const common = (name) => ({
  name,
  cwd: root,
  node_args: ['--enable-source-maps'],
  out_file: path.join(logDir, `${name}.out.log`),
  error_file: path.join(logDir, `${name}.err.log`),
  merge_logs: true,
  // pino writes its own timestamps.
  time: false,
  autorestart: true,
  // A crash loop backs off instead of spinning.
  exp_backoff_restart_delay: 200,
  env: { NODE_ENV: 'development' },
  env_production: { NODE_ENV: 'production', LOG_LEVEL: 'info' },
});

module.exports = {
  apps: [
    {
      ...common('ceres-api'),
      script: 'apps/api/dist/main.js',
      exec_mode: 'cluster',
      instances: Number(process.env.API_INSTANCES) || 2,
      // main.ts calls process.send('ready') once it listens: `pm2 reload ceres-api` swaps
      // instances one by one and only stops an old one when its replacement is ready.
      wait_ready: true,
      listen_timeout: 15_000,
      // In-flight requests finish before the old instance exits.
      kill_timeout: 10_000,
      max_memory_restart: '400M',
    },
    {
      ...common('ceres-worker'),
      script: 'apps/worker/dist/main.js',
      exec_mode: 'fork',
      instances: 1,
      // On SIGTERM the worker stops taking jobs and waits for the active ones. PM2 must wait
      // longer than the longest job may run (see docs/worker.md), or a restart would SIGKILL
      // jobs mid-way and leave them to the stalled-job check.
      kill_timeout: Number(process.env.WORKER_KILL_TIMEOUT_MS) || 11 * 60_000,
      max_memory_restart: '700M',
    },
    {
      ...common('ceres-queues-ui'),
      script: 'apps/queues-ui/dist/main.js',
      exec_mode: 'fork',
      instances: 1,
      wait_ready: true,
      listen_timeout: 15_000,
      kill_timeout: 5_000,
      max_memory_restart: '300M',
    },
  ],
};
