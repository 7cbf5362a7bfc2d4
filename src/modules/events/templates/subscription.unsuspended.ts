import type { EmailTemplate } from '../email-template.js';

/** subscription.unsuspended: the file template; a tenant may override it (notification-templates API). */
export default {
  subject: `Your service is restored`,
  text: `Hello {{recipientName}},

Your service is active again.

{{brandName}}`,
  html: `<p>Hello {{recipientName}},</p>
<p>Your service is active again.</p>`,
} satisfies EmailTemplate;
