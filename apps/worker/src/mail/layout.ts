// The parts every mail template shares; each mail job's template sits beside its processor
// (`processors/<queue>/<job>.template.ts`).
import { escapeHtml } from '@ceres/app-kit';

/** Escapes text for HTML element content and quoted attribute values (one implementation, in app-kit). */
export { escapeHtml };

export interface MailBody {
  subject: string;
  text: string;
  html: string;
}

/** The HTML frame of every account mail; `title` is escaped here, `body` is HTML already. */
export const layout = (title: string, body: string) => `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body style="font-family: system-ui, sans-serif; line-height: 1.5; color: #1f2933; max-width: 560px; margin: 0 auto; padding: 24px;">
${body}
<p style="color: #7b8794; font-size: 12px;">Ceres</p>
</body>
</html>`;
