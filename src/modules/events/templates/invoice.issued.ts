import type { EmailTemplate } from '../email-template.js';

/** invoice.issued: the file template; a tenant may override it (notification-templates API). */
export default {
  subject: `Invoice {{number}}: {{total}}`,
  text: `Hello {{recipientName}},

A new invoice {{number}} of {{total}} is ready, due on {{dueAt}}.

{{brandName}}`,
  html: `<p>Hello {{recipientName}},</p>
<p>A new invoice {{number}} of {{total}} is ready, due on {{dueAt}}.</p>`,
} satisfies EmailTemplate;
