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
