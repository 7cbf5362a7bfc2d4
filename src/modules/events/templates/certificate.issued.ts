import type { EmailTemplate } from '../email-template.js';

/** certificate.issued: the file template; a tenant may override it (notification-templates API). */
export default {
  subject: `HTTPS is on for {{names}}`,
  text: `Hello {{recipientName}},

A certificate for {{names}} was issued; it is valid until {{notAfter}}.

{{brandName}}`,
  html: `<p>Hello {{recipientName}},</p>
<p>A certificate for {{names}} was issued; it is valid until {{notAfter}}.</p>`,
} satisfies EmailTemplate;
