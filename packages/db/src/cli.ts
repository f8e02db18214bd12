// `node packages/db/dist/cli.js migrate` (root: `npm run db:migrate`): applies pending migrations
// to DATABASE_URL. Safe to run again and concurrently.
import { databaseUrlFromEnv } from './database-url';
import { migrate } from './migrate';

async function main(argv: string[]): Promise<number> {
  const [command] = argv;
  if (command !== 'migrate') {
    console.error('usage: cli.js migrate   (reads DATABASE_URL)');
    return 2;
  }
  let url: string;
  try {
    url = databaseUrlFromEnv();
  } catch (error) {
    console.error(`db:migrate: ${(error as Error).message}`);
    return 1;
  }
  try {
    const applied = await migrate(url, {
      onApplied: (migration) => console.log(`applied ${migration.file}`),
    });
    console.log(applied.length === 0 ? 'database is up to date' : `${applied.length} migration(s) applied`);
    return 0;
  } catch (error) {
    console.error(`db:migrate failed (DATABASE_URL host ${new URL(url).host}): ${(error as Error).message}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
