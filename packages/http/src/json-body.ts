import { parse as secureJsonParse } from 'secure-json-parse';
import { invalidBody } from './errors';
import { definePlugin } from './plugin';

const refused = {
  empty: () => invalidBody('the body is empty; send a JSON object'),
  syntax: () => invalidBody('the body is not valid JSON'),
  poisoned: () => invalidBody('the body contains a forbidden "__proto__" or "constructor.prototype" key'),
};

/**
 * Fastify's JSON parser with its reasons kept: its own answers "not valid JSON" for a body that is
 * valid JSON but carries a `__proto__` or `constructor.prototype` key (refused, as Fastify does, by
 * secure-json-parse). This one says which of the two it is.
 */
export const jsonBodyPlugin = definePlugin({ name: '@ceres/http/json-body', dependencies: [] }, async (app) => {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = body as string;
    if (text.length === 0) return done(refused.empty(), undefined);
    try {
      done(null, secureJsonParse(text, { protoAction: 'error', constructorAction: 'error' }));
    } catch (error) {
      done(/forbidden prototype property/.test((error as Error).message) ? refused.poisoned() : refused.syntax(), undefined);
    }
  });
});
