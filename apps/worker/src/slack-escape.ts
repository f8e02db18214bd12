/**
 * Makes text from job data inert in a Slack message: Slack reads `<…>` as links and mentions
 * (`<!channel>`, `<!here>`, `<@U123>`, `<http://x|label>`) and `&` as the start of an entity, so
 * these three are escaped as Slack's docs ask. Only for values the worker puts into its own
 * messages (job ids, names, failure reasons), never for the mrkdwn the worker writes itself.
 */
export function escapeSlack(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The reverse of {@link escapeSlack}, for the plain-text mail made from the same report text. */
export function unescapeSlack(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}
