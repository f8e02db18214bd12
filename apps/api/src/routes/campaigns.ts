import { MAX_PLACEHOLDER_VALUE_CHARS, MAX_RENDERED_CHARS, renderedLengthBound, unknownPlaceholders } from '@ceres/app-kit';
import type { Db } from '@ceres/db';
import { badRequest, errorResponses, HttpError } from '@ceres/http';
import { scopedJobId, type QueueClient } from '@ceres/queues';
import type { Static } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { withDatabase } from '../newsletter/database-errors';
import {
  CampaignAccepted,
  CampaignBody,
  CampaignCreated,
  CampaignParams,
  CampaignStatus,
  RecipientsAccepted,
  RecipientsBody,
} from '../schemas/campaigns';

export interface CampaignRouteOptions {
  db: Pick<Db, 'newsletter'>;
  queues: QueueClient;
}

type Params = { Params: Static<typeof CampaignParams> };
const notFound = (id: string) => new HttpError('CAMPAIGN_NOT_FOUND', `no campaign "${id}"`);
const conflict = (id: string, state: string, wanted: string) =>
  new HttpError('CAMPAIGN_STATE_CONFLICT', `campaign ${id} is ${state}: ${wanted}`);

/** Jobs removed per round trip when a cancel clears the campaign's waiting sends. */
const REMOVE_BATCH = 500;

/**
 * The newsletter campaigns: create, add recipients, start, cancel, read the figures. Campaigns and
 * recipients live in PostgreSQL; starting enqueues the fan-out, which the worker runs. A campaign
 * is the tenant's whose token created it: another tenant's token is answered 404 on every route,
 * as for an unknown id (the store finds only `request.tenant`'s campaigns).
 */
export const campaignRoutes: FastifyPluginAsync<CampaignRouteOptions> = async (app, { db, queues }) => {
  const store = db.newsletter;
  const tags = ['newsletter'];
  const security = [{ bearer: [] }];
  // A token needs the `campaigns` scope for every campaign route (checked by the auth hook).
  const config = { tokenScope: 'campaigns' } as const;

  app.post<{ Body: Static<typeof CampaignBody> }>(
    '/campaigns',
    {
      config,
      schema: {
        summary: 'Create a newsletter campaign (draft)',
        description:
          'The subject and bodies may use {{firstName}} and {{unsubscribeUrl}}; nothing else is interpolated. Values are HTML-escaped in html; the subject is one line.',
        tags,
        security,
        body: CampaignBody,
        response: { 201: CampaignCreated, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { subject, text, html } = request.body;
      for (const [field, template] of [
        ['subject', subject],
        ['text', text],
        ['html', html],
      ] as const) {
        const unknown = template === undefined ? [] : unknownPlaceholders(template);
        if (unknown.length > 0) {
          throw badRequest(
            'body',
            field,
            `${field}: unknown placeholder ${unknown[0]!.slice(0, 60)}; only {{firstName}} and {{unsubscribeUrl}} are filled in`,
          );
        }
        // Each placeholder may grow the mail by its longest value: 500,000 {{unsubscribeUrl}} rendered 15 MB per mail.
        const bound = template === undefined ? 0 : renderedLengthBound(template, field === 'subject' ? 'header' : field);
        if (bound > MAX_RENDERED_CHARS[field]) {
          throw badRequest(
            'body',
            field,
            `${field}: could render to ${bound.toLocaleString('en-US')} characters with its placeholders filled in (each {{firstName}} up to ` +
              `${MAX_PLACEHOLDER_VALUE_CHARS.firstName}, each {{unsubscribeUrl}} up to ${MAX_PLACEHOLDER_VALUE_CHARS.unsubscribeUrl.toLocaleString('en-US')}` +
              `${field === 'html' ? ', HTML-escaped' : ''}); at most ${MAX_RENDERED_CHARS[field].toLocaleString('en-US')}: use fewer placeholders`,
          );
        }
      }
      const campaignId = await withDatabase(() => store.createCampaign({ subject, text, html: html ?? null }, { tenant: request.tenant }));
      reply.code(201);
      return { campaignId };
    },
  );

  app.post<Params & { Body: Static<typeof RecipientsBody> }>(
    '/campaigns/:id/recipients',
    {
      config,
      schema: {
        summary: 'Add recipients to a draft campaign',
        description:
          'Up to 1,000 per call. A user is in a campaign once: one already in it, or repeated in the call, counts as a duplicate.',
        tags,
        security,
        params: CampaignParams,
        body: RecipientsBody,
        response: { 202: RecipientsAccepted, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const { state, added, duplicates } = await withDatabase(() =>
        store.addRecipients(id, request.body.recipients, { tenant: request.tenant }),
      );
      if (state === null) throw notFound(id);
      if (state !== 'draft') throw conflict(id, state, 'recipients can only be added to a draft');
      reply.code(202);
      return { added, duplicates };
    },
  );

  app.post<Params>(
    '/campaigns/:id/start',
    {
      config,
      schema: {
        summary: 'Start sending a campaign',
        description:
          'draft → sending: the worker enqueues one mail per recipient and sends them at NEWSLETTER_RATE_PER_SECOND. Starting a campaign that is sending again runs the fan-out again (it adds only what is missing).',
        tags,
        security,
        params: CampaignParams,
        response: { 202: CampaignAccepted, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const transition = await withDatabase(() => store.start(id, { tenant: request.tenant }));
      if (!transition.found) throw notFound(id);
      if (!transition.changed && transition.before !== 'sending') throw conflict(id, transition.before, 'only a draft can be started');
      await queues.enqueue('newsletter/fan-out', { campaignId: id }, { tenant: request.tenant });
      reply.code(202);
      return { campaignId: id, state: 'sending' as const };
    },
  );

  app.post<Params>(
    '/campaigns/:id/cancel',
    {
      config,
      schema: {
        summary: 'Cancel a campaign',
        description:
          'No mail of the campaign is sent after this (one that is being handed to the mail server at this instant may still go out). Cancelling a cancelled campaign is accepted again.',
        tags,
        security,
        params: CampaignParams,
        response: { 202: CampaignAccepted, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const transition = await withDatabase(() => store.cancel(id, { tenant: request.tenant }));
      if (!transition.found) throw notFound(id);
      if (!transition.changed && transition.before !== 'cancelled')
        throw conflict(id, transition.before, 'a finished campaign cannot be cancelled');
      if (transition.changed && transition.before === 'sending') {
        // The send jobs would skip anyway, but each would still take a slot of the queue's rate.
        await queues.ready();
        const queue = queues.getQueue('newsletter');
        const ids = transition.cancelledUserIds ?? [];
        for (let i = 0; i < ids.length; i += REMOVE_BATCH) {
          await Promise.all(
            ids
              .slice(i, i + REMOVE_BATCH)
              .map((userId) => queue.remove(scopedJobId(request.tenant, `newsletter:send:${id}.${userId}`)).catch(() => 0)),
          );
        }
      }
      // With maybe no send left to notice the end, this closes the campaign and posts its summary
      // (again on a repeated cancel: a first one answered 503 may not have got this far).
      await queues.enqueue('newsletter/finish', { campaignId: id }, { tenant: request.tenant });
      reply.code(202);
      return { campaignId: id, state: 'cancelled' as const };
    },
  );

  app.get<Params>(
    '/campaigns/:id',
    {
      config,
      schema: {
        summary: "Read a campaign's state and figures",
        tags,
        security,
        params: CampaignParams,
        response: { 200: CampaignStatus, ...errorResponses },
      },
    },
    async (request) => {
      const { id } = request.params;
      // The figures of another tenant's campaign are read for nothing: it answers 404 all the same.
      const [campaign, figures] = await withDatabase(() =>
        Promise.all([store.getCampaign(id, { tenant: request.tenant }), store.figures(id)]),
      );
      if (!campaign) throw notFound(id);
      return { campaignId: id, state: campaign.state, ...figures };
    },
  );
};
