import { decryptPayload, findJobDefinition, PayloadDecryptionError, personalFields, type Keyring } from '@ceres/queues';
import { UnrecoverableError, type Job } from 'bullmq';

/**
 * The job as the processor sees it: `data` with its personal fields decrypted. The BullMQ job
 * itself keeps the ciphertext, so what the dead letters archive (and Redis keeps) stays encrypted.
 * A field whose key is gone (or that was altered) never decrypts: UnrecoverableError, no retry.
 */
export function decryptedJob(job: Job, keyring: Keyring | undefined): Job {
  const definition = findJobDefinition(job.queueName, job.name);
  const fields = definition ? personalFields(definition) : [];
  let data: unknown;
  try {
    data = decryptPayload(keyring, `${job.queueName}/${job.name}`, fields, job.data);
  } catch (error) {
    if (error instanceof PayloadDecryptionError) throw new UnrecoverableError(`cannot decrypt the payload: ${error.message}`);
    throw error;
  }
  if (data === job.data) return job;
  // Reads and method calls go to the real job; only `data` differs.
  return Object.create(job, { data: { value: data, writable: true, enumerable: true } }) as Job;
}
