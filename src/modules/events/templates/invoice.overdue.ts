import type { EmailTemplate } from '../email-template.js';

/** invoice.overdue: the file template; a tenant may override it (notification-templates API). */
export default {
  subject: `Invoice {{number}} is overdue`,
  text: `Hello {{recipientName}},

Invoice {{number}} of {{total}} was due on {{dueAt}} and is still unpaid.
If it is not paid by {{suspendAt}}, the service will be suspended until it is.

{{brandName}}`,
  html: `<p>Hello {{recipientName}},</p>
<p>Invoice {{number}} of {{total}} was due on {{dueAt}} and is still unpaid.</p>
<p>If it is not paid by {{suspendAt}}, the service will be suspended until it is.</p>`,
} satisfies EmailTemplate;
