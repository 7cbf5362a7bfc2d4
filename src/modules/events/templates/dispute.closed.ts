import type { EmailTemplate } from '../email-template.js';

/** dispute.closed: the file template; a tenant may override it (notification-templates API). */
export default {
  subject: `Dispute closed: {{disputeId}}`,
  text: `Hello {{recipientName}},

The payment dispute {{disputeId}} of {{amount}} is closed ({{reason}}).

{{brandName}}`,
  html: `<p>Hello {{recipientName}},</p>
<p>The payment dispute {{disputeId}} of {{amount}} is closed ({{reason}}).</p>`,
} satisfies EmailTemplate;
