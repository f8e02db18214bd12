import { findJobDefinition } from '../registry';
import type { Keyring } from './keyring';
import { decryptPayload, personalFields } from './fields';

/** A stored job's payload with the personal fields of its job type (`email/verify`) decrypted. */
export function decryptJobPayload(keyring: Keyring | undefined, type: string, data: unknown): unknown {
  const slash = type.indexOf('/');
  const definition = findJobDefinition(type.slice(0, slash), type.slice(slash + 1));
  return decryptPayload(keyring, type, definition ? personalFields(definition) : [], data);
}
