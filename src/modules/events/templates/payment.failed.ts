import type { EmailTemplate } from '../email-template.js';

/** payment.failed: the file template; a tenant may override it (notification-templates API). */
export default {
  subject: `Your payment of {{amount}} failed`,
  text: `Hello {{recipientName}},

Your payment of {{amount}} could not be taken ({{reason}}). Please check your payment method.

{{brandName}}`,
  html: `<p>Hello {{recipientName}},</p>
<p>Your payment of {{amount}} could not be taken ({{reason}}). Please check your payment method.</p>`,
} satisfies EmailTemplate;
