import type { EmailTemplate } from '../email-template.js';

/** certificate.renewed: the file template; a tenant may override it (notification-templates API). */
export default {
  subject: `Certificate renewed for {{names}}`,
  text: `Hello {{recipientName}},

The certificate for {{names}} was renewed; it is valid until {{notAfter}}.

{{brandName}}`,
  html: `<p>Hello {{recipientName}},</p>
<p>The certificate for {{names}} was renewed; it is valid until {{notAfter}}.</p>`,
} satisfies EmailTemplate;
