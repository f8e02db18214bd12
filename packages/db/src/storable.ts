import { storableString } from '@ceres/app-kit';

export { storableString };

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
