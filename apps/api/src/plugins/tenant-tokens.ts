import { definePlugin } from '@ceres/http';
import type { TenantTokens } from '../auth/tenant-tokens';

/**
 * Keeps the tenants' API tokens (see auth/tenant-tokens.ts) read while the app runs: the first read
 * when the app gets ready (a PostgreSQL that does not answer then does not stop startup: only
 * API_TOKENS work until it does), then every 2 s, until the app closes.
 */
export const tenantTokensPlugin = definePlugin<{ tokens: TenantTokens }>(
  { name: '@ceres/api/tenant-tokens', dependencies: [] },
  async (app, { tokens }) => {
    app.addHook('onReady', async () => {
      await tokens.start();
    });
    app.addHook('onClose', async () => tokens.stop());
  },
);
