import type { EmailTemplate } from '../email-template.js';

/** invoice.voided: the file template; a tenant may override it (notification-templates API). */
export default {
  subject: `Invoice {{number}} voided`,
  text: `Hello {{recipientName}},

Invoice {{number}} of {{total}} has been voided; nothing is owed on it.

{{brandName}}`,
  html: `<p>Hello {{recipientName}},</p>
<p>Invoice {{number}} of {{total}} has been voided; nothing is owed on it.</p>`,
} satisfies EmailTemplate;
