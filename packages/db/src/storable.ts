/** A NUL, a high surrogate not followed by a low one, or a low one not preceded by a high one. */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** The string with each NUL and lone UTF-16 surrogate (which jsonb and text refuse) as U+FFFD. */
export function storableString(value: string): string {
  UNSTORABLE.lastIndex = 0;
  return UNSTORABLE.test(value) ? value.replace(UNSTORABLE, '\ufffd') : value;
}

/**
 * `value` as JSON PostgreSQL's jsonb accepts: every string and key made storable. Payloads that
 * came from elsewhere than our producers (straight into Redis, an older version) may hold them;
 * the dead letter is archived in this form rather than lost.
 */
export function storableJson(value: unknown): string {
  return JSON.stringify(value ?? null, function replacer(this: unknown, _key, item: unknown) {
    if (typeof item === 'string') return storableString(item);
    if (item !== null && typeof item === 'object' && !Array.isArray(item) && Object.keys(item).some((key) => storableString(key) !== key)) {
      return Object.fromEntries(Object.entries(item).map(([key, inner]) => [storableString(key), inner]));
    }
    return item;
  });
}
