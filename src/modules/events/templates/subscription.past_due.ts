import type { EmailTemplate } from '../email-template.js';

/** subscription.past_due: the file template; a tenant may override it (notification-templates API). */
export default {
  subject: `A payment for your service is overdue`,
  text: `Hello {{recipientName}},

A payment for your service is overdue ({{reason}}). Please settle it to avoid an interruption.

{{brandName}}`,
  html: `<p>Hello {{recipientName}},</p>
<p>A payment for your service is overdue ({{reason}}). Please settle it to avoid an interruption.</p>`,
} satisfies EmailTemplate;
