import type { EmailTemplate } from '../email-template.js';

/** mailbox.created: the file template; a tenant may override it (notification-templates API). */
export default {
  subject: `Your mailbox {{address}} is ready`,
  text: `Hello {{recipientName}},

Your mailbox {{address}} is ready to use.

{{brandName}}`,
  html: `<p>Hello {{recipientName}},</p>
<p>Your mailbox {{address}} is ready to use.</p>`,
} satisfies EmailTemplate;
