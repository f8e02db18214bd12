import { ConfigError } from '@ceres/queues';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config';

describe('loadConfig', () => {
  it('applies the defaults: 127.0.0.1:3050, user admin, no public sub-path, Redis DB 5', () => {
    expect(loadConfig({ QUEUES_UI_PASS: 'a long s3cret passphrase' })).toEqual({
      host: '127.0.0.1',
      port: 3050,
      user: 'admin',
      pass: 'a long s3cret passphrase',
      authFailures: { max: 20, windowMs: 900_000 },
      publicBasePath: '',
      logLevel: 'info',
      tenantMetrics: { maxTenants: 200, scanMs: 30_000 },
      accountsRefreshMs: 2000,
      longWait: { thresholds: { email: 60, files: 300, maintenance: 900, newsletter: 7200, slack: 30 }, checkMs: 5000 },
      queues: {
        redisUrl: 'redis://127.0.0.1:6379',
        redisDb: 5,
        redisPrefix: 'ceres:',
        bullPrefix: 'ceres:queue',
        commandTimeoutMs: 5000,
        waitReplicas: 0,
      },
    });
  });

  it("reads each queue's <QUEUE>_LONG_WAIT_SECONDS and refuses a bad one, naming it", () => {
    const pass = 'a long s3cret passphrase';
    expect(loadConfig({ QUEUES_UI_PASS: pass, EMAIL_LONG_WAIT_SECONDS: '5', LONG_WAIT_CHECK_MS: '1000' }).longWait).toEqual({
      thresholds: { email: 5, files: 300, maintenance: 900, newsletter: 7200, slack: 30 },
      checkMs: 1000,
    });
    for (const bad of ['0', 'soon', '-5'])
      expect(() => loadConfig({ QUEUES_UI_PASS: pass, SLACK_LONG_WAIT_SECONDS: bad })).toThrow(/SLACK_LONG_WAIT_SECONDS/);
  });

  it.each([undefined, '', '   '])('refuses to start without QUEUES_UI_PASS (%j), naming it', (pass) => {
    let error: unknown;
    try {
      loadConfig({ QUEUES_UI_PASS: pass });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe('QUEUES_UI_PASS');
    expect((error as Error).message).toMatch(/^QUEUES_UI_PASS: is required/);
  });

  it('reads every variable and normalizes the public base path', () => {
    const config = loadConfig({
      QUEUES_UI_HOST: '0.0.0.0',
      QUEUES_UI_PORT: '8080',
      QUEUES_UI_USER: 'ops',
      QUEUES_UI_PASS: 'another long passphrase',
      QUEUES_UI_BASE_PATH: '/ops/queues/',
      LOG_LEVEL: 'warn',
      REDIS_URL: 'redis://10.0.0.1:6380/3',
      REDIS_PREFIX: 'x:',
    });
    expect(config).toMatchObject({ host: '0.0.0.0', port: 8080, user: 'ops', publicBasePath: '/ops/queues', logLevel: 'warn' });
    expect(config.queues).toMatchObject({ redisDb: 3, bullPrefix: 'x:queue' });
  });

  it.each([
    ['QUEUES_UI_PORT', '70000'],
    ['QUEUES_UI_PORT', 'http'],
    ['QUEUES_UI_USER', 'a:b'],
    ['QUEUES_UI_BASE_PATH', 'ops'],
    ['QUEUES_UI_BASE_PATH', '/ops?x=1'],
    ['LOG_LEVEL', 'loud'],
    ['REDIS_URL', 'http://x'],
  ])('rejects %s=%s naming the variable', (variable, value) => {
    expect(() => loadConfig({ QUEUES_UI_PASS: 'another long passphrase', [variable]: value })).toThrow(
      expect.objectContaining({ name: 'ConfigError', variable }),
    );
  });
});
