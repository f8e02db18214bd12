// The CPU cost of the personal-field encryption alone, per email/verify job, in one process:
// what the producer adds (3 fields encrypted + the payload's digests) and what the worker adds
// (3 fields decrypted). `npx tsx bench/encryption-cost.ts`
import { findJobDefinition, openPayload, parseKeyring } from '@ceres/queues';
import { sealPayload } from '../packages/queues/src/crypto/fields';
import { testEncryptionKey } from '@ceres/testing';
import { verifyPayload } from './lib/payload';

const DEFINITION = findJobDefinition('email', 'verify')!;
const N = 50_000;

function measure(label: string, keys: string) {
  const keyring = parseKeyring(keys);
  const payloads = Array.from({ length: N }, (_, i) => verifyPayload(`user-${i}`));
  for (let i = 0; i < 5_000; i += 1) sealPayload(keyring, 'email/verify', DEFINITION, payloads[i], true);
  const cpuUs = (since: NodeJS.CpuUsage) => {
    const used = process.cpuUsage(since);
    return used.user + used.system;
  };
  let start = process.cpuUsage();
  const sealed = payloads.map((payload) => sealPayload(keyring, 'email/verify', DEFINITION, payload, true).data);
  const sealUs = cpuUs(start) / N;
  start = process.cpuUsage();
  for (const data of sealed) openPayload(keyring, 'email/verify', DEFINITION, data);
  const openUs = cpuUs(start) / N;
  console.log(
    `${label}: producer ${sealUs.toFixed(1)} µs/job (seal 3 fields in one cipher + digests), worker ${openUs.toFixed(1)} µs/job (open them)`,
  );
}

measure('one key', testEncryptionKey('v1'));
measure('two keys (during a rotation)', `${testEncryptionKey('v2')},${testEncryptionKey('v1')}`);
