import type { EmailTemplate } from '../email-template.js';

/** webhook_endpoint.disabled: the file template; a tenant may override it (notification-templates API). */
export default {
  subject: `Webhook endpoint disabled: {{url}}`,
  text: `Hello {{recipientName}},

Deliveries to the webhook endpoint {{url}} (id {{endpointId}}) have failed since {{failingSince}}, so it has been disabled. The last error: {{error}}.

Fix the receiver, enable the endpoint again (PATCH /api/webhook-endpoints/{{endpointId}} with enabled: true) and redeliver what it missed from its delivery log.

{{brandName}}`,
  html: `<p>Hello {{recipientName}},</p>
<p>Deliveries to the webhook endpoint <b>{{url}}</b> (id {{endpointId}}) have failed since {{failingSince}}, so it has been disabled. The last error: {{error}}.</p>
<p>Fix the receiver, enable the endpoint again and redeliver what it missed from its delivery log.</p>`,
} satisfies EmailTemplate;
