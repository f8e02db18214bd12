import type { FastifyPluginAsync, FastifyPluginOptions } from 'fastify';
import fp from 'fastify-plugin';

/** What {@link definePlugin} records on a plugin: Fastify reads it, and the conventions test too. */
export interface PluginMeta {
  /** `@ceres/<package or app>/<plugin>`: what other plugins name in their `dependencies`. */
  name: `@ceres/${string}/${string}`;
  /**
   * The plugins that must be registered before this one, by name: Fastify refuses to start when
   * one is missing or registered later, so an order that matters (hooks run in the order they were
   * added) is checked rather than kept by a comment. `[]` when the order does not matter.
   */
  dependencies: readonly string[];
}

/**
 * The one way to write a plugin of the apps and packages: a named `fastify-plugin` plugin (its
 * hooks, decorators and routes land in the scope it is registered in) declaring what it depends
 * on. `tests/conventions.test.ts` checks every exported plugin is one; ESLint refuses any other
 * import of `fastify-plugin` and the `addX(app)` style.
 */
export function definePlugin<O extends FastifyPluginOptions = Record<never, never>>(
  meta: PluginMeta,
  plugin: FastifyPluginAsync<O>,
): FastifyPluginAsync<O> {
  return fp(plugin, { name: meta.name, fastify: '5.x', dependencies: [...meta.dependencies] });
}

/** The metadata {@link definePlugin} put on `plugin`, or undefined for a function that is not such a plugin. */
export function pluginMeta(plugin: unknown): { name?: string; dependencies?: string[] } | undefined {
  if (typeof plugin !== 'function') return undefined;
  return (plugin as unknown as Record<symbol, { name?: string; dependencies?: string[] } | undefined>)[Symbol.for('plugin-meta')];
}
