import { CAMPAIGN_STATES } from '@ceres/db';
import { CampaignId, Email, FirstName, SingleLine, UserId } from '@ceres/queues';
import { Type } from '@sinclair/typebox';

/** Most recipients one `POST /campaigns/:id/recipients` may carry. */
export const MAX_RECIPIENTS_PER_CALL = 1000;

const EXAMPLE_ID = '0b6f1c9e-3d4a-4f7b-9a52-6c1e2d3f4a5b';
const PLACEHOLDERS =
  'May use {{firstName}} and {{unsubscribeUrl}}; no other {{…}} is accepted. Its longest rendering (each {{firstName}} 100 characters, each {{unsubscribeUrl}} 3,000, ×6 in html) must stay within 10,000 characters (subject), 500,000 (text), 1,000,000 (html).';

export const CampaignBody = Type.Object(
  {
    subject: SingleLine(1, 200, { description: `The Subject header (single line). ${PLACEHOLDERS}` }),
    text: Type.String({ minLength: 1, maxLength: 100_000, description: `The plain-text body. ${PLACEHOLDERS}` }),
    html: Type.Optional(
      Type.String({ minLength: 1, maxLength: 500_000, description: `The HTML body (values filled in are HTML-escaped). ${PLACEHOLDERS}` }),
    ),
  },
  {
    additionalProperties: false,
    examples: [
      {
        subject: 'Novedades de marzo en Ceres',
        text: 'Hola {{firstName}},\n\nEste mes abrimos la inscripción a los talleres del centro vecinal.\n\nDarte de baja: {{unsubscribeUrl}}',
        html: '<p>Hola {{firstName}},</p><p>Este mes abrimos la inscripción a los talleres del centro vecinal.</p><p><a href="{{unsubscribeUrl}}">Darte de baja</a></p>',
      },
    ],
  },
);

export const CampaignCreated = Type.Object({
  campaignId: Type.String({ description: 'The new campaign, in state draft', examples: [EXAMPLE_ID] }),
});

export const CampaignParams = Type.Object({
  id: Type.String({ ...CampaignId, description: 'The campaign id returned by POST /campaigns', examples: [EXAMPLE_ID] }),
});

export const RecipientsBody = Type.Object(
  {
    recipients: Type.Array(Type.Object({ userId: UserId, email: Email, firstName: FirstName }, { additionalProperties: false }), {
      minItems: 1,
      maxItems: MAX_RECIPIENTS_PER_CALL,
      description: `Up to ${MAX_RECIPIENTS_PER_CALL} per call; a user already in the campaign (or twice in the list) counts as a duplicate`,
    }),
  },
  {
    additionalProperties: false,
    examples: [
      {
        recipients: [
          { userId: 'user-123', email: 'juan.perez@example.com', firstName: 'Juan' },
          { userId: 'user-456', email: 'maria.gomez@example.com', firstName: 'María' },
        ],
      },
    ],
  },
);

export const RecipientsAccepted = Type.Object({
  added: Type.Integer({ description: 'Recipients added now' }),
  duplicates: Type.Integer({ description: 'Recipients already in the campaign, or repeated in this call' }),
});

export const CampaignAccepted = Type.Object({
  campaignId: Type.String(),
  state: Type.Union(
    CAMPAIGN_STATES.map((state) => Type.Literal(state)),
    { description: 'The state after the request' },
  ),
});

export const CampaignStatus = Type.Object({
  campaignId: Type.String(),
  state: Type.Union(
    CAMPAIGN_STATES.map((state) => Type.Literal(state)),
    {
      description: 'draft (recipients may be added), sending, done (every recipient has an outcome) or cancelled',
    },
  ),
  total: Type.Integer({ description: 'Recipients in the campaign' }),
  sent: Type.Integer(),
  failed: Type.Integer({ description: 'Refused by the mail server, or out of attempts' }),
  pending: Type.Integer({ description: 'Not handled yet' }),
  unsubscribed: Type.Integer({ description: 'Skipped: the address or the user had opted out' }),
  cancelled: Type.Integer({ description: 'Not sent because the campaign was cancelled (total = the sum of the five figures)' }),
});

export const UnsubscribeQuery = Type.Object({
  t: Type.String({ minLength: 1, maxLength: 1024, description: "The signed token of the mail's List-Unsubscribe link" }),
});

export const Unsubscribed = Type.Object({
  unsubscribed: Type.Literal(true),
  already: Type.Boolean({ description: 'The address had opted out before' }),
});
