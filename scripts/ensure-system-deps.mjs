#!/usr/bin/env node
// Makes sure the servers the tests (or the local stack) run for real are installed:
// installs missing Debian packages with apt-get when running as root, otherwise prints the
// exact command and fails. Usage: node scripts/ensure-system-deps.mjs [--for tests|start]
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { findPostgresBinDir } from './lib/postgres-bin.mjs';

/** What each command needs: a program to look for and the Debian package that provides it. */
const NEEDS = {
  tests: [
    { program: 'redis-server', pkg: 'redis-server' },
    // `redis-cli --cluster create` builds the tests' Redis Cluster (@ceres/testing startRedisCluster).
    { program: 'redis-cli', pkg: 'redis-tools' },
    { program: 'pg_ctl', pkg: 'postgresql' },
    { program: 'chromium', pkg: 'chromium' },
    { program: 'promtool', pkg: 'prometheus' },
    // The shipped alerting rules and dashboard run against a real Prometheus server (same package).
    { program: '/usr/bin/prometheus', pkg: 'prometheus' },
    // The reverse-proxy recipe of docs/queues-ui.md runs in a real nginx (sbin: not on every user's PATH).
    { program: '/usr/sbin/nginx', pkg: 'nginx' },
    // The CLI's live monitor is tested in a real terminal.
    { program: 'tmux', pkg: 'tmux' },
  ],
  start: [
    { program: 'redis-server', pkg: 'redis-server' },
    { program: 'pg_ctl', pkg: 'postgresql' },
  ],
};

const purpose = process.argv.includes('--for') ? process.argv[process.argv.indexOf('--for') + 1] : 'tests';
const needs = NEEDS[purpose];
if (!needs) {
  console.error(`unknown --for ${purpose}; expected one of ${Object.keys(NEEDS).join(', ')}`);
  process.exit(2);
}

function has(program) {
  if (program.startsWith('/')) return existsSync(program);
  if (program === 'pg_ctl') return findPostgresBinDir() !== undefined;
  return spawnSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' }).status === 0;
}

const missing = needs.filter((need) => !has(need.program));
if (missing.length === 0) process.exit(0);

const packages = [...new Set(missing.map((need) => need.pkg))];
const command = `apt-get update && apt-get install -y --no-install-recommends ${packages.join(' ')}`;
if (typeof process.getuid === 'function' && process.getuid() === 0 && has('apt-get')) {
  console.log(`installing ${packages.join(', ')} (missing: ${missing.map((need) => need.program).join(', ')})`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], { stdio: 'inherit', env });
  process.exit(0);
}
console.error(`missing ${missing.map((need) => need.program).join(', ')}; install with:\n  sudo sh -c '${command}'`);
process.exit(1);
