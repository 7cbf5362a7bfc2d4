import type { EmailTemplate } from '../email-template.js';

/** subscription.recovered: the file template; a tenant may override it (notification-templates API). */
export default {
  subject: `Thank you: your account is up to date`,
  text: `Hello {{recipientName}},

We received your payment; your service continues as before.

{{brandName}}`,
  html: `<p>Hello {{recipientName}},</p>
<p>We received your payment; your service continues as before.</p>`,
} satisfies EmailTemplate;
