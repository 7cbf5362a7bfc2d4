import type { EmailTemplate } from '../email-template.js';

/** invoice.reminder: the file template; a tenant may override it (notification-templates API). */
export default {
  subject: `Reminder: invoice {{number}} is due on {{dueAt}}`,
  text: `Hello {{recipientName}},

A friendly reminder: invoice {{number}} of {{total}} is due on {{dueAt}}.

{{brandName}}`,
  html: `<p>Hello {{recipientName}},</p>
<p>A friendly reminder: invoice {{number}} of {{total}} is due on {{dueAt}}.</p>`,
} satisfies EmailTemplate;
