import type { EmailTemplate } from '../email-template.js';

/** order.received: the file template; a tenant may override it (notification-templates API). */
export default {
  subject: `We received your order for {{domain}}`,
  text: `Hello {{recipientName}},

Thank you, {{recipientName}}. We received your order for {{domain}} ({{amount}}) and are setting it up now. We will write again when it is live.

{{brandName}}`,
  html: `<p>Hello {{recipientName}},</p>
<p>Thank you, {{recipientName}}. We received your order for {{domain}} ({{amount}}) and are setting it up now. We will write again when it is live.</p>`,
} satisfies EmailTemplate;
