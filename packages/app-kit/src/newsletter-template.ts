/**
 * Newsletter templates: the subject and bodies may use `{{firstName}}` and `{{unsubscribeUrl}}`
 * (spaces inside the braces allowed), nothing else. Values are put in once, never read again as
 * template text; in HTML they are escaped; in a header CR/LF can never appear.
 */
export const TEMPLATE_PLACEHOLDERS = ['firstName', 'unsubscribeUrl'] as const;
export type TemplateValues = Record<(typeof TEMPLATE_PLACEHOLDERS)[number], string>;

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** The `{{…}}` of `template` that are not placeholders, as written. */
export function unknownPlaceholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)]
    .filter((match) => !(TEMPLATE_PLACEHOLDERS as readonly string[]).includes(match[1]!))
    .map((match) => match[0]);
}

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/**
 * Fills in the placeholders in one pass. `html`: each value HTML-escaped; `header`: the result has
 * every control character (CR, LF, …) replaced by a space; `text`: values as they are.
 */
export function renderTemplate(template: string, values: TemplateValues, mode: 'text' | 'html' | 'header'): string {
  const rendered = template.replace(PLACEHOLDER, (whole, name: string) => {
    if (!Object.prototype.hasOwnProperty.call(values, name)) return whole;
    const value = values[name as keyof TemplateValues];
    return mode === 'html' ? escapeHtml(value) : value;
  });
  // eslint-disable-next-line no-control-regex
  return mode === 'header' ? rendered.replace(/[\u0000-\u001f\u007f]+/g, ' ') : rendered;
}

/**
 * The longest value each placeholder can take: `firstName` by its schema (`FirstName`, 100), the
 * unsubscribe link by the worker's URL settings (at most 2,000 characters each) plus `?t=` and a
 * token (a campaign id, a user id of at most 700 base64url characters, a signature).
 */
export const MAX_PLACEHOLDER_VALUE_CHARS: Record<keyof TemplateValues, number> = {
  firstName: 100,
  unsubscribeUrl: 3_000,
};

/** The most characters a rendered field may have: a campaign whose rendering could exceed it is refused at creation. */
export const MAX_RENDERED_CHARS = { subject: 10_000, text: 500_000, html: 1_000_000 } as const;

/**
 * The most characters `template` can render to: each placeholder replaced by the longest value it
 * can take, HTML-escaped (at most 6 characters per character, `&#39;`) in `html`.
 */
export function renderedLengthBound(template: string, mode: 'text' | 'html' | 'header'): number {
  let length = template.length;
  for (const match of template.matchAll(PLACEHOLDER)) {
    const name = match[1]! as keyof TemplateValues;
    if (!Object.prototype.hasOwnProperty.call(MAX_PLACEHOLDER_VALUE_CHARS, name)) continue;
    length += MAX_PLACEHOLDER_VALUE_CHARS[name] * (mode === 'html' ? 6 : 1) - match[0].length;
  }
  return length;
}
