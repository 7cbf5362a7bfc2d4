import type { EmailTemplate } from '../email-template.js';

/** subscription.activated: the file template; a tenant may override it (notification-templates API). */
export default {
  subject: `Your service is live`,
  text: `Hello {{recipientName}},

Good news, {{recipientName}}: your service is set up and live.

{{brandName}}`,
  html: `<p>Hello {{recipientName}},</p>
<p>Good news, {{recipientName}}: your service is set up and live.</p>`,
} satisfies EmailTemplate;
