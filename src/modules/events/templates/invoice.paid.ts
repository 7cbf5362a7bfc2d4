import type { EmailTemplate } from '../email-template.js';

/** invoice.paid: the file template; a tenant may override it (notification-templates API). */
export default {
  subject: `Invoice {{number}} paid`,
  text: `Hello {{recipientName}},

Thank you: we received {{total}} for invoice {{number}}.

{{brandName}}`,
  html: `<p>Hello {{recipientName}},</p>
<p>Thank you: we received {{total}} for invoice {{number}}.</p>`,
} satisfies EmailTemplate;
