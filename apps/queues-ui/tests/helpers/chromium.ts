import { existsSync } from 'node:fs';
import { makeTempDir } from '@ceres/testing';
import { chromium, type BrowserContext, type BrowserContextOptions } from 'playwright-core';

/** Debian's chromium (`apt-get install chromium`); `npx playwright install` cannot download here. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

export const hasChromium = () => existsSync(CHROMIUM_PATH);

/**
 * Headless Debian chromium with a fresh profile and nothing talking to the internet: no sandbox
 * (root in CI), no GPU, no background networking, updates or sync. Requests to anything but
 * 127.0.0.1 are aborted so a page that links web fonts never waits on the network.
 */
export async function launchChromium(
  options: Pick<BrowserContextOptions, 'httpCredentials' | 'viewport'> & {
    /** Abort requests to any host but 127.0.0.1. Off to observe what a page would ask for. @defaultValue `true` */
    blockOtherHosts?: boolean;
  } = {},
): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = await makeTempDir('chromium-profile');
  const context = await chromium.launchPersistentContext(profile.path, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
    viewport: options.viewport ?? { width: 1400, height: 900 },
    httpCredentials: options.httpCredentials,
    timeout: 20_000,
  });
  if (options.blockOtherHosts !== false) {
    await context.route(
      (url) => url.hostname !== '127.0.0.1',
      (route) => route.abort(),
    );
  }
  return {
    context,
    close: async () => {
      await context.close();
      await profile.remove();
    },
  };
}
