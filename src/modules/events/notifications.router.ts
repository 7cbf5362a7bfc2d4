import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { authProblems } from '../../shared/http/schemas.js';
import { actorOf, authOf } from '../auth/authenticate.js';
import type { RouterDeps } from '../router-deps.js';
import { getNotificationSettings, getTemplate, listTemplates, previewTemplate, resetTemplate, saveTemplate, updateNotificationSettings } from './notifications.service.js';
import {
  eventTypeParams,
  notificationSettingsBody,
  notificationSettingsView,
  previewBody,
  renderedEmail,
  templateBody,
  templateList,
  templateView,
} from './notifications.types.js';

const tags = ['notifications'];

/** The tenant's email branding and its wording of each event's email. */
export const notificationsRouter: FastifyPluginAsyncZod<RouterDeps> = async (app, { db }) => {
  app.get(
    '/notification-settings',
    { schema: { tags, summary: "The tenant's email branding and locale", response: { 200: notificationSettingsView, ...authProblems } }, config: { permission: 'notifications:read' } },
    async (request) => getNotificationSettings(db, authOf(request)),
  );

  app.patch(
    '/notification-settings',
    {
      schema: {
        tags,
        summary: "Change the tenant's email branding and locale",
        description: 'Absent keeps a field, null clears it. locale (BCP 47) and timeZone (IANA) set how dates and money are written.',
        body: notificationSettingsBody,
        response: { 200: notificationSettingsView, ...authProblems },
      },
      config: { permission: 'notifications:write' },
    },
    async (request) => updateNotificationSettings(db, authOf(request), request.body, actorOf(request)),
  );

  app.get(
    '/notification-templates',
    {
      schema: { tags, summary: 'Every event\'s email template', description: 'The tenant\'s override where it has one, else the file template; with the variables each may use.', response: { 200: templateList, ...authProblems } },
      config: { permission: 'notifications:read' },
    },
    async (request) => listTemplates(db, authOf(request)),
  );

  app.get(
    '/notification-templates/:event',
    { schema: { tags, summary: "One event's email template", params: eventTypeParams, response: { 200: templateView, ...authProblems } }, config: { permission: 'notifications:read' } },
    async (request) => getTemplate(db, authOf(request), request.params.event),
  );

  app.put(
    '/notification-templates/:event',
    {
      schema: {
        tags,
        summary: "Override an event's email template",
        description: 'Checked at save: a {{variable}} the event does not have, or a stray brace, is a 400 naming the part.',
        params: eventTypeParams,
        body: templateBody,
        response: { 200: templateView, ...authProblems },
      },
      config: { permission: 'notifications:write' },
    },
    async (request) => saveTemplate(db, authOf(request), request.params.event, request.body, actorOf(request)),
  );

  app.delete(
    '/notification-templates/:event',
    {
      schema: { tags, summary: 'Go back to the file template', params: eventTypeParams, response: { 200: templateView, ...authProblems } },
      config: { permission: 'notifications:write' },
    },
    async (request) => resetTemplate(db, authOf(request), request.params.event, actorOf(request)),
  );

  app.post(
    '/notification-templates/:event/preview',
    {
      schema: {
        tags,
        summary: 'Render a template with sample data',
        description: 'The saved template, or the parts given in the body, rendered with example values in the tenant\'s branding. Nothing is saved or sent.',
        params: eventTypeParams,
        body: previewBody,
        response: { 200: renderedEmail, ...authProblems },
      },
      config: { permission: 'notifications:read' },
    },
    async (request) => previewTemplate(db, authOf(request), request.params.event, request.body),
  );
};
