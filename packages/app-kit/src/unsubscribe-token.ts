import { createHmac } from 'node:crypto';

/**
 * The signed token of a newsletter's one-click unsubscribe link: it names the campaign and the
 * user, and is its own proof (`POST /unsubscribe?t=…` needs no other credential). Format
 * `<campaignId>.<userId, base64url>.<HMAC-SHA256, base64url>`: URL- and header-safe.
 */
export interface UnsubscribeSubject {
  campaignId: string;
  userId: string;
}

export interface ReadToken extends UnsubscribeSubject {
  /** What the signature covers. */
  signed: string;
  /** The signature as presented; compare it in constant time with {@link unsubscribeSignature}. */
  signature: string;
}

const signedPart = ({ campaignId, userId }: UnsubscribeSubject) => `${campaignId}.${Buffer.from(userId, 'utf8').toString('base64url')}`;

/** The HMAC of `signed` under `secret` (the domain tag keeps it from signing anything else). */
export function unsubscribeSignature(secret: string, signed: string): string {
  return createHmac('sha256', secret).update(`ceres-unsubscribe-v1\n${signed}`).digest('base64url');
}

export function signUnsubscribeToken(secret: string, subject: UnsubscribeSubject): string {
  const signed = signedPart(subject);
  return `${signed}.${unsubscribeSignature(secret, signed)}`;
}

/** The parts of a well-formed token, or undefined; says nothing about its signature. */
export function readUnsubscribeToken(token: string): ReadToken | undefined {
  if (token.length > 1024) return undefined;
  const match = /^([0-9a-f-]{36})\.([A-Za-z0-9_-]{1,700})\.([A-Za-z0-9_-]{43})$/.exec(token);
  if (!match) return undefined;
  const userId = Buffer.from(match[2]!, 'base64url').toString('utf8');
  // base64url decoding is lenient: only the canonical encoding is the signed one.
  if (Buffer.from(userId, 'utf8').toString('base64url') !== match[2]) return undefined;
  return { campaignId: match[1]!, userId, signed: `${match[1]}.${match[2]}`, signature: match[3]! };
}
