#!/usr/bin/env node
// `npm run demo`: with the stack running (`npm start`), enqueues one job of each type so a
// newcomer sees mail land in var/outbox/ and the jobs in Bull Board.
// Platform jobs go through the HTTP API; the maintenance crons are run now through the ops API.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEnv } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);

const env = {
  ...readEnvFile('.env'),
  ...readEnvFile('var/stack.env'),
  ...Object.fromEntries(Object.entries(process.env).filter(([, v]) => v)),
};
const api = `http://${env.API_HOST || '127.0.0.1'}:${env.API_PORT || 3000}`;
const ui = `http://${env.QUEUES_UI_HOST || '127.0.0.1'}:${env.QUEUES_UI_PORT || 3050}`;
const apiToken = (env.API_TOKENS || '').split(',')[0]?.trim();
const uiAuth = `Basic ${Buffer.from(`${env.QUEUES_UI_USER || 'admin'}:${env.QUEUES_UI_PASS || ''}`).toString('base64')}`;
if (!env.DATABASE_URL) fail('DATABASE_URL is not set and var/stack.env has none: run `npm start` first');

const runId = randomBytes(3).toString('hex');
const userId = `demo-${runId}`;
const token = randomBytes(24).toString('base64url');

// A verification token that is still valid, as the platform would have written it.
const { default: pg } = await import('pg');
const db = new pg.Client({ connectionString: env.DATABASE_URL });
await db.connect();
await db.query("INSERT INTO verification_tokens (token, user_id, expires_at) VALUES ($1, $2, now() + interval '1 day')", [token, userId]);
await db.end();

// Two small uploads for the file jobs.
const uploads = resolve(env.UPLOADS_DIR || 'var/uploads');
mkdirSync(join(uploads, 'demo'), { recursive: true });
const cvKey = `demo/cv-${runId}.pdf`;
const pictureKey = `demo/avatar-${runId}.png`;
const { PDFDocument, StandardFonts } = await import('pdf-lib');
const pdf = await PDFDocument.create();
const page = pdf.addPage();
page.drawText('Curriculum vitae (demo)', { x: 50, y: 750, font: await pdf.embedFont(StandardFonts.Helvetica) });
writeFileSync(join(uploads, cvKey), await pdf.save());
const { default: sharp } = await import('sharp');
await sharp({ create: { width: 800, height: 600, channels: 3, background: '#3a7bd5' } })
  .png()
  .toFile(join(uploads, pictureKey));

const jobs = [
  ['email/verify', { userId, email: `${userId}@example.com`, firstName: 'Demo', token }],
  ['email/welcome', { userId, email: `${userId}@example.com`, firstName: 'Demo' }],
  ['slack/alert', { text: `Demo alert from npm run demo (${runId})`, severity: 'info', dedupeKey: `demo-${runId}` }],
  ['files/validate-cv', { userId, fileKey: cvKey }],
  ['files/optimize-profile-picture', { userId, fileKey: pictureKey }],
];
for (const [type, body] of jobs) {
  const response = await fetch(`${api}/jobs/${type}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiToken}` },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  console.log(`${type.padEnd(32)} ${response.status} ${answer.jobId ?? JSON.stringify(answer)}`);
}

const schedulers = await fetch(`${ui}/api/schedulers`, { headers: { authorization: uiAuth } });
if (schedulers.ok) {
  const { schedulers: list = [] } = await schedulers.json();
  for (const scheduler of list) {
    const run = await fetch(`${ui}/api/schedulers/${encodeURIComponent(scheduler.id)}/run`, {
      method: 'POST',
      headers: { authorization: uiAuth },
    });
    console.log(`${`${scheduler.queue}/${scheduler.id} (run now)`.padEnd(32)} ${run.status}`);
  }
} else {
  console.log(`schedulers: the ops API answered ${schedulers.status}`);
}

console.log(`
Mail without SMTP_URL lands in ${resolve(env.OUTBOX_DIR || 'var/outbox')}/ within a few seconds.
Watch the jobs in Bull Board: ${ui}/ui (user ${env.QUEUES_UI_USER || 'admin'}, password QUEUES_UI_PASS in .env)`);

function readEnvFile(path) {
  return existsSync(path) ? parseEnv(readFileSync(path, 'utf8')) : {};
}

function fail(message) {
  console.error(`npm run demo: ${message}`);
  process.exit(1);
}
