import type { Logger } from 'pino';

export interface SlackMessage {
  /** The fallback text (notifications, clients without blocks). */
  text: string;
  /** Slack Block Kit blocks, when the message has structure (reports). */
  blocks?: unknown[];
}

export interface Slack {
  /** Posts to the webhook; throws on a timeout or a non-2xx answer so the job is retried. */
  post(message: SlackMessage, signal?: AbortSignal): Promise<{ delivered: 'webhook' | 'log' }>;
  readonly description: string;
}

export interface SlackOptions {
  /** `undefined`: alerts are logged at warn level instead. */
  webhookUrl: string | undefined;
  timeoutMs: number;
  logger: Logger;
}

export class SlackHttpError extends Error {
  override name = 'SlackHttpError';
  constructor(readonly status: number) {
    super(`Slack webhook answered HTTP ${status}`);
  }
}

export function createSlack(options: SlackOptions): Slack {
  const { webhookUrl, timeoutMs, logger } = options;
  if (!webhookUrl) {
    return {
      description: 'log (SLACK_WEBHOOK_URL is not set: alerts are logged at warn level)',
      async post(message) {
        logger.warn({ slack: message.text }, 'slack alert (no webhook configured)');
        return { delivered: 'log' };
      },
    };
  }
  return {
    // The webhook path is a secret: show only the host.
    description: `webhook ${new URL(webhookUrl).host}`,
    async post(message, signal) {
      const timeout = AbortSignal.timeout(timeoutMs);
      const response = await fetch(webhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(message),
        signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
      });
      // Drain the body so the connection returns to the pool.
      await response.arrayBuffer().catch(() => undefined);
      if (!response.ok) throw new SlackHttpError(response.status);
      return { delivered: 'webhook' };
    },
  };
}
