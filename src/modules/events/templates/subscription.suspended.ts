import type { EmailTemplate } from '../email-template.js';

/** subscription.suspended: the file template; a tenant may override it (notification-templates API). */
export default {
  subject: `Your service is suspended`,
  text: `Hello {{recipientName}},

Your service has been suspended: {{reason}}. Contact us to restore it.

{{brandName}}`,
  html: `<p>Hello {{recipientName}},</p>
<p>Your service has been suspended: {{reason}}. Contact us to restore it.</p>`,
} satisfies EmailTemplate;
