import type { EmailTemplate } from '../email-template.js';

/** certificate.failed: the file template; a tenant may override it (notification-templates API). */
export default {
  subject: `Certificate failed for {{names}}`,
  text: `Hello {{recipientName}},

A certificate for {{names}} could not be issued or renewed: {{error}}.

The site keeps its current certificate (if any) or plain HTTP. Renewals are retried with a growing delay; an admin can retry at once from the certificate's page.

{{brandName}}`,
  html: `<p>Hello {{recipientName}},</p>
<p>A certificate for {{names}} could not be issued or renewed: {{error}}.</p>
<p>The site keeps its current certificate (if any) or plain HTTP. Renewals are retried with a growing delay; an admin can retry at once from the certificate's page.</p>`,
} satisfies EmailTemplate;
