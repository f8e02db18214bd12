import { findJobDefinition } from '../registry';
import type { Keyring } from './keyring';
import { openPayload } from './fields';

/** A stored job's payload with the personal fields of its job type (`email/verify`) opened. */
export function decryptJobPayload(keyring: Keyring | undefined, type: string, data: unknown): unknown {
  const slash = type.indexOf('/');
  return openPayload(keyring, type, findJobDefinition(type.slice(0, slash), type.slice(slash + 1)), data);
}
