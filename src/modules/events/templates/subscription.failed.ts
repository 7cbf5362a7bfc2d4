import type { EmailTemplate } from '../email-template.js';

/** subscription.failed: the file template; a tenant may override it (notification-templates API). */
export default {
  subject: `We could not set up your service`,
  text: `Hello {{recipientName}},

We could not finish setting up your service ({{reason}}). Our team has been told and will be in touch.

{{brandName}}`,
  html: `<p>Hello {{recipientName}},</p>
<p>We could not finish setting up your service ({{reason}}). Our team has been told and will be in touch.</p>`,
} satisfies EmailTemplate;
