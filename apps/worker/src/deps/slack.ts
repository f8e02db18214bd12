import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { activeTracing } from '@ceres/app-kit';
import type { Logger } from 'pino';
import { ThrottledError } from '../throttled-error';

/** The pause after a 429 that names no (readable) `Retry-After`. */
export const SLACK_DEFAULT_RETRY_AFTER_MS = 10_000;
/** The longest pause a 429's `Retry-After` can ask for; after it the next post asks again. */
export const SLACK_MAX_RETRY_AFTER_MS = 300_000;

export interface SlackMessage {
  /** The fallback text (notifications, clients without blocks). */
  text: string;
  /** Slack Block Kit blocks, when the message has structure (reports). */
  blocks?: unknown[];
}

/** `webhook`: Slack answered 2xx; `log`: no webhook configured; `unconfirmed`: see {@link Slack.post}. */
export type SlackDelivery = 'webhook' | 'log' | 'unconfirmed';

export interface Slack {
  /**
   * Posts to the webhook; throws on a timeout or a non-2xx answer so the job is retried, except a
   * 429, which throws a {@link ThrottledError} with the answer's `Retry-After` (the queue pauses,
   * no attempt is used). A webhook that does not answer within the timeout once the request was
   * sent is not posted to again (`unconfirmed`, the alert logged at warn): it may have posted.
   */
  post(message: SlackMessage, signal?: AbortSignal): Promise<{ delivered: SlackDelivery }>;
  readonly description: string;
  /** The circuit breaker of its webhook (`slack`, `slack:<tenant>`); undefined when alerts are only logged. */
  readonly dependency?: string;
}

export interface SlackOptions {
  /** `undefined`: alerts are logged at warn level instead. */
  webhookUrl: string | undefined;
  timeoutMs: number;
  logger: Logger;
  /** The name of its webhook's circuit breaker (see {@link Slack.dependency}). @defaultValue `slack` */
  dependency?: string;
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
  const url = new URL(webhookUrl);
  // The webhook path is a secret: the span, like the description, names only the host.
  const peer = { 'server.address': url.hostname, 'server.port': Number(url.port || (url.protocol === 'https:' ? 443 : 80)) };
  const post: Slack['post'] = async (message, signal) => {
    const body = Buffer.from(JSON.stringify(message));
    const timeout = AbortSignal.timeout(timeoutMs);
    const { status, retryAfterHeader } = await postJson(url, body, signal ? AbortSignal.any([timeout, signal]) : timeout);
    if (status === undefined) {
      // No answer within SLACK_TIMEOUT_MS after the whole request went out: Slack may well have
      // posted it (a slow webhook). Posting again would show it twice, or six times over the
      // retry schedule; the alert is logged instead so it is not lost.
      logger.warn(
        { slack: message.text, timeoutMs },
        'slack webhook did not answer in time after the request was sent; not posted again (it may show in Slack)',
      );
      return { delivered: 'unconfirmed' };
    }
    if (status === 429) {
      const retryAfterMs = retryAfter(retryAfterHeader, Date.now());
      throw new ThrottledError(retryAfterMs, `Slack webhook answered HTTP 429; pausing ${retryAfterMs} ms`, {
        cause: new SlackHttpError(429),
      });
    }
    if (status < 200 || status >= 300) throw new SlackHttpError(status);
    return { delivered: 'webhook' };
  };
  return {
    description: `webhook ${url.host}`,
    dependency: options.dependency ?? 'slack',
    post(message, signal) {
      const tracing = activeTracing();
      if (!tracing) return post(message, signal);
      return tracing.inSpan('slack post', 'client', peer, async (span) => {
        try {
          const result = await post(message, signal);
          span.setAttribute('ceres.slack.delivery', result.delivered);
          return result;
        } catch (error) {
          if (error instanceof SlackHttpError) span.setAttribute('http.response.status_code', error.status);
          else if (error instanceof ThrottledError) span.setAttribute('http.response.status_code', 429);
          span.fail(error);
          throw error;
        }
      });
    },
  };
}

/**
 * One POST with node:http(s), which tells what fetch cannot: whether the request had been written
 * out when the signal fired. Aborted before that (no connection, a stalled upload): rejects, and
 * the job is retried. Aborted after it by the timeout: `status: undefined`, an answer not seen.
 * Aborted by the job's own signal (a timeout of the attempt, a forced stop): rejects.
 */
function postJson(url: URL, body: Buffer, signal: AbortSignal): Promise<{ status: number | undefined; retryAfterHeader: string | null }> {
  return new Promise((resolve, reject) => {
    let sent = false;
    const request = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': body.length },
      signal,
    });
    request.on('response', (response) => {
      const header = response.headers['retry-after'];
      // The status is the answer; the body is drained so the connection returns to the pool.
      response.on('error', () => {});
      response.resume();
      resolve({ status: response.statusCode ?? 0, retryAfterHeader: typeof header === 'string' ? header : null });
    });
    request.on('error', (error) => {
      if (sent && signal.aborted && isTimeout(signal.reason)) resolve({ status: undefined, retryAfterHeader: null });
      else reject(signal.aborted ? (signal.reason as Error) : error);
    });
    request.end(body, () => (sent = true));
  });
}

const isTimeout = (reason: unknown) => reason instanceof Error && reason.name === 'TimeoutError';

/**
 * A `Retry-After` value in ms: delay-seconds or an HTTP date (RFC 9110 §10.2.3); absent or
 * unreadable gives the default, and it is capped.
 */
export function retryAfter(header: string | null, now: number): number {
  let ms = SLACK_DEFAULT_RETRY_AFTER_MS;
  const value = header?.trim() ?? '';
  if (/^\d+$/.test(value)) ms = Number(value) * 1000;
  else if (value !== '' && !Number.isNaN(Date.parse(value))) ms = Math.max(Date.parse(value) - now, 0);
  return Math.min(Math.max(ms, 1), SLACK_MAX_RETRY_AFTER_MS);
}
