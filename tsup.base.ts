import { defineConfig, type Options } from 'tsup';

/** One build recipe for every package and app: ESM for Node 20, source maps for stack traces. */
export function buildConfig(entry: Options['entry']) {
  return defineConfig({
    entry,
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    sourcemap: true,
    clean: true,
    dts: false,
    splitting: false,
  });
}
