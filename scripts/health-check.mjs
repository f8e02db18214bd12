#!/usr/bin/env node
// Fails (exit 1) unless the three apps are online under PM2 and the API and Bull Board answer
// their /health with 200 within --timeout seconds. Used by the deploy workflow and after npm start.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const timeoutIndex = process.argv.indexOf('--timeout');
const timeoutMs = (timeoutIndex > 0 ? Number(process.argv[timeoutIndex + 1]) : 60) * 1000;
const deadline = Date.now() + timeoutMs;
const pm2 = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', 'node_modules', '.bin', 'pm2');
const apps = ['ceres-api', 'ceres-worker', 'ceres-queues-ui'];
const endpoints = [
  ['ceres-api', `http://${process.env.API_HOST || '127.0.0.1'}:${process.env.API_PORT || 3000}/health`],
  ['ceres-queues-ui', `http://${process.env.QUEUES_UI_HOST || '127.0.0.1'}:${process.env.QUEUES_UI_PORT || 3050}/health`],
];

async function problems() {
  const found = [];
  const list = spawnSync(pm2, ['jlist'], { encoding: 'utf8' });
  let processes = [];
  try {
    processes = JSON.parse(list.stdout);
  } catch {
    found.push('pm2 jlist did not answer');
  }
  for (const app of apps) {
    const instances = processes.filter((p) => p.name === app);
    if (instances.length === 0) found.push(`${app} is not in pm2`);
    for (const instance of instances) {
      if (instance.pm2_env?.status !== 'online') found.push(`${app} #${instance.pm_id} is ${instance.pm2_env?.status}`);
    }
  }
  for (const [app, url] of endpoints) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (response.status !== 200) found.push(`${app} ${url} answered ${response.status}: ${await response.text()}`);
    } catch (error) {
      found.push(`${app} ${url}: ${error.cause?.code ?? error.message}`);
    }
  }
  return found;
}

for (;;) {
  const found = await problems();
  if (found.length === 0) {
    console.log(`healthy: ${apps.join(', ')}`);
    process.exit(0);
  }
  if (Date.now() > deadline) {
    console.error(`unhealthy after ${timeoutMs / 1000} s:\n- ${found.join('\n- ')}`);
    process.exit(1);
  }
  await new Promise((resolve) => setTimeout(resolve, 1000));
}
