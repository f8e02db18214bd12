import type { CvContentLimits } from './judge-cv';

/** What the worker asks the file sandbox to do. */
export type SandboxTask =
  { kind: 'cv'; bytes: Uint8Array; limits: CvContentLimits } | { kind: 'picture'; fileKey: string; input: Uint8Array; maxPixels: number };

export type SandboxReply =
  { ok: true; result: unknown } | { ok: false; error: { name: string; message: string; fileKey?: string; reason?: string } };
