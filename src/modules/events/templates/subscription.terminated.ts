import type { EmailTemplate } from '../email-template.js';

/** subscription.terminated: the file template; a tenant may override it (notification-templates API). */
export default {
  subject: `Your service has ended`,
  text: `Hello {{recipientName}},

Your service has been terminated: {{reason}}.

{{brandName}}`,
  html: `<p>Hello {{recipientName}},</p>
<p>Your service has been terminated: {{reason}}.</p>`,
} satisfies EmailTemplate;
