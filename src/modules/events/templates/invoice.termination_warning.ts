import type { EmailTemplate } from '../email-template.js';

/** invoice.termination_warning: the file template; a tenant may override it (notification-templates API). */
export default {
  subject: `Invoice {{number}} is unpaid: the service will be terminated on {{terminateAt}}`,
  text: `Hello {{recipientName}},

Invoice {{number}} of {{total}} was due on {{dueAt}} and is still unpaid, and the service is suspended.
If it is not paid by {{terminateAt}}, the service will be terminated and its data removed.

{{brandName}}`,
  html: `<p>Hello {{recipientName}},</p>
<p>Invoice {{number}} of {{total}} was due on {{dueAt}} and is still unpaid, and the service is suspended.</p>
<p><strong>If it is not paid by {{terminateAt}}, the service will be terminated and its data removed.</strong></p>`,
} satisfies EmailTemplate;
