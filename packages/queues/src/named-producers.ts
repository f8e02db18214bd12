// Written by scripts/gen-catalog.mjs (run by npm run build and npm run typecheck) from the files
// beside it: do not edit.
import { producer } from './producers';

/** `enqueue('email/password-reset', payload, options)` on the default client. */
export const enqueueEmailPasswordReset = producer('email/password-reset');
/** `enqueue('email/verify', payload, options)` on the default client. */
export const enqueueEmailVerify = producer('email/verify');
/** `enqueue('email/welcome', payload, options)` on the default client. */
export const enqueueEmailWelcome = producer('email/welcome');
/** `enqueue('files/optimize-profile-picture', payload, options)` on the default client. */
export const enqueueFilesOptimizeProfilePicture = producer('files/optimize-profile-picture');
/** `enqueue('files/validate-cv', payload, options)` on the default client. */
export const enqueueFilesValidateCv = producer('files/validate-cv');
/** `enqueue('slack/alert', payload, options)` on the default client. */
export const enqueueSlackAlert = producer('slack/alert');
