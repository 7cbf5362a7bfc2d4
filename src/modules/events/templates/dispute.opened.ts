import type { EmailTemplate } from '../email-template.js';

/** dispute.opened: the file template; a tenant may override it (notification-templates API). */
export default {
  subject: `Dispute opened: {{amount}}`,
  text: `Hello {{recipientName}},

A payment dispute ({{disputeId}}) of {{amount}} was opened: {{reason}}. Respond before the deadline.

{{brandName}}`,
  html: `<p>Hello {{recipientName}},</p>
<p>A payment dispute ({{disputeId}}) of {{amount}} was opened: {{reason}}. Respond before the deadline.</p>`,
} satisfies EmailTemplate;
