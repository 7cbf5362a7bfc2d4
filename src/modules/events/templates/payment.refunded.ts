import type { EmailTemplate } from '../email-template.js';

/** payment.refunded: the file template; a tenant may override it (notification-templates API). */
export default {
  subject: `Refund of {{amount}}`,
  text: `Hello {{recipientName}},

We refunded {{amount}} to your payment method.

{{brandName}}`,
  html: `<p>Hello {{recipientName}},</p>
<p>We refunded {{amount}} to your payment method.</p>`,
} satisfies EmailTemplate;
