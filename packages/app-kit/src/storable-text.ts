/**
 * A NUL, a high surrogate not followed by a low one, or a low one not preceded by a high one:
 * what PostgreSQL's text and jsonb refuse. Built from its source so the NUL is not a literal
 * control character in the pattern.
 */
const UNSTORABLE_SOURCE = `${String.fromCharCode(0)}|[\\ud800-\\udbff](?![\\udc00-\\udfff])|(?<![\\ud800-\\udbff])[\\udc00-\\udfff]`;
const UNSTORABLE = new RegExp(UNSTORABLE_SOURCE);
const UNSTORABLE_ALL = new RegExp(UNSTORABLE_SOURCE, 'g');

/** Whether `value` holds a character PostgreSQL cannot store. */
export function hasUnstorableText(value: string): boolean {
  return UNSTORABLE.test(value);
}

/** The string with each NUL and lone UTF-16 surrogate as U+FFFD. */
export function storableString(value: string): string {
  return UNSTORABLE.test(value) ? value.replace(UNSTORABLE_ALL, '\ufffd') : value;
}
