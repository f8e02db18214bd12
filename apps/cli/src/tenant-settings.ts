import { InvalidArgumentError } from 'commander';
import { TENANT_ID } from '@ceres/db';
import { UsageError } from './errors';

/*
 * The values of a tenant's settings, as `tenants add` and `tenants update` take them. Parsers of
 * values that are not secret throw commander's InvalidArgumentError (commander names the option
 * and echoes the value); the secret ones (the SMTP URL, the Slack webhook URL) are checked in the
 * command, so a bad value is never echoed: the message names the option only.
 */

/** A tenant id: lowercase letters, digits and `-`, 1 to 40 characters. */
export function tenantId(value: string): string {
  if (!TENANT_ID.test(value)) throw new InvalidArgumentError('expected 1-40 lowercase letters, digits or "-", e.g. "villa-ceres"');
  return value;
}

/** Line breaks and other control characters (C0 and DEL). */
const hasControl = (value: string) => [...value].some((char) => char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f);

/** A label of 1 to 200 characters, no line breaks or other control characters (a tenant's name, a token's). */
export function label(value: string): string {
  if (value.length < 1 || value.length > 200 || hasControl(value))
    throw new InvalidArgumentError('expected 1 to 200 characters, no line breaks or other control characters');
  return value;
}

const ADDRESS =
  /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/;

/** A From header: `no-reply@city.example` or `City of Ceres <no-reply@city.example>`. */
export function mailFrom(value: string): string {
  const named = /^([^<>]*)<([^<>]+)>$/.exec(value.trim());
  const address = named ? named[2]! : value.trim();
  if (value.length > 320 || hasControl(value) || !ADDRESS.test(address) || (named && named[1]!.trim() === ''))
    throw new InvalidArgumentError(
      'expected an address (no-reply@city.example) or a name and an address (City of Ceres <no-reply@city.example>)',
    );
  return value.trim();
}

/** A positive number of mails per second; decimals allowed (0.5: one mail every 2 s). */
export function ratePerSecond(value: string): number {
  const rate = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(rate) || rate <= 0)
    throw new InvalidArgumentError('expected a positive number of mails per second, e.g. 10 or 0.5');
  return rate;
}

function url(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

/** Checks an SMTP URL without ever echoing it (it holds the password). */
export function checkSmtpUrl(value: string): string {
  const parsed = url(value);
  if (!parsed || !['smtp:', 'smtps:'].includes(parsed.protocol) || parsed.hostname === '')
    throw new UsageError("option '--smtp-url <url>': expected an smtp: or smtps: URL, e.g. smtps://user:password@relay.example:465");
  return value;
}

/** Checks a Slack webhook URL without ever echoing it (the URL is the credential). */
export function checkWebhookUrl(value: string): string {
  const parsed = url(value);
  if (!parsed || parsed.protocol !== 'https:' || parsed.hostname === '')
    throw new UsageError("option '--slack-webhook-url <url>': expected an https: URL, e.g. https://hooks.slack.com/services/…");
  return value;
}

export const MASKED = '****';

/**
 * An SMTP URL as the CLI shows it: scheme, user, host and port kept; the password, the path and
 * the query (nodemailer options) replaced with `****`: `smtp://user:****@relay.example:587`.
 */
export function maskSmtpUrl(value: string): string {
  const parsed = url(value);
  if (!parsed) return MASKED;
  const user = parsed.username || parsed.password ? `${parsed.username}${parsed.password ? `:${MASKED}` : ''}@` : '';
  const rest = (parsed.pathname && parsed.pathname !== '/') || parsed.search ? `/${MASKED}` : '';
  return `${parsed.protocol}//${user}${parsed.host}${rest}`;
}

/** A webhook URL as the CLI shows it: its origin, the path (the credential) masked: `https://hooks.slack.com/****`. */
export function maskWebhookUrl(value: string): string {
  const parsed = url(value);
  return parsed ? `${parsed.protocol}//${parsed.host}/${MASKED}` : MASKED;
}

/** The settings `tenants update --clear` unsets (the name cannot be unset). */
export const CLEARABLE = ['mail-from', 'smtp-url', 'slack-webhook-url', 'email-rate-per-second', 'newsletter-rate-per-second'] as const;
export type Clearable = (typeof CLEARABLE)[number];

/** `--clear <setting>`, repeatable: collects the settings to unset. */
export function clearable(value: string, previous: Clearable[] = []): Clearable[] {
  if (!(CLEARABLE as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${CLEARABLE.join(', ')}`);
  return previous.includes(value as Clearable) ? previous : [...previous, value as Clearable];
}
